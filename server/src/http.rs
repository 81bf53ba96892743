//! The HTTP router. [`app`] is a plain function of [`AppState`], so tests can drive it with
//! `oneshot` or bind it to port 0.

use crate::accounts;
use crate::error::ApiError;
use crate::storage::{Storage, UserRecord};
use crate::web;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use axum::http::request::Parts;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use rectify_shared::api::{LoginRequest, LoginResponse};
use std::path::PathBuf;
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub storage: Arc<dyn Storage>,
    /// The built client bundle (`index.html`, `assets/` …), if any.
    pub web_root: Option<PathBuf>,
}

pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/login", post(login))
        .route("/api/me", get(me))
        .route("/api/{*rest}", any(api_not_found))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state.clone());
    api.merge(web::router(state.web_root.as_deref()))
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
}

async fn login(
    State(state): State<AppState>,
    Json(request): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    accounts::login(state.storage.as_ref(), request)
        .await
        .map(Json)
}

async fn me(CurrentUser(user): CurrentUser) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "unit": user.unit,
    }))
}

async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such API endpoint".to_owned())
}

/// The authenticated caller: from `Authorization: Bearer …`, or `?token=…` for WebSockets
/// (browsers cannot set headers on them).
#[derive(Debug, Clone)]
pub struct CurrentUser(pub UserRecord);

impl<S> FromRequestParts<S> for CurrentUser
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
        accounts::authenticate(state.storage.as_ref(), &token)
            .await
            .map(CurrentUser)
    }
}

fn bearer_token(parts: &Parts) -> Option<String> {
    if let Some(value) = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return value.strip_prefix("Bearer ").map(|t| t.trim().to_owned());
    }
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token=").map(str::to_owned))
}
