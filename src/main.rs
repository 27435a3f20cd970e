//! The `hookbus` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc's per-thread caches instead of glibc's arenas: engine CPU per
/// delivery fell by a fifth to a third in interleaved runs (docs/BENCHMARKS.md,
/// "mimalloc"), for ~70 MiB more resident memory with a 1 M backlog
/// draining; `MIMALLOC_ARENA_EAGER_COMMIT=0` in the environment gives most
/// of that back at no measured CPU cost (docs/RELIABILITY.md §3; set from
/// `main` it comes too late: mimalloc reserves its first arena before
/// `main` runs). The library leaves the allocator to its host.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = hookbus::cli::Cli::parse();
    actix_rt::System::new().block_on(hookbus::cli::main(cli))
}
