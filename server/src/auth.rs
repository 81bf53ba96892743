//! Authentication over HTTP: `POST /api/login` (throttled), `GET /api/me`, and the
//! [`CurrentUser`] extractor every other endpoint starts with. Passwords, tokens and the
//! throttle itself are in [`crate::accounts`].

use crate::accounts;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::json::JsonBody;
use crate::state::AppState;
use crate::storage::UserRecord;
use axum::Json;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use rectify_shared::api::{LoginRequest, LoginResponse};
use std::net::SocketAddr;

/// `POST /api/login`, throttled per account and per client address (when the server knows
/// it: `rectify serve` does; a test router without connect info does not). The client's
/// address is the connection's, or what a trusted proxy says it is
/// ([`crate::proxy::client_address`]).
///
/// Each attempt is counted before the (slow) password check and given back unless it was a
/// wrong guess, so guesses sent in parallel meet the limit too. The counts are in storage,
/// shared by every server on the database; when storage cannot count, the login is refused
/// with 503 (try again), never let through uncounted.
pub async fn login(
    State(state): State<AppState>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let username = request.username.clone();
    let address = peer.map(|axum::Extension(ConnectInfo(peer))| {
        crate::proxy::client_address(peer.ip(), &headers, &state.trusted_proxies).to_string()
    });
    let now = now_ms();
    let storage = state.storage.as_ref();
    if let Err(err) = state.login_throttle.attempt(storage, &username, now).await {
        state.metrics.logins_throttled.inc();
        return Err(err);
    }
    if let Some(address) = &address
        && let Err(err) = state.address_throttle.attempt(storage, address, now).await
    {
        state.login_throttle.refund(storage, &username).await;
        state.metrics.logins_throttled.inc();
        return Err(err);
    }
    let result = accounts::login(storage, request).await;
    match &result {
        Ok(_) => {
            // The account's count starts over; the address's attempt is given back, but one
            // good login must not clear an address's guesses.
            state.login_throttle.succeeded(storage, &username).await;
        }
        Err(ApiError::Unauthorized(_)) => {
            state.metrics.logins_failed.inc();
            return result.map(Json);
        }
        // Not a wrong guess (a disabled account, the server busy): nothing counts.
        Err(_) => state.login_throttle.refund(storage, &username).await,
    }
    if let Some(address) = &address {
        state.address_throttle.refund(storage, address).await;
    }
    result.map(Json)
}

/// `GET /api/me`: the account the token belongs to.
pub async fn me(CurrentUser(user): CurrentUser) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "unit": user.unit,
    }))
}

/// `POST /api/logout`: ends the caller's session (this token only; the account's other
/// devices stay logged in) and closes the sync connections that used it.
pub async fn logout(
    State(state): State<AppState>,
    CurrentSession { user, token_hash }: CurrentSession,
) -> Result<axum::http::StatusCode, ApiError> {
    state.storage.revoke_session(&token_hash).await?;
    state.sync.close_session(&token_hash).await;
    tracing::info!(user = %user.username, "logged out");
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The authenticated caller: from `Authorization: Bearer …`, or `?token=…` on `/sync` only
/// (browsers cannot set headers on a WebSocket).
#[derive(Debug, Clone)]
pub struct CurrentUser(pub UserRecord);

/// The authenticated caller and its session (the SHA-256 of its token, as stored).
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub user: UserRecord,
    pub token_hash: String,
}

impl<S> FromRequestParts<S> for CurrentSession
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = AppState::from_ref(state);
        let token = bearer_token(parts).ok_or_else(|| {
            ApiError::Unauthorized("log in first: no bearer token was sent".to_owned())
        })?;
        let user = accounts::authenticate(state.storage.as_ref(), &token).await?;
        Ok(CurrentSession {
            user,
            token_hash: accounts::token_hash(&token),
        })
    }
}

impl<S> FromRequestParts<S> for CurrentUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let session = CurrentSession::from_request_parts(parts, state).await?;
        Ok(CurrentUser(session.user))
    }
}

/// The request's bearer token: the `Authorization` header; on `/sync` also `?token=`
/// (browsers cannot set headers on a WebSocket). Anywhere else a token in the query is
/// ignored: URLs end up in logs, histories and `Referer` headers.
fn bearer_token(parts: &Parts) -> Option<String> {
    if let Some(value) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return value.strip_prefix("Bearer ").map(|t| t.trim().to_owned());
    }
    if parts.uri.path() != "/sync" {
        return None;
    }
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token=").map(str::to_owned))
}
