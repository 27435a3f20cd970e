//! What the one shared engine needs to know about the run on *this* thread:
//! its deadline, the CPU share it holds, where `print` goes, whose script it is.
//!
//! The engine is immutable and shared, so its `on_progress` and `on_print`
//! callbacks cannot carry per-run state; a run sets a thread-local context
//! for its duration instead (a run never leaves its thread). Without a
//! context (compile checks, tests) the callbacks do nothing special.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::cpu::CpuShare;

/// How often (in Rhai operations) a run looks at the clock: cheap enough to
/// cost nothing measurable, often enough to react within microseconds.
pub const CHECK_EVERY_OPS: u64 = 256;
/// How long a run may hold a CPU share while another endpoint waits for one.
pub const SLICE: Duration = Duration::from_millis(1);
/// Lines and bytes of `print`/`debug` kept for a dry run's answer.
pub const MAX_LOG_LINES: usize = 100;
/// See [`MAX_LOG_LINES`].
pub const MAX_LOG_BYTES: usize = 16 * 1024;
/// `print` lines per endpoint per second that reach the server log (burst
/// as large); the rest are counted and reported as dropped.
pub const LOG_LINES_PER_SEC: u32 = 20;

/// The marker a run's `on_progress` returns when its time is up.
pub const DEADLINE_MARKER: &str = "hookbus:max_run_time";

/// Lines a dry run captured, with what did not fit.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Logs {
    /// The lines, in order.
    pub lines: Vec<String>,
    /// Lines left out (over [`MAX_LOG_LINES`] or [`MAX_LOG_BYTES`]).
    pub dropped: usize,
    bytes: usize,
}

impl Logs {
    fn push(&mut self, line: String) {
        if self.lines.len() >= MAX_LOG_LINES || self.bytes + line.len() > MAX_LOG_BYTES {
            self.dropped += 1;
            return;
        }
        self.bytes += line.len();
        self.lines.push(line);
    }
}

/// One run's context.
pub struct RunContext {
    /// Whose script (for log lines and their rate limit).
    pub endpoint: String,
    /// The longest time the run may spend running (`transforms.max_run_time`).
    pub max_run_time: Duration,
    /// The CPU share the run holds, if it came through the pool.
    pub share: Option<Arc<CpuShare>>,
    /// Captured output (dry runs) instead of the log.
    pub capture: Option<Logs>,
    started: Instant,
    slice_started: Instant,
    /// Time spent waiting for a share after yielding it (not run time).
    waited: Duration,
}

impl RunContext {
    /// A context for a run of `endpoint`'s script.
    pub fn new(endpoint: &str, max_run_time: Duration) -> Self {
        let now = Instant::now();
        Self {
            endpoint: endpoint.to_string(),
            max_run_time,
            share: None,
            capture: None,
            started: now,
            slice_started: now,
            waited: Duration::ZERO,
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<RunContext>> = const { RefCell::new(None) };
}

/// Run `f` with `ctx` as this thread's run context; gives the context back.
/// `f` must not panic (script runs catch their own panics).
pub fn with<T>(ctx: RunContext, f: impl FnOnce() -> T) -> (T, RunContext) {
    let previous = CURRENT.replace(Some(ctx));
    let out = f();
    let ctx = CURRENT.replace(previous);
    let ctx = ctx.unwrap_or_else(|| RunContext::new("", Duration::ZERO));
    (out, ctx)
}

/// The current run's `max_run_time` (for its error message).
pub fn max_run_time() -> Duration {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .map(|c| c.max_run_time)
            .unwrap_or_default()
    })
}

