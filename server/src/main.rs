//! The `rectify` binary: see [`rectify_server::cli`].

use std::process::ExitCode;

/// mimalloc rather than the system allocator: the server allocates and frees many short-lived
/// buffers on several threads, which glibc's arenas keep resident (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    rectify_server::cli::main()
}
