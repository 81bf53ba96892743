//! Office file formats: reading `.docx` reports, writing the report as `.docx` and the
//! ledger as `.xlsx`. Kept on the server: these need zip and XML libraries the browser
//! client should not carry.

pub mod docx;
pub mod xlsx;
