//! What `cargo xtask dist` makes and its packaging test checks: the binary that is packaged
//! and the artifacts made from it (shared by `dist.rs` and `packaging.rs`, which depend on it
//! and not on each other).

use std::path::PathBuf;

/// The binary that is packaged, the one place it is chosen: what `cargo build --release`
/// builds for the tarball and the `.deb` (whose asset in `rectify/Cargo.toml` is
/// `target/release/<bin>`, so a binary of another name or package moves that line too).
pub struct Packaged {
    pub package: &'static str,
    pub bin: &'static str,
    pub features: &'static [&'static str],
}

pub const PACKAGED: Packaged = Packaged {
    package: "rectify",
    bin: "rectify",
    features: &[],
};

/// What `dist` made.
pub struct Artifacts {
    /// The binary as shipped (stripped), inside the tarball's staging directory.
    pub binary: PathBuf,
    pub tarball: PathBuf,
    pub deb: PathBuf,
    /// The name of the tarball's top directory.
    pub top: String,
}
