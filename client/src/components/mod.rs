//! Reusable pieces of the UI, one component per file.

pub mod header;
