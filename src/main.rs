//! The `bluelight` binary: parses the command line and hands over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    bluelight::cli::run(bluelight::cli::Cli::parse())
}
