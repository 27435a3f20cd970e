//! Bench plumbing: a counting sink, a black hole, CPU clocks, and the real
//! `hookbus serve` binary as a child process.

use std::collections::HashMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// What the sink saw.
#[derive(Default)]
pub struct SinkState {
    pub count: AtomicU64,
    /// The status every request gets (200 unless started otherwise).
    pub status: std::sync::atomic::AtomicU16,
    /// Record arrival times by `webhook-id` (latency runs only).
    pub record: AtomicBool,
    pub arrivals: Mutex<HashMap<String, Instant>>,
    /// How long each answer waits, in ms (0: at once; a slow receiver otherwise).
    pub delay_ms: AtomicU64,
}

/// A loopback receiver that answers 200 at once, on its own thread.
pub struct Sink {
    pub url: String,
    pub state: Arc<SinkState>,
}

impl Sink {
    pub fn start() -> Self {
        Self::answering(200)
    }

    /// A sink that answers `status` to everything (400: a refusing receiver).
    pub fn answering(status: u16) -> Self {
        let state = Arc::new(SinkState::default());
        state.status.store(status, Ordering::SeqCst);
        let st = state.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let srv = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::from(st.clone()))
                        .default_service(web::to(receive))
                })
                .workers(1)
                .backlog(4096)
                .max_connections(100_000)
                .disable_signals()
                .bind("127.0.0.1:0")
                .unwrap();
                tx.send(srv.addrs()[0]).unwrap();
                srv.run().await.unwrap();
            })
        });
        let addr = rx.recv().unwrap();
        Self {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    pub fn reset(&self, record: bool) {
        self.state.count.store(0, Ordering::SeqCst);
        self.state.record.store(record, Ordering::SeqCst);
        self.state.arrivals.lock().unwrap().clear();
    }

    pub fn count(&self) -> u64 {
        self.state.count.load(Ordering::SeqCst)
    }
}

async fn receive(req: HttpRequest, _body: web::Bytes, st: web::Data<SinkState>) -> HttpResponse {
    if st.record.load(Ordering::Relaxed) {
        if let Some(id) = req
            .headers()
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
        {
            st.arrivals
                .lock()
                .unwrap()
                .insert(id.to_string(), Instant::now());
        }
    }
    let delay = st.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        actix_rt::time::sleep(Duration::from_millis(delay)).await;
    }
    st.count.fetch_add(1, Ordering::Relaxed);
    let status = st.status.load(Ordering::Relaxed);
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default()).finish()
}

/// Accepts connections and never answers (a black-holed receiver).
pub fn black_hole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    url
}

/// CPU time (user + system) of the calling thread.
pub fn thread_cpu() -> Duration {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Read and write system calls (`/proc/<pid>/io` syscr + syscw: every
/// read/recv/write/send-family call, all threads) and context switches
/// (voluntary + involuntary, summed over the live threads) of process `pid` so far.
pub fn process_counters(pid: u32) -> (u64, u64) {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let field = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let syscalls = field(&io, "syscr:") + field(&io, "syscw:");
    let mut switches = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let st = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            switches +=
                field(&st, "voluntary_ctxt_switches:") + field(&st, "nonvoluntary_ctxt_switches:");
        }
    }
    (syscalls, switches)
}

/// CPU time (user + system) of process `pid` so far, from `/proc`.
pub fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14th and 15th overall.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    // SAFETY: sysconf has no preconditions.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ticks = f.iter().sum::<u64>();
    Duration::from_micros(ticks * 1_000_000 / tck)
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `hookbus serve` on `port` with data in `dir` and `extra` TOML appended.
///
/// With `HOOKBUS_BENCH_PERF_DIR` set, each server runs under
/// `perf record -g` (cpu-clock; other sampling options in
/// `HOOKBUS_BENCH_PERF_ARGS`), written to `<dir>/<label>.data`.
pub struct Server {
    pub child: Child,
    pub base: String,
    perf: Option<Child>,
}

impl Server {
    pub fn start(label: &str, dir: &Path, extra: &str) -> Self {
        Self::start_with_env(label, dir, extra, &[])
    }

    /// [`Server::start`] with `env` set for the process (cluster settings).
    pub fn start_with_env(label: &str, dir: &Path, extra: &str, env: &[(&str, String)]) -> Self {
        let port = free_port();
        let config = dir.join("hookbus.toml");
        // A/B knobs for runs by hand: delivery threads and the log filter.
        let workers = std::env::var("HOOKBUS_BENCH_WORKERS").unwrap_or_else(|_| "2".into());
        let log = std::env::var("HOOKBUS_BENCH_RUST_LOG").unwrap_or_else(|_| "error".into());
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"{}\"\ndurability = \"fsync\"\n\
                 [delivery]\nallow_networks = [\"127.0.0.0/8\"]\nworkers = {workers}\n{extra}",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_hookbus"))
            .args(["serve", "-c"])
            .arg(&config)
            .env("RUST_LOG", log)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "hookbus did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let perf = std::env::var("HOOKBUS_BENCH_PERF_DIR").ok().map(|out| {
            // E.g. `-F 499 --call-graph dwarf` where frame pointers are missing.
            let args =
                std::env::var("HOOKBUS_BENCH_PERF_ARGS").unwrap_or_else(|_| "-F 999 -g".into());
            Command::new("perf")
                .args(["record", "-q", "-e", "cpu-clock"])
                .args(args.split_whitespace())
                .arg("-p")
                .arg(child.id().to_string())
                .arg("-o")
                .arg(Path::new(&out).join(format!("{label}.data")))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        });
        Self { child, base, perf }
    }

    pub fn cpu(&self) -> Duration {
        process_cpu(self.child.id())
    }

    /// See [`process_counters`].
    pub fn counters(&self) -> (u64, u64) {
        process_counters(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(perf) = &mut self.perf {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(perf.id() as i32, libc::SIGINT) };
            let _ = perf.wait();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percentile `p` (0..=1) of sorted `xs`.
pub fn pct(xs: &[Duration], p: f64) -> Duration {
    xs[((xs.len() - 1) as f64 * p).round() as usize]
}
