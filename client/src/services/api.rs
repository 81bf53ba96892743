//! Calls to the server's JSON API.

use gloo::net::http::{Method, Request, RequestBuilder, Response};
use rectify_shared::api::{
    ErrorBody, ItemHistory, ItemSummary, LoginRequest, LoginResponse, SessionInfo, UnitInfo,
};
// What only the office's pages ask (the full build).
#[cfg(feature = "office")]
use rectify_shared::api::{
    AccountChange, AccountCreated, AccountInfo, AuditPage, CampaignInfo, ImportPreview, NewAccount,
    NewItem, PasswordReset, ReportText, SessionsRevoked,
};
use rectify_shared::evidence::{FileSettings, UPLOAD_OFFSET, UploadRequest, UploadStatus};
use wasm_bindgen::JsCast;
use web_sys::Blob;

/// Why a call failed, in the terms the UI needs.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiFailure {
    /// The server said no (wrong password, no permission…), with its message, and the same
    /// in Chinese when the server has it (else empty).
    Refused {
        status: u16,
        message: String,
        message_zh: String,
    },
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

/// How long a probe waits for the server: a link that swallows packets never answers.
const PROBE_TIMEOUT_MS: u32 = 5_000;
/// How long the request that starts or resumes an upload may take (a small JSON answer).
const START_UPLOAD_TIMEOUT_MS: u32 = 10_000;
/// How long an upload request may take: a piece is sized to take a few seconds
/// ([`rectify_shared::link::PIECE_TARGET_MS`]), so one that takes this long is stuck.
const UPLOAD_TIMEOUT_MS: u32 = 30_000;

/// Whether the server answers at all: `HEAD /healthz` (no login; a few hundred bytes with
/// the headers), given up after a few seconds. The cheap way to learn the link is back.
pub async fn server_answers() -> bool {
    let (request, _deadline) = with_deadline(
        Request::get("/healthz")
            .method(Method::HEAD)
            .cache(web_sys::RequestCache::NoStore),
        PROBE_TIMEOUT_MS,
    );
    matches!(request.send().await, Ok(response) if response.ok())
}

/// Whether the server still accepts the token (`401` when it does not).
pub async fn me(token: &str) -> Result<serde_json::Value, ApiFailure> {
    read_json(authorized(Request::get("/api/me"), token).send().await).await
}

/// Ends this session on the server (`POST /api/logout`); it also closes its sync
/// connection. Best effort: offline, the token simply stays valid until it expires.
pub async fn logout(token: &str) {
    let _ = authorized(Request::post("/api/logout"), token).send().await;
}

/// The file limits and the user's quota use.
pub async fn file_settings(token: &str) -> Result<FileSettings, ApiFailure> {
    read_json(authorized(Request::get("/api/files"), token).send().await).await
}

/// Starts or resumes an upload: how much of the file the server has.
pub async fn start_upload(token: &str, body: &UploadRequest) -> Result<UploadStatus, ApiFailure> {
    let (request, _deadline) = with_deadline(
        authorized(Request::post("/api/uploads"), token),
        START_UPLOAD_TIMEOUT_MS,
    );
    let request = request.json(body).map_err(|_| ApiFailure::Network)?;
    read_json(request.send().await).await
}

/// Sends the bytes of `chunk`, which start at `offset` of the file.
pub async fn send_chunk(
    token: &str,
    sha256: &str,
    offset: u64,
    chunk: Blob,
) -> Result<UploadStatus, ApiFailure> {
    let patch = authorized(Request::patch(&format!("/api/uploads/{sha256}")), token);
    let (request, _deadline) = with_deadline(patch, UPLOAD_TIMEOUT_MS);
    let request = request
        .header(UPLOAD_OFFSET, &offset.to_string())
        .header("Content-Type", "application/octet-stream")
        .body(chunk)
        .map_err(|_| ApiFailure::Network)?;
    read_json(request.send().await).await
}

/// A stored file (`thumbnail`: its small JPEG), as a blob typed by the server.
pub async fn file(token: &str, sha256: &str, thumbnail: bool) -> Result<Blob, ApiFailure> {
    let suffix = if thumbnail { "/thumbnail" } else { "" };
    download(token, &format!("/api/files/{sha256}{suffix}")).await
}

/// Every unit (school, kindergarten, department), for names and pickers.
pub async fn units(token: &str) -> Result<Vec<UnitInfo>, ApiFailure> {
    get_json(token, "/api/units").await
}

#[cfg(feature = "office")]
pub async fn save_unit(token: &str, unit: &UnitInfo) -> Result<UnitInfo, ApiFailure> {
    send_json(token, Request::post("/api/units"), unit).await
}

#[cfg(feature = "office")]
pub async fn accounts(token: &str) -> Result<Vec<AccountInfo>, ApiFailure> {
    get_json(token, "/api/accounts").await
}

#[cfg(feature = "office")]
pub async fn create_account(token: &str, body: &NewAccount) -> Result<AccountCreated, ApiFailure> {
    send_json(token, Request::post("/api/accounts"), body).await
}

#[cfg(feature = "office")]
pub async fn change_account(
    token: &str,
    username: &str,
    change: &AccountChange,
) -> Result<AccountInfo, ApiFailure> {
    let url = format!("/api/accounts/{}", encode(username));
    send_json(token, Request::patch(&url), change).await
}

