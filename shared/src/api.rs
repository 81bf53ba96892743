//! Bodies of the JSON HTTP API, shared by the server (which produces them) and the client.
//!
//! These are a public interface: add fields, do not rename or remove them.

use crate::ids::{UnitId, Username};
use crate::policy::Role;
use serde::{Deserialize, Serialize};

/// `POST /api/login` request body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// `POST /api/login` response body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    pub username: Username,
    pub display_name: String,
    pub role: Role,
    pub unit: Option<UnitId>,
    /// When the token stops working unless refreshed, in Unix milliseconds.
    pub expires_at_ms: i64,
}

/// Every error response of the API has this body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable, machine-readable code, e.g. `bad_credentials`.
    pub code: String,
    /// What went wrong and what to do about it, in plain words.
    pub message: String,
}

/// One entry of `GET /api/items`: an item the caller may read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemSummary {
    /// The item document's id (bs58check).
    pub id: String,
    /// The automerge URL, `automerge:<id>`.
    pub url: String,
    pub campaign: String,
    /// `area.problem[.sub]`
    pub key: String,
    pub title: String,
    pub status: crate::status::PublicStatus,
    /// The report's wording of the status.
    pub status_wording: String,
    pub units: Vec<UnitId>,
    pub department: Option<UnitId>,
    /// `YYYY-MM-DD`
    pub deadline: Option<String>,
    /// The deadline has passed and the item is still open.
    pub overdue: bool,
}
