//! Calls to the server's JSON API.

use gloo::net::http::{Request, Response};
use rectify_shared::api::{ErrorBody, ItemSummary, LoginRequest, LoginResponse};

/// Why a call failed, in the terms the UI needs.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiFailure {
    /// The server said no (wrong password, no permission…), with its message.
    Refused { status: u16, message: String },
    /// No answer: offline, DNS, server down.
    Network,
}

pub async fn login(username: String, password: String) -> Result<LoginResponse, ApiFailure> {
    let body = LoginRequest { username, password };
    let request = Request::post("/api/login")
        .json(&body)
        .map_err(|_| ApiFailure::Network)?;
    read_json(request.send().await).await
}

/// The items the logged-in user may read.
pub async fn items(token: &str) -> Result<Vec<ItemSummary>, ApiFailure> {
    let response = Request::get("/api/items")
        .header("Authorization", &format!("Bearer {token}"))
        .send()
        .await;
    read_json(response).await
}

/// Whether the server still accepts the token (`401` when it does not).
pub async fn me(token: &str) -> Result<serde_json::Value, ApiFailure> {
    let response = Request::get("/api/me")
        .header("Authorization", &format!("Bearer {token}"))
        .send()
        .await;
    read_json(response).await
}

/// The body of a successful response, or why there is none: the server's own message when
/// it refused, `Network` when no usable answer came back.
async fn read_json<T: serde::de::DeserializeOwned>(
    response: Result<Response, gloo::net::Error>,
) -> Result<T, ApiFailure> {
    let response = response.map_err(|_| ApiFailure::Network)?;
    if response.ok() {
        return response.json().await.map_err(|_| ApiFailure::Network);
    }
    let status = response.status();
    let message = response
        .json::<ErrorBody>()
        .await
        .map(|e| e.message)
        .unwrap_or_default();
    Err(ApiFailure::Refused { status, message })
}
