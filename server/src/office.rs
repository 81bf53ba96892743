//! The district office's HTTP API (issue #7, "office view"): units, accounts, campaigns and
//! their reports, importing a report from the browser, adding an item by hand, and an item's
//! history. `docs/office-api.md` describes each endpoint.
//!
//! Who may call what is decided in one place, [`require`]; an item's history follows the
//! item policy instead ([`policy::can_read_item`]), and answers 404 to those who may not read
//! the item, exactly as for an unknown id. Every refusal is an [`ApiError`].

use crate::accounts::{self, now_ms};
use crate::campaigns::{self, LedgerFormat, LoadedCampaign, ReportFormat};
use crate::error::ApiError;
use crate::evidence::content_disposition;
use crate::http::{AppState, CurrentUser, item_summary};
use crate::storage::{CampaignRecord, StorageError, UnitRecord, UserRecord};
use axum::body::Body;
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use rectify_shared::api::{
    AccountChange, AccountCreated, AccountInfo, CampaignInfo, ImportPreview, ItemHistory,
    ItemSummary, NewAccount, NewItem, PasswordReset, SessionsRevoked, UnitInfo,
};
use rectify_shared::date::Date;
use rectify_shared::ids::{DocumentId, UnitId, Username};
use rectify_shared::model::{self, EditContext, ItemDoc, ItemEdit, ItemPlan, Timing};
use rectify_shared::policy::{self, Actor, Role};
use rectify_shared::report;
use rectify_shared::status::PublicStatus;
use std::collections::HashMap;

/// The largest report file `POST /api/import` takes.
pub const MAX_IMPORT_BYTES: usize = 20 * 1024 * 1024;
/// The longest unit or account display name.
pub const MAX_NAME_CHARS: usize = 100;
/// The longest unit id.
pub const MAX_UNIT_ID_CHARS: usize = 32;
/// The unit kinds (`units.kind`).
pub const UNIT_KINDS: [&str; 4] = ["school", "kindergarten", "department", "other"];

/// The office's endpoints, merged into [`crate::http::app`].
pub fn routes() -> Router<AppState> {
    let ledger = |format| get(move |s, u, p| download(s, u, p, Download::Ledger(format)));
    let report = |format| get(move |s, u, p| download(s, u, p, Download::Report(format)));
    Router::new()
        .route("/api/units", get(list_units).post(save_unit))
        .route("/api/accounts", get(list_accounts).post(create_account))
        .route("/api/accounts/{username}", patch(change_account))
        .route("/api/accounts/{username}/password", post(reset_password))
        .route(
            "/api/accounts/{username}/sessions/revoke",
            post(revoke_sessions),
        )
        .route("/api/campaigns", get(list_campaigns))
        .route("/api/campaigns/{id}/items", post(add_item))
        .route(
            "/api/campaigns/{id}/ledger.xlsx",
            ledger(LedgerFormat::Xlsx),
        )
        .route("/api/campaigns/{id}/ledger.csv", ledger(LedgerFormat::Csv))
        .route(
            "/api/campaigns/{id}/report.docx",
            report(ReportFormat::Docx),
        )
        .route(
            "/api/campaigns/{id}/report.html",
            report(ReportFormat::Html),
        )
        .route("/api/campaigns/{id}/report.txt", report(ReportFormat::Txt))
        .route("/api/import", post(import))
        .route("/api/items/{id}/history", get(history))
}

/// What an endpoint needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any logged-in account: the unit names.
    LoggedIn,
    /// Reading everything: accounts, campaigns, reports. The office and viewers.
    ReadAll,
    /// Changing anything: the office only.
    Office,
}

