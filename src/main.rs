//! The `bluelight` binary: parses the command line and hands over to the library.

use clap::Parser;

/// mimalloc rather than the system's allocator: every contact allocates its decision's reasons
/// and its messages, and mimalloc's small allocations cost a fraction of glibc's (see the
/// README's performance section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    bluelight::cli::run(bluelight::cli::Cli::parse())
}
