//! Who is logged in: the session the server gave at login, kept in IndexedDB so the app
//! starts logged in, even offline. The state holds it; the replica and the API use its token.

use rectify_shared::api::LoginResponse;
use rectify_shared::policy::Role;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub token: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The user's unit (school or department), if any.
    pub unit: Option<String>,
}

impl From<LoginResponse> for Session {
    fn from(login: LoginResponse) -> Session {
        Session {
            token: login.token,
            username: login.username.0,
            display_name: login.display_name,
            role: login.role,
            unit: login.unit.map(|u| u.as_str().to_owned()),
        }
    }
}