/// The rule table: who may call an endpoint that needs `needed`.
///
/// | needed   | office | viewer | department | unit (school) |
/// |----------|--------|--------|------------|---------------|
/// | LoggedIn | yes    | yes    | yes        | yes           |
/// | ReadAll  | yes    | yes    | 403        | 403           |
/// | Office   | yes    | 403    | 403        | 403           |
pub fn require(user: &UserRecord, needed: Need) -> Result<(), ApiError> {
    let allowed = match needed {
        Need::LoggedIn => true,
        Need::ReadAll => matches!(user.role, Role::Office | Role::Viewer),
        Need::Office => user.role == Role::Office,
    };
    if allowed {
        return Ok(());
    }
    let who = match needed {
        Need::ReadAll => "the office (领导小组办公室) and viewer accounts",
        Need::LoggedIn | Need::Office => "the office (领导小组办公室)",
    };
    let why = match user.role {
        Role::Viewer => "a viewer account reads everything but changes nothing".to_owned(),
        role => format!(
            "a {} account works on its own items (the item list); ask the office if you need this",
            role.key()
        ),
    };
    Err(ApiError::Forbidden(format!(
        "only {who} may do this: {why}"
    )))
}

/// A JSON body whose rejection is an [`ApiError`] (a JSON [`ErrorBody`](rectify_shared::api::ErrorBody)).
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(JsonBody(value))
    }
}

// ---------------------------------------------------------------------------------------
// Units

async fn list_units(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<UnitInfo>>, ApiError> {
    require(&user, Need::LoggedIn)?;
    let units = state.storage.units().await?;
    Ok(Json(units.into_iter().map(unit_info).collect()))
}

fn unit_info(unit: UnitRecord) -> UnitInfo {
    UnitInfo {
        id: unit.id,
        name: unit.name,
        kind: unit.kind,
    }
}

/// `POST /api/units`: creates a unit (201) or renames one (200).
async fn save_unit(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    JsonBody(unit): JsonBody<UnitInfo>,
) -> Result<(StatusCode, Json<UnitInfo>), ApiError> {
    require(&user, Need::Office)?;
    check_unit_id(unit.id.as_str())?;
    let name = checked_name(&unit.name, "the unit's name")?;
    if !UNIT_KINDS.contains(&unit.kind.as_str()) {
        return Err(ApiError::Unprocessable(format!(
            "unknown unit kind '{}': use one of {}",
            unit.kind,
            UNIT_KINDS.join(", ")
        )));
    }
    let storage = state.storage.as_ref();
    let mut units = storage.units().await?;
    let existing = units.iter().position(|u| u.id == unit.id);
    let record = UnitRecord {
        id: unit.id,
        name,
        kind: unit.kind,
    };
    // A unit's accounts must still fit it (a department account needs a department).
    if let Some(at) = existing {
        units[at] = record.clone();
        for account in storage.users().await? {
            if account.unit.as_ref() == Some(&record.id) {
                accounts::check_role_unit(account.role, account.unit.as_ref(), &units).map_err(
                    |why| {
                        ApiError::Conflict(format!(
                            "account '{}' belongs to this unit and would no longer fit it: {why}",
                            account.username
                        ))
                    },
                )?;
            }
        }
    }
    storage.upsert_unit(&record).await?;
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(unit_info(record))))
}

fn check_unit_id(id: &str) -> Result<(), ApiError> {
    let fits = !id.is_empty()
        && id.len() <= MAX_UNIT_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if fits {
        Ok(())
    } else {
        Err(ApiError::Unprocessable(format!(
            "'{id}' cannot be a unit id: use 1 to {MAX_UNIT_ID_CHARS} lowercase letters a-z, \
             digits, '-' or '_' (e.g. pszx4)"
        )))
    }
}

/// A display name, trimmed: not empty, at most [`MAX_NAME_CHARS`] characters.
fn checked_name(name: &str, what: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::Unprocessable(format!(
            "{what} is empty: give one"
        )));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::Unprocessable(format!(
            "{what} is longer than {MAX_NAME_CHARS} characters: shorten it"
        )));
    }
    Ok(name.to_owned())
}

// ---------------------------------------------------------------------------------------
// Accounts

