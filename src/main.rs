//! The `bluelight` binary: parses the command line and hands over to the library.

use clap::Parser;

/// mimalloc rather than the system's allocator: every contact allocates its decision's reasons
/// and its messages, and mimalloc's small allocations cost a fraction of glibc's (see the
/// README's performance section).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Built for x86-64-v3 (see .cargo/config.toml): say so plainly rather than fault later on an
    // older processor.
    #[cfg(all(target_arch = "x86_64", target_feature = "avx2"))]
    if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("bmi2")) {
        eprintln!(
            "bluelight: this build needs an x86-64-v3 processor (AVX2, BMI2); \
             rebuild with RUSTFLAGS=\"-C target-cpu=x86-64\" for this one"
        );
        return std::process::ExitCode::FAILURE;
    }
    bluelight::cli::run(bluelight::cli::Cli::parse())
}
