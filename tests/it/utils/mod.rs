//! Test helpers: a scriptable loopback receiver, an engine on a temp dir, polling,
//! and the real binary as a child process (`server`).

mod api;
pub mod backend;
mod faulty;
mod nats;
mod server;
pub use api::Api;
pub use faulty::*;
pub use nats::*;
pub use server::*;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hookbus::endpoint::retry::{Jitter, RetryPolicy};
use hookbus::endpoint::spec::EndpointSpec;
use hookbus::{Config, Hookbus};

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Whether one of its Standard Webhooks signatures is `secret`'s.
    pub fn signed_by(&self, secret: &str) -> bool {
        hookbus::sign::verify(
            hookbus::sign::Scheme::Standard,
            secret,
            self.header("webhook-id").unwrap(),
            self.header("webhook-timestamp").unwrap().parse().unwrap(),
            &self.body,
            self.header("webhook-signature").unwrap(),
        )
        .unwrap()
    }
}

/// A reply the receiver gives.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: vec![],
            delay: Duration::ZERO,
        }
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    default: Option<Reply>,
    received: Vec<Received>,
}

/// Tests that saturate both cores (Schemathesis, the crash campaign) and
/// tests that measure tail latency take turns: on a 2-core machine a p99 of
/// 120 samples measured beside a fuzzer is the fuzzer's, not the engine's.
pub static MACHINE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A loopback HTTP receiver whose answers can be scripted and changed mid-test.
#[derive(Clone)]
pub struct TestReceiver {
    state: Arc<Mutex<State>>,
    pub url: String,
}

impl TestReceiver {
    /// Start on 127.0.0.1:0 answering `status` to everything.
    pub fn start(status: u16) -> Self {
        Self::start_with(Reply::status(status))
    }

    pub fn start_with(default: Reply) -> Self {
        Self::start_on("127.0.0.1", default)
    }

    /// Start on `host:0` (another loopback address, e.g. 127.0.0.2).
    pub fn start_on(host: &str, default: Reply) -> Self {
        Self::try_start_at(&format!("{host}:0"), default).unwrap()
    }

    /// Start on exactly `addr` (e.g. the README tour's 127.0.0.1:9000); `None` if it is taken.
    pub fn try_start_at(addr: &str, default: Reply) -> Option<Self> {
        let listener = std::net::TcpListener::bind(addr).ok()?;
        let state = Arc::new(Mutex::new(State {
            default: Some(default),
            ..Default::default()
        }));
        let st = state.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        // Its own thread and system, so a test's own runtime never starves it.
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let srv = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(st.clone()))
                        .app_data(web::PayloadConfig::new(64 << 20))
                        .default_service(web::to(handle))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .unwrap();
                tx.send(srv.addrs()[0]).unwrap();
                srv.run().await.unwrap();
            })
        });
        let addr = rx.recv().unwrap();
        Some(Self {
            state,
            url: format!("http://{addr}/hook"),
        })
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        let host_port = self
            .url
            .trim_start_matches("http://")
            .trim_end_matches("/hook");
        host_port
            .parse()
            .expect("the receiver URL is http://<addr>/hook")
    }

    /// Answer the next requests with these replies, then fall back to the default.
    pub fn script(&self, replies: Vec<Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    pub fn set_default(&self, reply: Reply) {
        self.state.lock().unwrap().default = Some(reply);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn count(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    /// Wait until at least `n` requests arrived, or panic after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let got = eventually(timeout, || self.count() >= n).await;
        assert!(
            got,
            "expected {n} requests within {timeout:?}, got {}",
            self.count()
        );
        self.received()
    }
}

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    st: web::Data<Arc<Mutex<State>>>,
) -> HttpResponse {
    let reply = {
        let mut s = st.lock().unwrap();
        let reply = s.script.pop_front().or_else(|| s.default.clone()).unwrap();
        s.received.push(Received {
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body: body.to_vec(),
            at: Instant::now(),
            status: reply.status,
        });
        reply
    };
    if !reply.delay.is_zero() {
        actix_rt::time::sleep(reply.delay).await;
    }
    let mut resp =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(reply.status).unwrap());
    for (k, v) in reply.headers {
        resp.insert_header((k, v));
    }
    resp.body(format!("reply {}", reply.status))
}

