//! Pieces of pages. Those only the office's pages use are in the full build alone (the
//! `office` feature).

#[cfg(feature = "office")]
pub mod chart;
#[cfg(feature = "office")]
pub mod date_input;
pub mod evidence;
pub mod feedback;
pub mod header;
pub mod left_work;
pub mod nav;
pub mod refused;
#[cfg(feature = "office")]
pub mod report_text;
pub mod session_list;
pub mod sync_status;
#[cfg(feature = "office")]
pub mod unit_picker;
