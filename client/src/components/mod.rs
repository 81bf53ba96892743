pub mod chart;
pub mod evidence;
pub mod header;
pub mod nav;
pub mod refused;
pub mod sync_status;