/// The engine's `on_progress`: ends the run at its deadline; hands the CPU
/// share to a waiting endpoint once a slice is used up.
pub fn progress(ops: u64) -> Option<rhai::Dynamic> {
    if ops % CHECK_EVERY_OPS != 0 {
        return None;
    }
    CURRENT.with(|c| {
        let mut guard = c.borrow_mut();
        let ctx = guard.as_mut()?;
        let now = Instant::now();
        if now.duration_since(ctx.started) > ctx.max_run_time + ctx.waited {
            return Some(DEADLINE_MARKER.into());
        }
        if now.duration_since(ctx.slice_started) >= SLICE {
            if let Some(share) = &ctx.share {
                if share.others_waiting() {
                    share.yield_now();
                    let back = Instant::now();
                    ctx.waited += back.duration_since(now);
                    ctx.slice_started = back;
                }
            }
        }
        None
    })
}

/// The engine's `on_print` / `on_debug`.
pub fn print(line: &str) {
    let endpoint = CURRENT.with(|c| {
        let mut guard = c.borrow_mut();
        match guard.as_mut() {
            Some(ctx) => match &mut ctx.capture {
                Some(logs) => {
                    logs.push(line.to_string());
                    None
                }
                None => Some(ctx.endpoint.clone()),
            },
            None => Some(String::new()),
        }
    });
    let Some(endpoint) = endpoint else { return };
    match log_limiter().admit(&endpoint, Instant::now()) {
        Admit::Log { dropped: 0 } => {
            tracing::info!(target: "hookbus::script", endpoint = %endpoint, "{line}")
        }
        Admit::Log { dropped } => tracing::info!(
            target: "hookbus::script", endpoint = %endpoint, dropped,
            "{line} ({dropped} earlier lines of this endpoint's scripts dropped: over {LOG_LINES_PER_SEC}/s)"
        ),
        Admit::Drop => {}
    }
}

enum Admit {
    Log { dropped: u64 },
    Drop,
}

/// A token bucket per endpoint: a `print` flood costs one endpoint its log
/// lines, never the server's disk.
#[derive(Default)]
struct LogLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
    dropped: u64,
}

impl LogLimiter {
    fn admit(&self, endpoint: &str, now: Instant) -> Admit {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Admit::Drop;
        };
        let rate = f64::from(LOG_LINES_PER_SEC);
        let b = buckets.entry(endpoint.to_string()).or_insert(Bucket {
            tokens: rate,
            at: now,
            dropped: 0,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(rate);
        b.at = now;
        if b.tokens < 1.0 {
            b.dropped += 1;
            return Admit::Drop;
        }
        b.tokens -= 1.0;
        Admit::Log {
            dropped: std::mem::take(&mut b.dropped),
        }
    }
}

fn log_limiter() -> &'static LogLimiter {
    static LIMITER: std::sync::OnceLock<LogLimiter> = std::sync::OnceLock::new();
    LIMITER.get_or_init(LogLimiter::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_limiter_admits_a_burst_then_the_rate_and_counts_the_rest() {
        let l = LogLimiter::default();
        let t0 = Instant::now();
        let admitted = (0..100)
            .filter(|_| matches!(l.admit("a", t0), Admit::Log { .. }))
            .count();
        assert_eq!(admitted, LOG_LINES_PER_SEC as usize);
        // Another endpoint is not affected.
        assert!(matches!(l.admit("b", t0), Admit::Log { dropped: 0 }));
        // A second later the bucket has refilled and reports what it dropped.
        match l.admit("a", t0 + Duration::from_secs(1)) {
            Admit::Log { dropped } => assert_eq!(dropped, 80),
            Admit::Drop => panic!("refilled bucket dropped a line"),
        }
    }

    #[test]
    fn captured_logs_are_bounded_by_lines_and_bytes() {
        let mut logs = Logs::default();
        for i in 0..(MAX_LOG_LINES + 5) {
            logs.push(format!("line {i}"));
        }
        assert_eq!((logs.lines.len(), logs.dropped), (MAX_LOG_LINES, 5));
        let mut big = Logs::default();
        big.push("x".repeat(MAX_LOG_BYTES - 1));
        big.push("yy".into());
        assert_eq!((big.lines.len(), big.dropped), (1, 1));
    }
}
