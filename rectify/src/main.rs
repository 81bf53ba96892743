//! The `rectify` binary: [`rectify_server::cli`] with the web client built in (see
//! `build.rs`), so `rectify serve` needs no other file.

use rectify_server::web::EmbeddedFile;
use std::process::ExitCode;

/// mimalloc rather than the system allocator: the server allocates and frees many short-lived
/// buffers on several threads, which glibc's arenas keep resident (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The files of `target/web` when this binary was built (empty without a bundle).
static WEB: &[EmbeddedFile] = include!(concat!(env!("OUT_DIR"), "/web.rs"));

fn main() -> ExitCode {
    rectify_server::cli::main(WEB)
}