#[cfg(feature = "office")]
pub async fn reset_password(token: &str, username: &str) -> Result<AccountCreated, ApiFailure> {
    let url = format!("/api/accounts/{}/password", encode(username));
    send_json(token, Request::post(&url), &PasswordReset::default()).await
}

#[cfg(feature = "office")]
pub async fn revoke_sessions(token: &str, username: &str) -> Result<SessionsRevoked, ApiFailure> {
    let url = format!("/api/accounts/{}/sessions/revoke", encode(username));
    send_json(token, Request::post(&url), &serde_json::json!({})).await
}

/// The caller's own active sessions (`account` `None`) or, for the office, an account's.
pub async fn sessions(token: &str, account: Option<&str>) -> Result<Vec<SessionInfo>, ApiFailure> {
    match account {
        None => get_json(token, "/api/me/sessions").await,
        Some(user) => get_json(token, &format!("/api/accounts/{}/sessions", encode(user))).await,
    }
}

/// Ends one session: one of the caller's own (`account` `None`), or the office ends one of
/// an account's.
pub async fn end_session(token: &str, account: Option<&str>, id: &str) -> Result<(), ApiFailure> {
    let url = match account {
        None => format!("/api/me/sessions/{}", encode(id)),
        Some(user) => format!("/api/accounts/{}/sessions/{}", encode(user), encode(id)),
    };
    let response = authorized(Request::delete(&url), token)
        .send()
        .await
        .map_err(|_| ApiFailure::Network)?;
    if response.ok() {
        Ok(())
    } else {
        Err(refusal(response).await)
    }
}

/// A page of the audit log; `query` is the filters as a query string (`action=…&from=…`).
#[cfg(feature = "office")]
pub async fn audit(token: &str, query: &str) -> Result<AuditPage, ApiFailure> {
    get_json(token, &format!("/api/audit?{query}")).await
}

#[cfg(feature = "office")]
pub async fn campaigns(token: &str) -> Result<Vec<CampaignInfo>, ApiFailure> {
    get_json(token, "/api/campaigns").await
}

/// Sends a report file to the importer; `dry_run` stores nothing.
#[cfg(feature = "office")]
pub async fn report_text(token: &str, campaign: &str) -> Result<ReportText, ApiFailure> {
    get_json(
        token,
        &format!("/api/campaigns/{}/report-text", encode(campaign)),
    )
    .await
}

#[cfg(feature = "office")]
pub async fn save_report_text(
    token: &str,
    campaign: &str,
    text: &ReportText,
) -> Result<ReportText, ApiFailure> {
    let url = format!("/api/campaigns/{}/report-text", encode(campaign));
    send_json(token, Request::put(&url), text).await
}

#[cfg(feature = "office")]
pub async fn import(token: &str, file: Blob, dry_run: bool) -> Result<ImportPreview, ApiFailure> {
    let url = format!("/api/import?dry_run={dry_run}");
    let request = authorized(Request::post(&url), token)
        .header("Content-Type", "application/octet-stream")
        .body(file)
        .map_err(|_| ApiFailure::Network)?;
    read_json(request.send().await).await
}

#[cfg(feature = "office")]
pub async fn add_item(
    token: &str,
    campaign: &str,
    item: &NewItem,
) -> Result<ItemSummary, ApiFailure> {
    let url = format!("/api/campaigns/{campaign}/items");
    send_json(token, Request::post(&url), item).await
}

pub async fn history(token: &str, item: &str) -> Result<ItemHistory, ApiFailure> {
    get_json(token, &format!("/api/items/{item}/history")).await
}

/// Any authorised GET whose answer is a file (a report, evidence), as a blob typed by the
/// server.
pub async fn download(token: &str, url: &str) -> Result<Blob, ApiFailure> {
    let response = authorized(Request::get(url), token)
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

async fn get_json<T: serde::de::DeserializeOwned>(token: &str, url: &str) -> Result<T, ApiFailure> {
    read_json(authorized(Request::get(url), token).send().await).await
}

#[cfg(feature = "office")]
async fn send_json<B: serde::Serialize, T: serde::de::DeserializeOwned>(
    token: &str,
    request: RequestBuilder,
    body: &B,
) -> Result<T, ApiFailure> {
    let request = authorized(request, token)
        .json(body)
        .map_err(|_| ApiFailure::Network)?;
    read_json(request.send().await).await
}

fn encode(segment: &str) -> String {
    String::from(js_sys::encode_uri_component(segment))
}

/// The request, aborted if it has no answer within `ms` (a request to a link that drops
/// packets would otherwise wait for the operating system to give up, many minutes later).
/// The timer runs as long as the returned guard lives: keep it until the answer is read.
fn with_deadline(
    request: RequestBuilder,
    ms: u32,
) -> (RequestBuilder, Option<gloo::timers::callback::Timeout>) {
    let Ok(controller) = web_sys::AbortController::new() else {
        return (request, None);
    };
    let request = request.abort_signal(Some(&controller.signal()));
    let timer = gloo::timers::callback::Timeout::new(ms, move || controller.abort());
    (request, Some(timer))
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
    let (message, message_zh) = response
        .json::<ErrorBody>()
        .await
        .map(|e| (e.message, e.message_zh.unwrap_or_default()))
        .unwrap_or_default();
    ApiFailure::Refused {
        status,
        message,
        message_zh,
    }
}
