//! A database must be closed before the process begins to exit.
//!
//! RocksDB keeps process-wide static objects (the periodic-task timer, the
//! background thread pools); `exit` tears them down, and a database closing
//! after that aborts the process ("pthread lock: Invalid argument"). A
//! store's last handle can drop on a thread nobody joins: an HTTP worker of
//! an actix server winding down after `main` returned, or after a test's
//! runtime ended. So each database counts itself open until RocksDB has
//! closed it, and the process waits at exit, up to [`EXIT_WAIT`], until the
//! count is zero. A database still open then (a handle leaked for good) is
//! reported on stderr and left to the old race.

use std::ops::Deref;
use std::sync::{Condvar, Mutex, Once};
use std::time::{Duration, Instant};

use rocksdb::DB;

/// Longest the process waits at exit for databases to finish closing.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// How many databases are open (opened and not yet fully closed).
static OPEN: Mutex<usize> = Mutex::new(0);
/// Signalled when a database has finished closing.
static CLOSED: Condvar = Condvar::new();
/// The exit handler is registered once per process.
static AT_EXIT: Once = Once::new();

/// An open RocksDB database that counts as open until it has closed.
pub(crate) struct Db {
    // Fields drop in order: the database closes, then the count drops.
    db: DB,
    _open: Counted,
}

impl Db {
    /// Count `db` as open, and make sure the process waits for it at exit.
    pub(crate) fn new(db: DB) -> Self {
        *OPEN.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        // Registered after RocksDB's first open has built its statics, so
        // it runs before their teardown (exit runs handlers in reverse).
        AT_EXIT.call_once(|| {
            // SAFETY: registers a plain `extern "C" fn` with no arguments.
            unsafe {
                libc::atexit(wait_for_open_databases);
            }
        });
        Self { db, _open: Counted }
    }
}

impl Deref for Db {
    type Target = DB;

    fn deref(&self) -> &DB {
        &self.db
    }
}

/// Drops the open count (after the database beside it has closed).
struct Counted;

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        *open = open.saturating_sub(1);
        CLOSED.notify_all();
    }
}

/// Wait until every database is closed or `limit` has passed; how many are still open.
fn wait_until_closed(limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
    while *open > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        open = CLOSED
            .wait_timeout(open, left)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
    *open
}

/// The `atexit` handler: a database that is closing finishes first.
extern "C" fn wait_for_open_databases() {
    let open = wait_until_closed(EXIT_WAIT);
    if open > 0 {
        eprintln!(
            "hookbus: {open} RocksDB database(s) still open at exit after {EXIT_WAIT:?}; \
             shut the engine down (Hookbus::shutdown) and drop its handles before the process exits"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHILD: &str = "HOOKBUS_LIFETIME_CHILD";

    /// Run in a child process by the test below: the last handle of a
    /// database drops on a thread 300 ms after the test (and so `main`)
    /// has returned.
    #[test]
    fn exit_child() {
        let Ok(dir) = std::env::var(CHILD) else {
            return;
        };
        let db = Db::new(DB::open_default(dir).unwrap());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(db);
            println!("closed before the process ended");
        });
    }

    #[test]
    fn the_process_waits_at_exit_for_a_database_closing_on_another_thread() {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "store::lifetime::tests::exit_child",
                "--nocapture",
            ])
            .env(CHILD, dir.path().join("db"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        // Without the wait, exit would end the thread before the drop.
        assert!(
            stdout.contains("closed before the process ended"),
            "{stdout}\n{stderr}"
        );
    }
}
