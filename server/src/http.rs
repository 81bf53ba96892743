//! The HTTP router. [`app`] is a plain function of [`AppState`], so tests can drive it with
//! `oneshot` or bind it to port 0.

use crate::accounts;
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::evidence::{self, Files, FilesSettings};
use crate::metrics::Metrics;
use crate::storage::{ItemRecord, Storage, UserRecord};
use crate::sync_ws::{self, SyncHub, SyncSettings};
use crate::{maintenance, office, web};
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::routing::{any, get, patch, post};
use axum::{Json, Router};
use rectify_shared::api::{ItemSummary, LoginRequest, LoginResponse};
use rectify_shared::date::Date;
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::policy::{Actor, can_read_item};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub storage: Arc<dyn Storage>,
    /// The built client bundle (`index.html`, `assets/` …), if any.
    pub web_root: Option<PathBuf>,
    /// The sync server behind `GET /sync`.
    pub sync: Arc<SyncHub>,
    /// Failed logins per account.
    pub login_throttle: Arc<accounts::LoginThrottle>,
    /// Failed logins per client address.
    pub address_throttle: Arc<accounts::LoginThrottle>,
    pub metrics: Arc<Metrics>,
    /// Evidence files: the blob store, staged uploads, limits.
    pub files: Arc<Files>,
}

/// Everything `rectify serve` can tune.
#[derive(Debug, Clone, Default)]
pub struct ServerSettings {
    pub sync: SyncSettings,
    pub files: FilesSettings,
}

impl AppState {
    /// The state with the default settings; evidence files go under `data_dir`.
    pub async fn new(
        storage: Arc<dyn Storage>,
        web_root: Option<PathBuf>,
        data_dir: &Path,
    ) -> anyhow::Result<AppState> {
        Self::with_settings(storage, web_root, data_dir, ServerSettings::default()).await
    }

    /// The state, and the background housekeeping (eviction, compaction) that lives as long
    /// as its sync hub.
    pub async fn with_settings(
        storage: Arc<dyn Storage>,
        web_root: Option<PathBuf>,
        data_dir: &Path,
        settings: ServerSettings,
    ) -> anyhow::Result<AppState> {
        let metrics = Arc::new(Metrics::new());
        let sync =
            Arc::new(SyncHub::open(storage.as_ref(), settings.sync, Arc::clone(&metrics)).await?);
        let files = Arc::new(Files::open(data_dir, settings.files)?);
        maintenance::spawn(
            &sync,
            Arc::clone(&storage),
            Arc::clone(&metrics),
            Arc::clone(&files),
        );
        Ok(AppState {
            storage,
            web_root,
            sync,
            login_throttle: Arc::new(accounts::LoginThrottle::per_account()),
            address_throttle: Arc::new(accounts::LoginThrottle::per_address()),
            metrics,
            files,
        })
    }
}

pub fn app(state: AppState) -> Router {
    let web = web::router(state.web_root.as_deref());
    let api = Router::new()
        .route("/api/login", post(login))
        .route("/api/me", get(me))
        .route("/api/items", get(items))
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

/// `POST /api/login`, throttled per account and per client address (when the server knows
/// it: `rectify serve` does; a test router without connect info does not).
async fn login(
    State(state): State<AppState>,
    address: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    Json(request): Json<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let username = request.username.clone();
    let address = address.map(|axum::Extension(ConnectInfo(a))| a.ip().to_string());
    let now = now_ms();
    let throttled = state.login_throttle.check(&username, now).and_then(|()| {
        address
            .as_deref()
            .map_or(Ok(()), |a| state.address_throttle.check(a, now))
    });
    if let Err(err) = throttled {
        state.metrics.logins_throttled.inc();
        return Err(err);
    }
    match accounts::login(state.storage.as_ref(), request).await {
        Ok(response) => {
            // Only the account's count: one good login must not clear an address's guesses.
            state.login_throttle.succeeded(&username);
            Ok(Json(response))
        }
        Err(err @ ApiError::Unauthorized(_)) => {
            state.metrics.logins_failed.inc();
            state.login_throttle.failed(&username, now);
            if let Some(address) = &address {
                state.address_throttle.failed(address, now);
            }
            Err(err)
        }
        Err(err) => Err(err),
    }
}

async fn me(CurrentUser(user): CurrentUser) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "unit": user.unit,
    }))
}

/// The items the caller may read, in report order.
async fn items(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<ItemSummary>>, ApiError> {
    let actor = Actor {
        role: user.role,
        unit: user.unit.clone(),
    };
    let today = Date::from_unix_millis(now_ms());
    let mut out = Vec::new();
    for campaign in state.storage.campaigns().await? {
        let mut records = state.storage.items(&campaign.id).await?;
        records.sort_by_key(|r| {
            r.key
                .split('.')
                .map(|n| n.parse::<u32>().unwrap_or(0))
                .collect::<Vec<_>>()
        });
        for record in records {
            if !can_read_item(&actor, &record.units, record.department.as_deref()) {
                continue;
            }
            out.push(item_summary(record, &campaign.id, today));
        }
    }
    Ok(Json(out))
}

/// The list entry of an item, from its index row. `today` decides whether it is overdue.
pub fn item_summary(record: ItemRecord, campaign: &DocumentId, today: Date) -> ItemSummary {
    let overdue = !record.status.is_done()
        && record
            .deadline
            .as_deref()
            .and_then(|d| d.parse::<Date>().ok())
            .is_some_and(|d| d < today);
    ItemSummary {
        id: record.id.to_string(),
        url: record.id.url(),
        campaign: campaign.to_string(),
        key: record.key,
        title: record.title,
        status: record.status,
        status_wording: record.status.wording().to_owned(),
        units: record.units.into_iter().map(UnitId::new).collect(),
        department: record.department.map(UnitId::new),
        deadline: record.deadline,
        overdue,
    }
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
