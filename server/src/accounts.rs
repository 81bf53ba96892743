//! Accounts: argon2 password hashes, login, bearer tokens.
//!
//! A token is 32 random bytes (base64url). Only its SHA-256 is stored. It stays valid for
//! [`TOKEN_LIFETIME_MS`] after its last use, long enough for a school to work offline for
//! weeks, and can be revoked.

use crate::error::ApiError;
use crate::storage::{SessionRecord, Storage, UserRecord};
use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use rectify_shared::api::{LoginRequest, LoginResponse};
use rectify_shared::ids::Username;
use sha2::{Digest, Sha256};

/// 60 days: a school may be offline for a term's half before it must log in again.
pub const TOKEN_LIFETIME_MS: i64 = 60 * 24 * 60 * 60 * 1000;

/// The shortest password `rectify user add` and the office accept.
pub const MIN_PASSWORD_CHARS: usize = 8;

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| anyhow::anyhow!("cannot hash the password: {err}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Checks a new password against the rules, with a message that says what to change.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    Ok(())
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the credentials and opens a session.
pub async fn login(
    storage: &dyn Storage,
    request: LoginRequest,
) -> Result<LoginResponse, ApiError> {
    let bad = || ApiError::Unauthorized("wrong username or password".to_owned());
    let username = Username::new(request.username.trim());
    let user = storage.user(&username).await?;
    // Verify against a dummy hash for unknown users too, so timing does not tell who exists.
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(dummy_hash);
    let password = request.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(anyhow::Error::from)?;
    let user = match user {
        Some(user) if ok => user,
        _ => return Err(bad()),
    };
    if user.disabled {
        return Err(ApiError::Forbidden(
            "this account is disabled; ask the office (领导小组办公室) to enable it".to_owned(),
        ));
    }
    let token = new_token();
    let now = now_ms();
    let session = SessionRecord {
        token_hash: token_hash(&token),
        username: user.username.clone(),
        created_at_ms: now,
        expires_at_ms: now + TOKEN_LIFETIME_MS,
        revoked: false,
    };
    storage
        .create_session(&session)
        .await
        .map_err(anyhow::Error::from)?;
    Ok(LoginResponse {
        token,
        username: user.username,
        display_name: user.display_name,
        role: user.role,
        unit: user.unit,
        expires_at_ms: session.expires_at_ms,
    })
}

/// Resolves a bearer token to its user, refusing expired, revoked and disabled ones.
/// A valid token's lifetime is extended: it is refreshed while the user is online.
pub async fn authenticate(storage: &dyn Storage, token: &str) -> Result<UserRecord, ApiError> {
    let refused = |why: &str| ApiError::Unauthorized(format!("{why}; log in again"));
    let hash = token_hash(token);
    let session = storage.session(&hash).await?;
    let Some(session) = session else {
        return Err(refused("unknown token"));
    };
    let now = now_ms();
    if session.revoked {
        return Err(refused("this session was revoked"));
    }
    if session.expires_at_ms < now {
        return Err(refused("this session has expired"));
    }
    let user = storage
        .user(&session.username)
        .await
        .map_err(anyhow::Error::from)?;
    let Some(user) = user else {
        return Err(refused("the account no longer exists"));
    };
    if user.disabled {
        return Err(refused("this account is disabled"));
    }
    // Extend at most once an hour to keep reads cheap.
    if session.expires_at_ms < now + TOKEN_LIFETIME_MS - 3_600_000 {
        storage
            .extend_session(&hash, now + TOKEN_LIFETIME_MS)
            .await
            .map_err(anyhow::Error::from)?;
    }
    Ok(user)
}

fn dummy_hash() -> String {
    // A valid argon2 hash of a random string nobody knows.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password(&new_token()).unwrap_or_default())
        .clone()
}

/// Failed logins allowed per account within [`THROTTLE_WINDOW_MS`] before further attempts
/// are refused, right or wrong, until the window has passed.
pub const MAX_FAILED_LOGINS: u32 = 5;
/// Failed logins allowed per client address in the window: a school's staff share one
/// address, so this is higher; it stops one machine from guessing across many accounts.
pub const MAX_FAILED_LOGINS_PER_ADDRESS: u32 = 30;
pub const THROTTLE_WINDOW_MS: i64 = 10 * 60 * 1000;

/// Counts failed logins per key (an account name, or a client address), in memory: guessing
/// a password online takes hours per handful of tries.
#[derive(Debug)]
pub struct LoginThrottle {
    limit: u32,
    /// "account" or "address", for the message.
    what: &'static str,
    failures: std::sync::Mutex<std::collections::HashMap<String, (u32, i64)>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::per_account()
    }
}

impl LoginThrottle {
    pub fn per_account() -> Self {
        Self::new(MAX_FAILED_LOGINS, "account")
    }

    pub fn per_address() -> Self {
        Self::new(MAX_FAILED_LOGINS_PER_ADDRESS, "address")
    }

    fn new(limit: u32, what: &'static str) -> Self {
        LoginThrottle {
            limit,
            what,
            failures: std::sync::Mutex::default(),
        }
    }

    fn key(username: &str) -> String {
        username.trim().to_lowercase()
    }

    /// Refuses when the key has had too many failures in the current window.
    pub fn check(&self, username: &str, now: i64) -> Result<(), ApiError> {
        let failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match failures.get(&Self::key(username)) {
            Some(&(count, since)) if count >= self.limit && now - since < THROTTLE_WINDOW_MS => {
                let minutes = (THROTTLE_WINDOW_MS - (now - since) + 59_999) / 60_000;
                Err(ApiError::TooManyRequests(format!(
                    "too many failed logins from this {}; try again in {minutes} minute(s)",
                    self.what
                )))
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, username: &str, now: i64) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Someone trying many names must not grow this without bound.
        if failures.len() > 10_000 {
            failures.retain(|_, (_, since)| now - *since < THROTTLE_WINDOW_MS);
        }
        let entry = failures.entry(Self::key(username)).or_insert((0, now));
        if now - entry.1 >= THROTTLE_WINDOW_MS {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    pub fn succeeded(&self, username: &str) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.remove(&Self::key(username));
    }
}