async fn list_accounts(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<AccountInfo>>, ApiError> {
    require(&user, Need::ReadAll)?;
    let active = state.storage.active_sessions(now_ms()).await?;
    let users = state.storage.users().await?;
    Ok(Json(
        users
            .into_iter()
            .map(|u| account_info(u, &active))
            .collect(),
    ))
}

fn account_info(user: UserRecord, active: &HashMap<Username, u32>) -> AccountInfo {
    AccountInfo {
        active_sessions: active.get(&user.username).copied().unwrap_or(0),
        username: user.username,
        display_name: user.display_name,
        role: user.role,
        unit: user.unit,
        disabled: user.disabled,
        created_at_ms: user.created_at_ms,
    }
}

/// The account `username`, or 404.
async fn existing_account(state: &AppState, username: &str) -> Result<UserRecord, ApiError> {
    state
        .storage
        .user(&Username::new(username))
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "there is no account '{username}' (the accounts are listed by GET /api/accounts)"
            ))
        })
}

async fn account_now(state: &AppState, username: &Username) -> Result<AccountInfo, ApiError> {
    let user = existing_account(state, username.as_str()).await?;
    let active = state.storage.active_sessions(now_ms()).await?;
    Ok(account_info(user, &active))
}

/// The password to set: the one given (checked), or a generated one (returned once).
fn new_password(given: Option<String>) -> Result<(String, Option<String>), ApiError> {
    match given {
        Some(password) => {
            accounts::check_new_password(&password).map_err(ApiError::Unprocessable)?;
            Ok((password, None))
        }
        None => {
            let password = accounts::generate_password();
            Ok((password.clone(), Some(password)))
        }
    }
}

/// Argon2 is deliberately slow: off the async threads.
async fn hash(password: String) -> Result<String, ApiError> {
    let hashed = tokio::task::spawn_blocking(move || accounts::hash_password(&password))
        .await
        .map_err(anyhow::Error::from)??;
    Ok(hashed)
}

async fn create_account(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    JsonBody(new): JsonBody<NewAccount>,
) -> Result<(StatusCode, Json<AccountCreated>), ApiError> {
    require(&user, Need::Office)?;
    let username =
        accounts::check_username(new.username.trim()).map_err(ApiError::Unprocessable)?;
    let display_name = if new.display_name.trim().is_empty() {
        username.to_string()
    } else {
        checked_name(&new.display_name, "the display name")?
    };
    let units = state.storage.units().await?;
    accounts::check_role_unit(new.role, new.unit.as_ref(), &units)
        .map_err(ApiError::Unprocessable)?;
    let (password, generated) = new_password(new.password)?;
    if state.storage.user(&username).await?.is_some() {
        return Err(taken(&username));
    }
    let record = UserRecord {
        username: username.clone(),
        display_name,
        role: new.role,
        unit: new.unit,
        password_hash: hash(password).await?,
        disabled: false,
        created_at_ms: now_ms(),
    };
    match state.storage.create_user(&record).await {
        Ok(()) => {}
        Err(StorageError::UserExists(_)) => return Err(taken(&username)),
        Err(err) => return Err(err.into()),
    }
    tracing::info!(by = %user.username, account = %username, role = new.role.key(), "account created");
    let account = account_now(&state, &username).await?;
    Ok((
        StatusCode::CREATED,
        Json(AccountCreated {
            account,
            password: generated,
        }),
    ))
}

fn taken(username: &Username) -> ApiError {
    ApiError::Conflict(format!(
        "there is already an account '{username}': choose another username"
    ))
}

/// `PATCH /api/accounts/{username}`: a new display name, disabled or enabled. Disabling ends
/// every session of the account at once.
async fn change_account(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(username): Path<String>,
    JsonBody(change): JsonBody<AccountChange>,
) -> Result<Json<AccountInfo>, ApiError> {
    require(&user, Need::Office)?;
    let account = existing_account(&state, &username).await?;
    let display_name = change
        .display_name
        .as_deref()
        .map(|name| checked_name(name, "the display name"))
        .transpose()?;
    if change.disabled == Some(true) && account.username == user.username {
        return Err(ApiError::Conflict(
            "you cannot disable your own account: you would lock yourself out. Another office \
             account can disable it"
                .to_owned(),
        ));
    }
    let storage = state.storage.as_ref();
    if let Some(name) = &display_name {
        storage.set_display_name(&account.username, name).await?;
    }
    if let Some(disabled) = change.disabled {
        storage.set_disabled(&account.username, disabled).await?;
        if disabled {
            let ended = storage.revoke_sessions(&account.username).await?;
            tracing::info!(by = %user.username, account = %account.username, ended, "account disabled");
        }
    }
    Ok(Json(account_now(&state, &account.username).await?))
}

