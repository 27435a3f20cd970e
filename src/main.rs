//! The `hookbus` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    cap_malloc_arenas();
    let cli = hookbus::cli::Cli::parse();
    actix_rt::System::new().block_on(hookbus::cli::main(cli))
}

/// glibc gives each thread that allocates under contention its own malloc
/// arena (up to 8 per core), and freed memory stays in whichever arena it
/// came from: with actix workers, the committer and RocksDB's threads, a
/// drained backlog left ~40 MiB more resident (1 M backlog: 216 → 175 MiB
/// peak with two arenas, docs/RELIABILITY.md). Set before any thread
/// starts. `MALLOC_ARENA_MAX` in the environment still wins.
fn cap_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; no thread runs yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
