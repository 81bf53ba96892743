//! The `rectify` binary: see [`rectify_server::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    rectify_server::cli::main()
}