/// `POST /api/accounts/{username}/password`: a new password (generated when the body gives
/// none, or there is no body); every session of the account ends.
async fn reset_password(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(username): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<AccountCreated>, ApiError> {
    require(&user, Need::Office)?;
    let reset: PasswordReset = if body.iter().all(u8::is_ascii_whitespace) {
        PasswordReset::default()
    } else {
        serde_json::from_slice(&body).map_err(|err| {
            ApiError::Unprocessable(format!(
                "the body should be {{\"password\": \"…\"}} or {{}} (to generate one): {err}"
            ))
        })?
    };
    let account = existing_account(&state, &username).await?;
    let (password, generated) = new_password(reset.password)?;
    let storage = state.storage.as_ref();
    storage
        .set_password_hash(&account.username, &hash(password).await?)
        .await?;
    let ended = storage.revoke_sessions(&account.username).await?;
    tracing::info!(by = %user.username, account = %account.username, ended, "password reset");
    Ok(Json(AccountCreated {
        account: account_now(&state, &account.username).await?,
        password: generated,
    }))
}

/// `POST /api/accounts/{username}/sessions/revoke`: logs the account out everywhere (a lost
/// phone); the password stays.
async fn revoke_sessions(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(username): Path<String>,
) -> Result<Json<SessionsRevoked>, ApiError> {
    require(&user, Need::Office)?;
    let account = existing_account(&state, &username).await?;
    let revoked = state.storage.revoke_sessions(&account.username).await?;
    tracing::info!(by = %user.username, account = %account.username, revoked, "sessions revoked");
    Ok(Json(SessionsRevoked { revoked }))
}

// ---------------------------------------------------------------------------------------
// Campaigns and their files

async fn list_campaigns(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Vec<CampaignInfo>>, ApiError> {
    require(&user, Need::ReadAll)?;
    let mut out = Vec::new();
    for campaign in state.storage.campaigns().await? {
        let items = state.storage.items(&campaign.id).await?.len();
        out.push(CampaignInfo {
            id: campaign.id.to_string(),
            name: campaign.name,
            items,
            created_at_ms: campaign.created_at_ms,
        });
    }
    Ok(Json(out))
}

/// The campaign `id`, or 404 (also for text that is no document id).
async fn existing_campaign(state: &AppState, id: &str) -> Result<CampaignRecord, ApiError> {
    let missing = || {
        ApiError::NotFound(format!(
            "there is no campaign '{id}' (the campaigns are listed by GET /api/campaigns)"
        ))
    };
    let id: DocumentId = id.parse().map_err(|_| missing())?;
    state
        .storage
        .campaigns()
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(missing)
}

#[derive(Debug, Clone, Copy)]
enum Download {
    Ledger(LedgerFormat),
    Report(ReportFormat),
}

/// `GET /api/campaigns/{id}/ledger.*` and `report.*`: built by the same code as
/// `rectify export` and `rectify report`.
async fn download(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    what: Download,
) -> Result<Response, ApiError> {
    require(&user, Need::ReadAll)?;
    let record = existing_campaign(&state, &id).await?;
    let loaded = campaigns::load_campaign(state.storage.as_ref(), record).await?;
    let (bytes, content_type, name) =
        tokio::task::spawn_blocking(move || build_download(&loaded, what))
            .await
            .map_err(anyhow::Error::from)??;
    let headers = [
        (CONTENT_TYPE, content_type.to_owned()),
        (
            CONTENT_DISPOSITION,
            content_disposition("attachment", &name),
        ),
        (CACHE_CONTROL, "no-store".to_owned()),
    ];
    Ok((headers, bytes).into_response())
}

/// The file's bytes, its type and its name: `<campaign>台账-<date>.xlsx`, `<campaign>报告-<date>.docx`.
fn build_download(
    loaded: &LoadedCampaign,
    what: Download,
) -> anyhow::Result<(Vec<u8>, &'static str, String)> {
    let (bytes, content_type, label, extension) = match what {
        Download::Ledger(format) => (
            loaded.ledger_file(format)?,
            format.content_type(),
            "台账",
            format.extension(),
        ),
        Download::Report(format) => (
            loaded.report_file(format)?,
            format.content_type(),
            "报告",
            format.extension(),
        ),
    };
    // The date where the office is (China Standard Time).
    let today = Date::from_unix_millis(now_ms() + 8 * 3_600_000);
    let campaign: String = loaded
        .campaign
        .name
        .chars()
        .map(|c| {
            if c.is_control() || "/\\:*?\"<>|".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    Ok((
        bytes,
        content_type,
        format!("{campaign}{label}-{today}.{extension}"),
    ))
}

// ---------------------------------------------------------------------------------------
// Import

/// `POST /api/import[?dry_run=true]`: the body is the report file itself.
async fn import(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ImportPreview>, ApiError> {
    require(&user, Need::Office)?;
    let dry_run = dry_run(query.as_deref())?;
    let bytes = read_limited(&headers, body, MAX_IMPORT_BYTES).await?;
    let imported = tokio::task::spawn_blocking(move || campaigns::read_report(&bytes))
        .await
        .map_err(anyhow::Error::from)?
        .map_err(|err| ApiError::Unprocessable(format!("the file was not imported: {err:#}")))?;
    if dry_run {
        return Ok(Json(campaigns::import_preview(&imported, None)));
    }
    let storage = state.storage.as_ref();
    let store = campaigns::import_report(storage, &imported.report, user.username.as_str());
    // A report of a campaign that exists may update documents open on sync connections.
    let known = campaigns::natural_key(&imported.report);
    let outcome = if storage
        .campaigns()
        .await?
        .iter()
        .any(|c| c.natural_key == known)
    {
        state.sync.write_beside(store).await?
    } else {
        store.await?
    };
    tracing::info!(
        by = %user.username,
        campaign = %outcome.campaign,
        created = outcome.items_created,
        updated = outcome.items_updated,
        "report imported"
    );
    Ok(Json(campaigns::import_preview(&imported, Some(&outcome))))
}

/// `dry_run` from the query: absent or `false`/`0` stores, `true`/`1` (or a bare `dry_run`)
/// does not.
fn dry_run(query: Option<&str>) -> Result<bool, ApiError> {
    let mut dry_run = false;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (key, value) = pair.split_once('=').unwrap_or((pair, "true"));
        if key != "dry_run" {
            continue;
        }
        dry_run = match value {
            "true" | "1" | "" => true,
            "false" | "0" => false,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "dry_run={other} is neither true nor false"
                )));
            }
        };
    }
    Ok(dry_run)
}

