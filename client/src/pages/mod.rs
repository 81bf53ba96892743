pub mod home;
pub mod item;
pub mod login;
