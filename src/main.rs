//! The `callerdesk` binary: parse the command line and hand over to the library.

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = callerdesk::cli::args::Cli::parse();
    callerdesk::cli::run(cli).await
}