/// The whole body, refused with 413 as soon as it is over `limit` bytes.
async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::TooLarge(format!(
            "the file is larger than {} MiB: a report is much smaller; check that this is the right file",
            limit / (1024 * 1024)
        ))
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Far too large: answer at once (the connection is cut under the rest of the upload).
    if declared.is_some_and(|len| len > (limit + DRAIN_SLACK) as u64) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    let mut received = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|err| {
            ApiError::BadRequest(format!("the upload broke off ({err}); send the file again"))
        })?;
        received = received.saturating_add(frame.len());
        if received > limit + DRAIN_SLACK {
            return Err(too_large());
        }
        if received > limit {
            // A little too large: read the rest and drop it, so the client is still reading
            // when the answer comes and sees the 413 instead of a cut connection.
            bytes = Vec::new();
            continue;
        }
        bytes.extend_from_slice(&frame);
    }
    if received > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// How far past the limit an upload is still read (and thrown away) before the 413.
const DRAIN_SLACK: usize = 4 * 1024 * 1024;

// ---------------------------------------------------------------------------------------
// Adding an item by hand

/// `POST /api/campaigns/{id}/items`: a new item, made and stored as the importer makes one.
async fn add_item(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    JsonBody(new): JsonBody<NewItem>,
) -> Result<(StatusCode, Json<ItemSummary>), ApiError> {
    require(&user, Need::Office)?;
    let campaign = existing_campaign(&state, &id).await?;
    let item = checked_item(&state, &campaign, &user, new).await?;
    let storage = state.storage.as_ref();
    let record = match campaigns::add_item(storage, &campaign, &item, user.username.as_str()).await
    {
        Ok(record) => record,
        // Someone added the same key meanwhile (the index keeps keys unique per campaign).
        Err(err) if is_unique_violation(&err) => return Err(key_taken(&item.key)),
        Err(err) => return Err(err.into()),
    };
    tracing::info!(by = %user.username, key = %record.key, item = %record.id, "item added");
    let today = Date::from_unix_millis(now_ms());
    Ok((
        StatusCode::CREATED,
        Json(item_summary(record, &campaign.id, today)),
    ))
}

