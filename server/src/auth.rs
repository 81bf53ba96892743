//! Authentication over HTTP: `POST /api/login` (throttled), `GET /api/me`, the caller's
//! own sessions (`GET /api/me/sessions`, `DELETE /api/me/sessions/{id}`), and the
//! [`CurrentUser`] extractor every other endpoint starts with. Passwords, tokens and the
//! throttle itself are in [`crate::accounts`].

use crate::accounts;
use crate::clock::now_ms;
use crate::error::{ApiError, Said};
use crate::json::JsonBody;
use crate::state::AppState;
use crate::storage::{SessionRecord, UserRecord};
use axum::Json;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use rectify_shared::api::{LoginRequest, LoginResponse, SessionInfo};
use rectify_shared::ids::{SessionId, Username};
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
    let device = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(accounts::device_label)
        .unwrap_or_default();
    let result = accounts::login(storage, request, &device).await;
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
    CurrentSession {
        user, token_hash, ..
    }: CurrentSession,
) -> Result<axum::http::StatusCode, ApiError> {
    end_session(&state, &token_hash, None).await?;
    tracing::info!(user = %user.username, "logged out");
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// `GET /api/me/sessions`: the caller's active sessions, the most recently used first, the
/// one making this request marked `current`.
pub async fn my_sessions(
    State(state): State<AppState>,
    session: CurrentSession,
) -> Result<Json<Vec<SessionInfo>>, ApiError> {
    let list = state
        .storage
        .user_sessions(&session.user.username, now_ms())
        .await?;
    Ok(Json(
        list.iter()
            .map(|s| session_info(s, Some(&session.id)))
            .collect(),
    ))
}

/// `DELETE /api/me/sessions/{id}`: ends one of the caller's own sessions (ending the current
/// one is logging out). Someone else's session answers 404, as an unknown id does.
pub async fn end_my_session(
    State(state): State<AppState>,
    caller: CurrentSession,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    let session = session_of(&state, &caller.user.username, &id).await?;
    end_session(&state, &session.token_hash, None).await?;
    tracing::info!(user = %caller.user.username, session = %session.id, "session ended");
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// The active session `id` of `username`, or 404 (unknown, someone else's, already ended).
pub async fn session_of(
    state: &AppState,
    username: &Username,
    id: &str,
) -> Result<SessionRecord, ApiError> {
    state
        .storage
        .session_by_id(&SessionId::new(id))
        .await?
        .filter(|s| &s.username == username && !s.revoked && s.expires_at_ms >= now_ms())
        .ok_or_else(|| {
            ApiError::NotFound(Said::new(
                "这个登录已结束或不存在",
                format!(
                    "there is no active session '{id}' of '{username}' (the sessions are listed by \
                     GET /api/me/sessions)"
                ),
            ))
        })
}

/// Ends the session of `token_hash` (logging out, or ending it from the devices list):
/// revoked in storage (with its audit entry, when the office ends it, in the same
/// transaction), then its sync connections closed at once, on every server (the account's
/// other sessions keep theirs).
pub async fn end_session(
    state: &AppState,
    token_hash: &str,
    audit: Option<crate::storage::Write>,
) -> Result<(), ApiError> {
    let mut batch = vec![crate::storage::Write::EndSession {
        token_hash: token_hash.to_owned(),
    }];
    batch.extend(audit);
    state.storage.write(batch).await?;
    state.sync.close_session(token_hash).await;
    Ok(())
}

/// What the API shows of a session: never its token's hash.
pub fn session_info(session: &SessionRecord, current: Option<&SessionId>) -> SessionInfo {
    SessionInfo {
        id: session.id.clone(),
        device: session.device.clone(),
        created_at_ms: session.created_at_ms,
        last_seen_ms: session.last_seen_ms.max(session.created_at_ms),
        current: current == Some(&session.id),
    }
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
    /// The session's public id ([`crate::storage::SessionRecord::id`]).
    pub id: SessionId,
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
            ApiError::Unauthorized(Said::new(
                "请先登录",
                "log in first: no bearer token was sent",
            ))
        })?;
        let found = accounts::authenticate(state.storage.as_ref(), &token).await?;
        Ok(CurrentSession {
            user: found.user,
            token_hash: found.session.token_hash,
            id: found.session.id,
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

/// The token of an `Authorization: Bearer TOKEN` header, if there is one (the sessions' and
/// `/metrics`'s one reading of it).
pub fn bearer_header(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The request's bearer token: the `Authorization` header; on `/sync` also `?token=`
/// (browsers cannot set headers on a WebSocket). Anywhere else a token in the query is
/// ignored: URLs end up in logs, histories and `Referer` headers.
fn bearer_token(parts: &Parts) -> Option<String> {
    // A header that is not text counts as none (as it always has: then `?token=` on /sync).
    let readable = |v: &axum::http::HeaderValue| v.to_str().is_ok();
    if parts.headers.get(AUTHORIZATION).is_some_and(readable) {
        return bearer_header(&parts.headers).map(str::to_owned);
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
