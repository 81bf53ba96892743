//! The HTTP router. [`app`] is a plain function of [`AppState`], so tests can drive it with
//! `oneshot` or bind it to port 0. The handlers live beside their resources; only
//! `GET /metrics`, `GET /healthz`, the API's 404 and the `/sync` upgrade (which hands the
//! socket to [`sync_ws::connection`]) are here.

use crate::auth::CurrentSession;
use crate::error::{ApiError, Said};
use crate::state::AppState;
use crate::{auth, evidence, items, office, sync_ws, web};
use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::header::{CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::{any, get, patch, post};
use rectify_shared::sync::wire::MAX_FRAME_BYTES;
use tower_http::set_header::SetResponseHeaderLayer;

/// The whole router: the API, `/sync`, `/metrics` and the built client.
pub fn app(state: AppState) -> Router {
    let web = web::router(&state.web);
    let api = Router::new()
        .route("/api/login", post(auth::login))
        .route("/api/me", get(auth::me))
        .route("/api/logout", post(auth::logout))
        .route("/api/me/sessions", get(auth::my_sessions))
        .route(
            "/api/me/sessions/{id}",
            axum::routing::delete(auth::end_my_session),
        )
        .route("/api/items", get(items::items))
        .route("/sync", get(sync_handler))
        .route("/api/files", get(evidence::settings))
        .route("/api/files/{sha256}", get(evidence::file))
        .route("/api/files/{sha256}/thumbnail", get(evidence::thumbnail_of))
        .route("/api/uploads", post(evidence::start_upload))
        .route("/api/uploads/{sha256}", patch(evidence::append))
        .merge(office::routes())
        .route("/api/{*rest}", any(api_not_found))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        // Outermost on the API: a refusal made before the body was read still reaches a
        // caller that is sending one.
        .layer(axum::middleware::from_fn(crate::drain::unread_bodies))
        .with_state(state);
    api.merge(web).layer(SetResponseHeaderLayer::overriding(
        X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ))
}

/// `GET /metrics`: with `--metrics-token`, for the caller that sends it as a bearer token;
/// without, for callers on this machine only (loopback, after `--trusted-proxy`: a request a
/// local reverse proxy forwards from outside is not local). A router without connection
/// information (some tests) cannot tell and answers.
async fn metrics(
    State(state): State<AppState>,
    peer: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    match &state.metrics_token {
        Some(token) => {
            let sent = auth::bearer_header(&headers).unwrap_or_default();
            // Compared as digests: how long a comparison takes says nothing about the token.
            use sha2::Digest as _;
            if sha2::Sha256::digest(sent.as_bytes()) != sha2::Sha256::digest(token.as_bytes()) {
                return Err(ApiError::Unauthorized(Said::new(
                    "/metrics 需要监控令牌（--metrics-token），以 `Authorization: Bearer TOKEN` 发送",
                    "/metrics needs the metrics token (--metrics-token) as \
                     `Authorization: Bearer TOKEN`",
                )));
            }
        }
        None => {
            let local = peer.is_none_or(|axum::Extension(axum::extract::ConnectInfo(peer))| {
                crate::proxy::client_address(peer.ip(), &headers, &state.trusted_proxies)
                    .is_loopback()
            });
            if !local {
                return Err(ApiError::Forbidden(Said::new(
                    "/metrics 只回答本机：要从别处采集请设置 --metrics-token",
                    "/metrics answers only this machine: set --metrics-token to scrape it from \
                     elsewhere",
                )));
            }
        }
    }
    Ok(metrics_text(&state).into_response())
}

fn metrics_text(state: &AppState) -> impl IntoResponse {
    // Only when the sync core is free: a scrape never waits for syncing.
    if let Some(loaded) = state.sync.loaded_documents_if_free() {
        state
            .metrics
            .documents_loaded
            .set(i64::try_from(loaded).unwrap_or(i64::MAX));
    }
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// `GET /sync`: upgrades an authenticated request to the sync WebSocket, within the limits.
pub async fn sync_handler(
    State(state): State<AppState>,
    CurrentSession {
        user, token_hash, ..
    }: CurrentSession,
    upgrade: WebSocketUpgrade,
) -> Response {
    let slot = match state.sync.reserve(&user.username) {
        Ok(slot) => slot,
        Err(err) => {
            tracing::warn!(user = %user.username, error = %err, "sync connection refused");
            return err.into_response();
        }
    };
    upgrade
        .max_message_size(MAX_FRAME_BYTES)
        // axum's default 128 KiB read buffer is allocated (and zero-filled) for every
        // connection: 10,000 idle schools would hold 1.3 GB for nothing. Frames are small; the
        // buffer grows for a large one and a message is assembled apart from it anyway.
        .read_buffer_size(sync_ws::READ_BUFFER_BYTES)
        // Each frame is written and flushed as it is sent; no batching buffer is needed.
        .write_buffer_size(0)
        .on_upgrade(move |socket| sync_ws::connection(state.sync, user, token_hash, socket, slot))
}

async fn api_not_found() -> ApiError {
    ApiError::NotFound(Said::new("没有这个接口", "no such API endpoint"))
}
