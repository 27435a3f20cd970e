//! The real `hookbus serve` binary as a child process, for crash and
//! resource tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::eventually_async;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_hookbus");

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server's config file in `dir`: listen on `port`, data under `dir/data`,
/// loopback receivers allowed, plus `extra` TOML (e.g. `[[endpoints]]`).
pub struct ServerConfig {
    /// The config file.
    pub path: PathBuf,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The data directory.
    pub data: PathBuf,
}

impl ServerConfig {
    pub fn write(dir: &Path, extra: &str) -> Self {
        let port = free_port();
        let data = dir.join("data");
        let path = dir.join("hookbus.toml");
        std::fs::write(
            &path,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"{}\"\n\
                 [delivery]\nallow_networks = [\"127.0.0.0/8\"]\n{extra}",
                data.display()
            ),
        )
        .unwrap();
        Self {
            path,
            base: format!("http://127.0.0.1:{port}"),
            data,
        }
    }

    /// `hookbus serve -c <config>`, logging warnings to the test's stderr.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "-c"])
            .arg(&self.path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        cmd
    }

    pub fn spawn(&self) -> Child {
        self.command().spawn().unwrap()
    }

    /// [`Self::spawn`] with the limit of `resource` (`libc::RLIMIT_*`) set to
    /// `soft`/`hard`, and SIGXFSZ ignored (so a file-size limit fails writes
    /// with EFBIG, as a full disk would, instead of killing the process).
    pub fn spawn_with_rlimit(
        &self,
        resource: libc::__rlimit_resource_t,
        soft: u64,
        hard: u64,
    ) -> Child {
        use std::os::unix::process::CommandExt;
        let mut cmd = self.command();
        // SAFETY: only async-signal-safe libc calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(resource, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                Ok(())
            });
        }
        cmd.spawn().unwrap()
    }
}

/// A server process killed when dropped, so a failing assertion does not
/// leave it running (it would hold the test's stderr open, and the test
/// harness would wait for it).
pub struct Running(pub Child);

impl Running {
    /// Its process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait until `base/readyz` answers 2xx (20 s at most).
pub async fn wait_healthy(base: &str) {
    let client = awc::Client::new();
    let up = eventually_async(Duration::from_secs(20), || async {
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map(|r| r.status().is_success())
            .unwrap_or(false)
    })
    .await;
    assert!(up, "server at {base} did not become ready");
}

/// Resident set size of `pid` in bytes (Linux `/proc`).
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// An `[[endpoints]]` block that keeps retrying every `delay` (fixed, no
/// jitter, 100 attempts) and whose breaker never opens: for tests that care
/// only whether deliveries eventually arrive.
pub fn patient_endpoint(name: &str, url: &str, delay: &str) -> String {
    format!(
        r#"
[[endpoints]]
name = "{name}"
url = "{url}"
retry = {{ strategy = "fixed", initial_delay = "{delay}", max_attempts = 100, jitter = "none" }}
circuit_breaker = {{ failure_threshold = 1000 }}
"#
    )
}
