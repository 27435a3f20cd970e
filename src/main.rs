//! The `hookbus` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc's per-thread caches instead of glibc's arenas: engine CPU per
/// delivery fell by a fifth to a third in interleaved runs (docs/BENCHMARKS.md,
/// "mimalloc"), and its 2.x line a further 8–11 % ("mimalloc 2.x"). It is built to commit arena memory as it is used, not
/// eagerly (`.cargo/config.toml`: its compile-time default, because it
/// reserves its first arena before `main` runs, too early for an option set
/// here): a 1 M backlog peaks ~30 MiB lower at no measured CPU cost
/// (docs/RELIABILITY.md §3); `MIMALLOC_ARENA_EAGER_COMMIT=1` in the
/// environment restores eager commits. The library leaves the allocator to
/// its host.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = hookbus::cli::Cli::parse();
    actix_rt::System::new().block_on(hookbus::cli::main(cli))
}