fn is_unique_violation(err: &anyhow::Error) -> bool {
    matches!(
        err.downcast_ref::<StorageError>(),
        Some(StorageError::Conflict(_))
    )
}

fn key_taken(key: &str) -> ApiError {
    ApiError::Conflict(format!(
        "item {key} already exists in this campaign: choose another number, or edit that item"
    ))
}

/// Checks a new item against the campaign and the units, and makes its document value: the
/// importer's item (measures numbered `m1`, `m2` …) with the office's plan applied, which
/// also creates each assigned unit's progress entry.
async fn checked_item(
    state: &AppState,
    campaign: &CampaignRecord,
    user: &UserRecord,
    new: NewItem,
) -> Result<ItemDoc, ApiError> {
    let invalid = |message: String| Err(ApiError::Unprocessable(message));
    let storage = state.storage.as_ref();
    let title = new.title.trim();
    if title.is_empty() {
        return invalid("the item's problem statement (title) is empty: write it".to_owned());
    }
    if new.area_no == 0 || new.problem_no == 0 || new.sub_no == Some(0) {
        return invalid("area, problem and sub-problem numbers start at 1".to_owned());
    }
    let key = model::item_key(new.area_no, new.problem_no, new.sub_no);
    let problem_key = model::item_key(new.area_no, new.problem_no, None);
    let records = storage.items(&campaign.id).await?;
    if records.iter().any(|r| r.key == key) {
        return Err(key_taken(&key));
    }
    // A problem either is one item or has sub-items (1), (2) …: never both.
    let same_problem = records
        .iter()
        .find(|r| r.key == problem_key || r.key.starts_with(&format!("{problem_key}.")));
    if let Some(other) = same_problem
        && (new.sub_no.is_none() || other.key == problem_key)
    {
        return Err(ApiError::Conflict(format!(
            "problem {problem_key} already has item {}: a problem has either one item or \
             numbered sub-items, not both",
            other.key
        )));
    }
    let area_title = match new.area_title.trim() {
        "" => {
            let doc = campaigns::load_document(storage, &campaign.id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("campaign {} has no document", campaign.id))?;
            let known = model::CampaignDoc::load(&doc).map_err(anyhow::Error::from)?;
            match known.areas.into_iter().find(|a| a.number == new.area_no) {
                Some(area) => area.title,
                None => {
                    return invalid(format!(
                        "area {} is new in this campaign: give its title (area_title)",
                        new.area_no
                    ));
                }
            }
        }
        given => given.to_owned(),
    };
    let problem_title = match (new.problem_title.trim(), same_problem) {
        ("", Some(other)) => {
            let doc = campaigns::load_document(storage, &other.id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("item {} has no document", other.key))?;
            ItemDoc::load(&doc)
                .map_err(anyhow::Error::from)?
                .problem_title
        }
        ("", None) => {
            return invalid(format!(
                "problem {problem_key} is new: give its title (problem_title)"
            ));
        }
        (given, _) => given.to_owned(),
    };

    let units = storage.units().await?;
    let kind_of = |id: &UnitId| units.iter().find(|u| &u.id == id).map(|u| u.kind.as_str());
    let mut assigned: Vec<String> = Vec::new();
    for unit in &new.units {
        if kind_of(unit).is_none() {
            return invalid(format!(
                "there is no unit '{unit}' to assign (the units are listed by GET /api/units)"
            ));
        }
        if !assigned.iter().any(|u| u == unit.as_str()) {
            assigned.push(unit.to_string());
        }
    }
    if let Some(department) = &new.responsible_department {
        match kind_of(department) {
            Some("department") => {}
            Some(kind) => {
                return invalid(format!(
                    "'{department}' is a {kind}, not a department: the responsible department \
                     must be one"
                ));
            }
            None => {
                return invalid(format!(
                    "there is no department '{department}' (the units are listed by GET /api/units)"
                ));
            }
        }
    }
    let deadline = match new.deadline.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => match text.parse::<Date>() {
            Ok(date) => Some(date.to_string()),
            Err(_) => return invalid(format!("the deadline '{text}' is not a date YYYY-MM-DD")),
        },
    };
    let timing = match new.timing.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(key) => match Timing::from_key(key) {
            Some(timing) => Some(timing),
            None => {
                return invalid(format!(
                    "unknown timing '{key}': use immediate, by_deadline or long_term"
                ));
            }
        },
    };
    let measures: Vec<String> = new
        .measures
        .iter()
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();

    let area = report::Area {
        number: new.area_no,
        title: area_title,
        problems: Vec::new(),
    };
    let problem = report::Problem {
        number: new.problem_no,
        title: problem_title,
        items: Vec::new(),
    };
    let leaf = report::Item {
        sub: new.sub_no,
        title: title.to_owned(),
        narrative: String::new(),
        status: PublicStatus::InProgress,
        status_wording: None,
        measures,
        document_numbers: Vec::new(),
        dates: Vec::new(),
    };
    let mut item = model::item_from_report(&campaign.id.to_string(), &area, &problem, &leaf);
    let office = EditContext {
        actor: Actor {
            role: user.role,
            unit: user.unit.clone(),
        },
        user: user.username.to_string(),
        now_ms: now_ms(),
    };
    let plan = ItemPlan {
        responsible_leader: new.responsible_leader.trim().to_owned(),
        responsible_department: new.responsible_department.map(|d| d.to_string()),
        units: assigned,
        deadline,
        timing,
    };
    model::apply_to(&mut item, &office, ItemEdit::Plan(plan))
        .map_err(|err| ApiError::Unprocessable(err.to_string()))?;
    Ok(item)
}

