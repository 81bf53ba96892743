pub mod chart;
pub mod evidence;
pub mod feedback;
pub mod header;
pub mod nav;
pub mod refused;
pub mod sync_status;
pub mod unit_picker;
