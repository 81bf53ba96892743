//! One file per page. Those only accounts that oversee open are in the full build alone
//! (the `office` feature; `services/bundle.rs`).

#[cfg(feature = "office")]
pub mod accounts;
#[cfg(feature = "office")]
pub mod audit;
#[cfg(feature = "office")]
pub mod dashboard;
pub mod devices;
pub mod history;
pub mod home;
pub mod item;
pub mod login;
#[cfg(feature = "office")]
pub mod new_item;
#[cfg(feature = "office")]
pub mod reports;
#[cfg(feature = "office")]
pub mod review;
#[cfg(feature = "office")]
pub mod supervise;