// ---------------------------------------------------------------------------------------
// History

/// `GET /api/items/{id}/history`: for whoever may read the item; 404 for everyone else, as
/// for an id that does not exist, so the answer does not tell that it exists.
async fn history(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<ItemHistory>, ApiError> {
    let missing = || ApiError::NotFound(format!("there is no item '{id}' you may read"));
    let doc_id: DocumentId = id.parse().map_err(|_| missing())?;
    let storage = state.storage.as_ref();
    let record = storage.item(&doc_id).await?.ok_or_else(missing)?;
    let actor = Actor {
        role: user.role,
        unit: user.unit.clone(),
    };
    if !policy::can_read_item(&actor, &record.units, record.department.as_deref()) {
        return Err(missing());
    }
    let doc = campaigns::load_document(storage, &doc_id)
        .await?
        .ok_or_else(missing)?;
    let arrivals = storage.change_arrivals(&doc_id).await?;
    let mut entries = tokio::task::spawn_blocking(move || {
        rectify_shared::history::timeline(&doc, &|hash| arrivals.get(&hash.to_string()).copied())
    })
    .await
    .map_err(anyhow::Error::from)?;
    let names: HashMap<String, String> = storage
        .users()
        .await?
        .into_iter()
        .map(|u| (u.username.0, u.display_name))
        .collect();
    for entry in &mut entries {
        entry.display_name = entry
            .user
            .as_ref()
            .and_then(|user| names.get(user).cloned());
    }
    Ok(Json(ItemHistory { entries }))
}