/// Poll `cond` every 10 ms until it holds or `timeout` passes.
pub async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Fast retries for tests: fixed 50 ms, no jitter.
pub fn quick_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        strategy: hookbus::endpoint::retry::Strategy::Fixed,
        max_attempts,
        initial_delay: "50ms".parse().unwrap(),
        jitter: Jitter::None,
        ..Default::default()
    }
}

/// An endpoint spec with quick retries.
pub fn endpoint(name: &str, url: &str, events: &[&str]) -> EndpointSpec {
    let mut s = EndpointSpec::new(name, url, events);
    s.retry = quick_retry(5);
    s
}

/// A config on a fresh temp dir (kept alive by the returned guard).
pub fn test_config() -> (Config, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::default();
    cfg.storage.path = dir.path().join("data");
    cfg.delivery.workers = 2;
    // Test receivers live on loopback, which the SSRF guard refuses by default.
    cfg.delivery.allow_networks = vec!["127.0.0.0/8".into()];
    backend::apply(&mut cfg);
    (cfg, dir)
}

/// The `loc` of every entry in a problem's `errors[]`, in order.
pub fn error_locs(problem: &serde_json::Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["loc"].as_str().unwrap().to_string())
        .collect()
}

/// Start an engine with `endpoints` on a temp dir.
pub async fn start_hookbus(endpoints: Vec<EndpointSpec>) -> (Hookbus, tempfile::TempDir) {
    let (mut cfg, dir) = test_config();
    cfg.endpoints = endpoints;
    (Hookbus::start(cfg).await.unwrap(), dir)
}

/// Serve the API of `hub` on 127.0.0.1:0; returns the base URL.
/// An engine without endpoints and a client for its API.
pub async fn start_with_api() -> (Hookbus, tempfile::TempDir, Api) {
    let (hub, dir) = start_hookbus(vec![]).await;
    let api = Api::new(serve_api(&hub));
    (hub, dir, api)
}

pub fn serve_api(hub: &Hookbus) -> String {
    let h = hub.clone();
    let srv = HttpServer::new(move || App::new().configure(hookbus::api::configure(h.clone())))
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
    let addr = srv.addrs()[0];
    actix_rt::spawn(srv.run());
    format!("http://{addr}")
}

/// Endpoint id by name.
pub async fn endpoint_id(hub: &Hookbus, name: &str) -> String {
    hub.endpoints()
        .await
        .unwrap()
        .iter()
        .find(|e| e.spec.name == name)
        .unwrap()
        .id
        .clone()
}

/// Poll an async condition every 50 ms until it holds or `timeout` passes.
pub async fn eventually_async<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The test binary's one global recorder (a recorder can be installed only once per process).
pub fn recorder() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| hookbus::telemetry::recorder::install().unwrap())
        .clone()
}

/// Wait up to `secs` for delivery `id` to reach the dead-letter queue, and return its entry.
pub async fn wait_dead_letter(
    hub: &Hookbus,
    id: &str,
    secs: u64,
) -> hookbus::store::records::DeadLetter {
    let found = eventually(Duration::from_secs(secs), || {
        hub.store().dead_letter(id).unwrap().is_some()
    })
    .await;
    assert!(found, "delivery {id} was not dead-lettered in time");
    hub.store().dead_letter(id).unwrap().unwrap()
}

/// Whether `cmd` is on the PATH (optional tools: chromium, python3).
pub fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

/// Debian's Chromium, if installed (browser checks skip without it).
pub fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| which(c))
}

/// Load `url` in headless Chromium with `extra` flags (`--dump-dom`,
/// `--screenshot=…`); its stdout. Blocking: call from `spawn_blocking`.
pub fn headless(chromium: &str, url: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--hide-scrollbars",
            "--window-size=1280,1800",
            "--virtual-time-budget=8000",
        ])
        .args(extra)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}
