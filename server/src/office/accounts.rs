//! Accounts, for the office: the list with each account's open sessions, creating one,
//! renaming or disabling it (which ends its sessions), a new password, and logging it out
//! everywhere. The rules for usernames, passwords and roles are in [`crate::accounts`].

use super::{LaterJson, Need, checked_name, require};
use crate::accounts;
use crate::audit;
use crate::audit::action;
use crate::auth::{self, CurrentSession, CurrentUser};
use crate::clock::now_ms;
use crate::error::{ApiError, Said};
use crate::state::AppState;
use crate::storage::{StorageError, UserRecord, Write};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rectify_shared::api::{
    AccountChange, AccountCreated, AccountInfo, NewAccount, PasswordReset, SessionInfo,
    SessionsRevoked,
};
use rectify_shared::ids::Username;
use std::collections::HashMap;

pub(super) async fn list_accounts(
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
            ApiError::NotFound(Said::new(
                format!("没有账号“{username}”"),
                format!(
                    "there is no account '{username}' (the accounts are listed by GET /api/accounts)"
                ),
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

/// Argon2 is deliberately slow: off the async threads, a bounded number at a time.
async fn hash(password: String) -> Result<String, ApiError> {
    let hashed = crate::blocking::password(move || accounts::hash_password(&password)).await??;
    Ok(hashed)
}

pub(super) async fn create_account(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    body: LaterJson<NewAccount>,
) -> Result<(StatusCode, Json<AccountCreated>), ApiError> {
    require(&user, Need::Office)?;
    let new = body.read().await?;
    let username =
        accounts::check_username(new.username.trim()).map_err(ApiError::Unprocessable)?;
    let display_name = if new.display_name.trim().is_empty() {
        username.to_string()
    } else {
        checked_name(&new.display_name, ("显示名称", "the display name"))?
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
    // The account and its audit entry: one transaction.
    let entry = audit::entry(
        &user.username,
        action::ACCOUNT_CREATED,
        username.as_str(),
        new.role.key(),
    );
    match state
        .storage
        .write(vec![Write::NewUser(record), entry])
        .await
    {
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
    ApiError::Conflict(Said::new(
        format!("已有账号“{username}”：请换一个用户名"),
        format!("there is already an account '{username}': choose another username"),
    ))
}

/// `PATCH /api/accounts/{username}`: a new display name, disabled or enabled. Disabling ends
/// every session of the account at once.
pub(super) async fn change_account(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(username): Path<String>,
    body: LaterJson<AccountChange>,
) -> Result<Json<AccountInfo>, ApiError> {
    require(&user, Need::Office)?;
    let change = body.read().await?;
    let account = existing_account(&state, &username).await?;
    let display_name = change
        .display_name
        .as_deref()
        .map(|name| checked_name(name, ("显示名称", "the display name")))
        .transpose()?;
    if change.disabled == Some(true) && account.username == user.username {
        return Err(ApiError::Conflict(Said::new(
            "不能停用自己的账号：那样会把自己关在门外。可以由另一个领导小组办公室账号停用它",
            "you cannot disable your own account: you would lock yourself out. Another office \
             account can disable it",
        )));
    }
    let storage = state.storage.as_ref();
    if let Some(name) = &display_name {
        storage.set_display_name(&account.username, name).await?;
    }
    if let Some(disabled) = change.disabled {
        // The change, the end of the sessions and the audit entry: one transaction.
        let mut batch = vec![Write::Disabled {
            username: account.username.clone(),
            disabled,
        }];
        if disabled {
            batch.push(Write::EndSessions(account.username.clone()));
        }
        // Recorded when it changes something (a repeated request is no new action).
        if disabled != account.disabled {
            let done = if disabled {
                action::ACCOUNT_DISABLED
            } else {
                action::ACCOUNT_ENABLED
            };
            batch.push(audit::entry(
                &user.username,
                done,
                account.username.as_str(),
                "",
            ));
        }
        storage.write(batch).await?;
        if disabled {
            state.sync.close_account(&account.username).await;
            tracing::info!(by = %user.username, account = %account.username, "account disabled");
        }
    }
    Ok(Json(account_now(&state, &account.username).await?))
}

/// `POST /api/accounts/{username}/password`: a new password (generated when the body gives
/// none, or there is no body); every session of the account ends.
pub(super) async fn reset_password(
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
            ApiError::Unprocessable(Said::new(
                format!("请求内容应为 {{\"password\": \"…\"}}，或 {{}}（自动生成）：{err}"),
                format!(
                    "the body should be {{\"password\": \"…\"}} or {{}} (to generate one): {err}"
                ),
            ))
        })?
    };
    let account = existing_account(&state, &username).await?;
    let (password, generated) = new_password(reset.password)?;
    // The new hash, the end of the sessions and the audit entry: one transaction.
    state
        .storage
        .write(vec![
            Write::PasswordHash {
                username: account.username.clone(),
                hash: hash(password).await?,
            },
            Write::EndSessions(account.username.clone()),
            audit::entry(
                &user.username,
                action::PASSWORD_RESET,
                account.username.as_str(),
                "",
            ),
        ])
        .await?;
    state.sync.close_account(&account.username).await;
    tracing::info!(by = %user.username, account = %account.username, "password reset");
    Ok(Json(AccountCreated {
        account: account_now(&state, &account.username).await?,
        password: generated,
    }))
}

/// `POST /api/accounts/{username}/sessions/revoke`: logs the account out everywhere (a lost
/// phone); the password stays.
pub(super) async fn revoke_sessions(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(username): Path<String>,
) -> Result<Json<SessionsRevoked>, ApiError> {
    require(&user, Need::Office)?;
    let account = existing_account(&state, &username).await?;
    // The active sessions it ends (counted first: the batch that ends them says no count).
    let revoked = state
        .storage
        .user_sessions(&account.username, now_ms())
        .await?
        .len() as u64;
    state
        .storage
        .write(vec![
            Write::EndSessions(account.username.clone()),
            audit::entry(
                &user.username,
                action::SESSIONS_REVOKED,
                account.username.as_str(),
                &revoked.to_string(),
            ),
        ])
        .await?;
    state.sync.close_account(&account.username).await;
    tracing::info!(by = %user.username, account = %account.username, revoked, "sessions revoked");
    Ok(Json(SessionsRevoked { revoked }))
}

/// `GET /api/accounts/{username}/sessions`: the account's active sessions (device, last
/// seen), the most recently used first; office and viewers.
pub(super) async fn list_sessions(
    State(state): State<AppState>,
    caller: CurrentSession,
    Path(username): Path<String>,
) -> Result<Json<Vec<SessionInfo>>, ApiError> {
    require(&caller.user, Need::ReadAll)?;
    let account = existing_account(&state, &username).await?;
    let list = state
        .storage
        .user_sessions(&account.username, now_ms())
        .await?;
    Ok(Json(
        list.iter()
            .map(|s| auth::session_info(s, Some(&caller.id)))
            .collect(),
    ))
}

/// `DELETE /api/accounts/{username}/sessions/{id}`: ends one session of the account (a lost
/// phone, while its other devices stay logged in); audited.
pub(super) async fn end_session(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path((username, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    require(&user, Need::Office)?;
    let account = existing_account(&state, &username).await?;
    let session = auth::session_of(&state, &account.username, &id).await?;
    let device = if session.device.is_empty() {
        "?"
    } else {
        session.device.as_str()
    };
    let entry = audit::entry(
        &user.username,
        action::SESSION_ENDED,
        account.username.as_str(),
        &format!("{device} ({})", session.id),
    );
    auth::end_session(&state, &session.token_hash, Some(entry)).await?;
    tracing::info!(by = %user.username, account = %account.username, session = %session.id, "session ended");
    Ok(StatusCode::NO_CONTENT)
}
