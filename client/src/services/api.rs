//! Calls to the server's JSON API.

use gloo::net::http::{Request, RequestBuilder, Response};
use rectify_shared::api::{ErrorBody, ItemSummary, LoginRequest, LoginResponse};
use rectify_shared::evidence::{FileSettings, UPLOAD_OFFSET, UploadRequest, UploadStatus};
use wasm_bindgen::JsCast;
use web_sys::Blob;

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
    read_json(authorized(Request::get("/api/items"), token).send().await).await
}

/// Whether the server still accepts the token (`401` when it does not).
pub async fn me(token: &str) -> Result<serde_json::Value, ApiFailure> {
    read_json(authorized(Request::get("/api/me"), token).send().await).await
}

/// The file limits and the user's quota use.
pub async fn file_settings(token: &str) -> Result<FileSettings, ApiFailure> {
    read_json(authorized(Request::get("/api/files"), token).send().await).await
}

/// Starts or resumes an upload: how much of the file the server has.
pub async fn start_upload(token: &str, body: &UploadRequest) -> Result<UploadStatus, ApiFailure> {
    let request = authorized(Request::post("/api/uploads"), token)
        .json(body)
        .map_err(|_| ApiFailure::Network)?;
    read_json(request.send().await).await
}

/// Sends the bytes of `chunk`, which start at `offset` of the file.
pub async fn send_chunk(
    token: &str,
    sha256: &str,
    offset: u64,
    chunk: Blob,
) -> Result<UploadStatus, ApiFailure> {
    let request = authorized(Request::patch(&format!("/api/uploads/{sha256}")), token)
        .header(UPLOAD_OFFSET, &offset.to_string())
        .header("Content-Type", "application/octet-stream")
        .body(chunk)
        .map_err(|_| ApiFailure::Network)?;
    read_json(request.send().await).await
}

/// A stored file (`thumbnail`: its small JPEG), as a blob typed by the server.
pub async fn file(token: &str, sha256: &str, thumbnail: bool) -> Result<Blob, ApiFailure> {
    let suffix = if thumbnail { "/thumbnail" } else { "" };
    let response = authorized(Request::get(&format!("/api/files/{sha256}{suffix}")), token)
        .send()
        .await
        .map_err(|_| ApiFailure::Network)?;
    if !response.ok() {
        return Err(refusal(response).await);
    }
    let promise = web_sys::Response::from(response)
        .blob()
        .map_err(|_| ApiFailure::Network)?;
    wasm_bindgen_futures::JsFuture::from(promise)
        .await
        .ok()
        .and_then(|blob| blob.dyn_into().ok())
        .ok_or(ApiFailure::Network)
}

fn authorized(request: RequestBuilder, token: &str) -> RequestBuilder {
    request.header("Authorization", &format!("Bearer {token}"))
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
    Err(refusal(response).await)
}

/// Why the server said no: its status and its own message.
async fn refusal(response: Response) -> ApiFailure {
    let status = response.status();
    let message = response
        .json::<ErrorBody>()
        .await
        .map(|e| e.message)
        .unwrap_or_default();
    ApiFailure::Refused { status, message }
}
