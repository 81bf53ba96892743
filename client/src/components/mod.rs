pub mod evidence;
pub mod header;
pub mod refused;
pub mod sync_status;
