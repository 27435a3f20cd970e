//! The `hookbus` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = hookbus::cli::Cli::parse();
    actix_rt::System::new().block_on(hookbus::cli::main(cli))
}
