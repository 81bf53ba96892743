//! The HTTP router. [`app`] is a plain function of [`AppState`], so tests can drive it with
//! `oneshot` or bind it to port 0. The handlers live beside their resources; only
//! `GET /metrics`, `GET /healthz` and the API's 404 are here.

use crate::error::ApiError;
use crate::state::AppState;
use crate::{auth, evidence, items, office, sync_ws, web};
use axum::Router;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use axum::response::IntoResponse;
use axum::routing::{any, get, patch, post};
use tower_http::set_header::SetResponseHeaderLayer;

/// The whole router: the API, `/sync`, `/metrics` and the built client.
pub fn app(state: AppState) -> Router {
    let web = web::router(state.web_root.as_deref());
    let api = Router::new()
        .route("/api/login", post(auth::login))
        .route("/api/me", get(auth::me))
        .route("/api/items", get(items::items))
        .route("/sync", get(sync_ws::sync_handler))
        .route("/api/files", get(evidence::settings))
        .route("/api/files/{sha256}", get(evidence::file))
        .route("/api/files/{sha256}/thumbnail", get(evidence::thumbnail_of))
        .route("/api/uploads", post(evidence::start_upload))
        .route("/api/uploads/{sha256}", patch(evidence::append))
        .merge(office::routes())
        .route("/api/{*rest}", any(api_not_found))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state(state);
    api.merge(web).layer(SetResponseHeaderLayer::overriding(
        X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let loaded = state.sync.loaded_documents().await;
    state
        .metrics
        .documents_loaded
        .set(i64::try_from(loaded).unwrap_or(i64::MAX));
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such API endpoint".to_owned())
}
