//! Accounts: argon2 password hashes, login, bearer tokens.
//!
//! A token is 32 random bytes (base64url). Only its SHA-256 is stored. It stays valid for
//! [`TOKEN_LIFETIME_MS`] after its last use, long enough for a school to work offline for
//! weeks, and can be revoked.

use crate::clock::now_ms;
use crate::error::{ApiError, Said};
use crate::storage::{LoginAttempt, SessionRecord, Storage, UnitRecord, UserRecord};
use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use rectify_shared::api::{LoginRequest, LoginResponse};
use rectify_shared::ids::{SessionId, UnitId, Username};
use rectify_shared::policy::Role;
use sha2::{Digest, Sha256};

/// 60 days: a school may be offline for a term's half before it must log in again.
pub const TOKEN_LIFETIME_MS: i64 = 60 * 24 * 60 * 60 * 1000;

/// The shortest password `rectify user add` and the office accept.
pub const MIN_PASSWORD_CHARS: usize = 8;

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
pub fn check_new_password(password: &str) -> Result<(), Said> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Said::new(
            format!("密码至少要有 {MIN_PASSWORD_CHARS} 个字符"),
            format!("the password must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

/// The longest username accepted.
pub const MAX_USERNAME_CHARS: usize = 32;

/// Checks a new account's username (`rectify user add` and `POST /api/accounts`): 1 to 32
/// lowercase ASCII letters, digits, `.`, `-` or `_`, starting with a letter or digit. It is
/// typed on phones and appears in every change an account makes, so it is kept plain.
pub fn check_username(name: &str) -> Result<Username, Said> {
    let fits = !name.is_empty()
        && name.len() <= MAX_USERNAME_CHARS
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-' || c == '_'
        });
    if fits {
        Ok(Username::new(name))
    } else {
        Err(Said::new(
            format!(
                "“{name}”不能作用户名：请用 1 到 {MAX_USERNAME_CHARS} 个小写字母 a-z、数字、\
                 “.”“-”或“_”，以字母或数字开头（如 school7）"
            ),
            format!(
                "'{name}' cannot be a username: use 1 to {MAX_USERNAME_CHARS} lowercase letters \
                 a-z, digits, '.', '-' or '_', starting with a letter or digit (e.g. school7)"
            ),
        ))
    }
}

/// Checks an account's role against its unit: department and unit (school) accounts belong
/// to an existing unit of the right kind, office and viewer accounts to none.
pub fn check_role_unit(
    role: Role,
    unit: Option<&UnitId>,
    units: &[UnitRecord],
) -> Result<(), Said> {
    let Some(unit) = unit else {
        return if role.needs_unit() {
            Err(Said::new(
                format!(
                    "{}账号属于一个单位：请给出它所在{}的编号",
                    role_zh(role),
                    if role == Role::Department {
                        "股室"
                    } else {
                        "学校或幼儿园"
                    }
                ),
                format!(
                    "a {} account belongs to a unit: give the id of its {}",
                    role.key(),
                    if role == Role::Department {
                        "department"
                    } else {
                        "school or kindergarten"
                    }
                ),
            ))
        } else {
            Ok(())
        };
    };
    if !role.needs_unit() {
        return Err(Said::new(
            format!("{}账号不属于任何单位：请不要填单位", role_zh(role)),
            format!(
                "a {} account belongs to no unit: leave the unit out",
                role.key()
            ),
        ));
    }
    let Some(record) = units.iter().find(|u| &u.id == unit) else {
        return Err(Said::new(
            format!("没有编号为“{unit}”的单位：请先建立该单位"),
            format!(
                "there is no unit with id '{unit}': create it first (the units are listed by GET /api/units)"
            ),
        ));
    };
    match (role, record.kind == "department") {
        (Role::Department, false) => Err(Said::new(
            format!(
                "“{unit}”（{}）不是股室：股室账号要属于一个股室",
                record.name
            ),
            format!(
                "'{unit}' ({}) is a {}, not a department: a department account needs a department",
                record.name, record.kind
            ),
        )),
        (Role::Unit, true) => Err(Said::new(
            format!("“{unit}”（{}）是股室：请给它建股室账号", record.name),
            format!(
                "'{unit}' ({}) is a department: give it a department account instead",
                record.name
            ),
        )),
        _ => Ok(()),
    }
}

/// A role's name in Chinese, for messages.
fn role_zh(role: Role) -> &'static str {
    match role {
        Role::Office => "领导小组办公室",
        Role::Viewer => "查看",
        Role::Department => "股室",
        Role::Unit => "学校/幼儿园",
    }
}

/// A new random password: 12 characters without 0/O/1/l/I, since it is read off a screen
/// and typed on a phone.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    (0..12)
        .map(|_| ALPHABET[(OsRng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

/// A session's public id: 12 random bytes, hex; drawn apart from the token, so it says
/// nothing about it.
pub fn new_session_id() -> SessionId {
    let mut bytes = [0u8; 12];
    OsRng.fill_bytes(&mut bytes);
    SessionId::new(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The longest device label stored, in characters.
pub const MAX_DEVICE_CHARS: usize = 40;

/// A short, readable label of the device a login came from, made from its User-Agent:
/// "Chrome · Android", "WeChat · iOS", "Firefox · Windows". Only shown to people (the
/// account itself and the office, to tell their sessions apart), never used to decide
/// anything: any client can send any User-Agent. An agent none of the known browsers
/// match keeps its first product name (`curl/8.5` → "curl"); nothing at all gives `""`
/// (shown as "unknown device").
pub fn device_label(user_agent: &str) -> String {
    let ua = user_agent;
    let has = |needle: &str| ua.contains(needle);
    let browser = if has("MicroMessenger/") {
        Some("WeChat")
    } else if has("DingTalk") {
        Some("DingTalk")
    } else if has("Edg/") || has("EdgA/") || has("EdgiOS/") {
        Some("Edge")
    } else if has("OPR/") {
        Some("Opera")
    } else if has("Firefox/") || has("FxiOS/") {
        Some("Firefox")
    } else if has("Chrome/") || has("CriOS/") || has("HeadlessChrome/") {
        Some("Chrome")
    } else if has("Safari/") && has("Version/") {
        Some("Safari")
    } else {
        None
    };
    let os = if has("HarmonyOS") || has("OpenHarmony") {
        Some("HarmonyOS")
    } else if has("Android") {
        Some("Android")
    } else if has("iPhone") || has("iPad") || has("iPod") {
        Some("iOS")
    } else if has("Windows") {
        Some("Windows")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Mac OS X") || has("Macintosh") {
        Some("macOS")
    } else if has("Linux") {
        Some("Linux")
    } else {
        None
    };
    let label = match (browser, os) {
        (Some(b), Some(o)) => format!("{b} · {o}"),
        (Some(one), None) | (None, Some(one)) => one.to_owned(),
        (None, None) => ua
            .split(['/', ' '])
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect(),
    };
    label.chars().take(MAX_DEVICE_CHARS).collect()
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

/// Checks the credentials and opens a session on `device` (a label from
/// [`device_label`], `""` when unknown).
pub async fn login(
    storage: &dyn Storage,
    request: LoginRequest,
    device: &str,
) -> Result<LoginResponse, ApiError> {
    let bad =
        || ApiError::Unauthorized(Said::new("用户名或密码不对", "wrong username or password"));
    let username = Username::new(request.username.trim());
    let user = storage.user(&username).await?;
    // Verify against a dummy hash for unknown users too, so timing does not tell who exists.
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(dummy_hash);
    let password = request.password;
    // Off the async threads, a bounded number at a time: a flood of logins waits (or is
    // refused with 503) instead of holding ~19 MiB per attempt.
    let ok = crate::blocking::password(move || verify_password(&password, &hash)).await?;
    let user = match user {
        Some(user) if ok => user,
        _ => return Err(bad()),
    };
    if user.disabled {
        return Err(ApiError::Forbidden(Said::new(
            "该账号已停用，请联系领导小组办公室启用",
            "this account is disabled; ask the office (领导小组办公室) to enable it",
        )));
    }
    let token = new_token();
    let now = now_ms();
    let session = SessionRecord {
        token_hash: token_hash(&token),
        id: new_session_id(),
        username: user.username.clone(),
        device: device.to_owned(),
        created_at_ms: now,
        last_seen_ms: now,
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

/// How often a session's "last seen" time is written at most (about once a minute).
pub const LAST_SEEN_EVERY_MS: i64 = 60_000;

/// A valid token's account and session (as read, before this use was recorded).
#[derive(Debug, Clone)]
pub struct AuthenticatedSession {
    pub user: UserRecord,
    pub session: SessionRecord,
}

/// Resolves a bearer token to its user and session, refusing expired, revoked and disabled
/// ones. A valid token's lifetime is extended: it is refreshed while the user is online.
pub async fn authenticate(
    storage: &dyn Storage,
    token: &str,
) -> Result<AuthenticatedSession, ApiError> {
    let refused = |zh: &str, en: &str| {
        ApiError::Unauthorized(Said::new(
            format!("{zh}，请重新登录"),
            format!("{en}; log in again"),
        ))
    };
    let hash = token_hash(token);
    let session = storage.session(&hash).await?;
    let Some(session) = session else {
        return Err(refused("登录信息无效", "unknown token"));
    };
    let now = now_ms();
    if session.revoked {
        return Err(refused("这次登录已被结束", "this session was revoked"));
    }
    if session.expires_at_ms < now {
        return Err(refused("登录已过期", "this session has expired"));
    }
    let user = storage
        .user(&session.username)
        .await
        .map_err(anyhow::Error::from)?;
    let Some(user) = user else {
        return Err(refused("该账号已不存在", "the account no longer exists"));
    };
    if user.disabled {
        return Err(refused("该账号已停用", "this account is disabled"));
    }
    // Every request reads the session, but writing "last seen" on each one would turn every
    // read (and each sync connection's checks) into a database write, for a time people only
    // need to the minute. So it is written at most once a [`LAST_SEEN_EVERY_MS`] per
    // session, together with the expiry (extended then too; extending needs no more).
    if now - session.last_seen_ms >= LAST_SEEN_EVERY_MS
        || session.expires_at_ms < now + TOKEN_LIFETIME_MS - 3_600_000
    {
        storage
            .touch_session(&hash, now, now + TOKEN_LIFETIME_MS)
            .await
            .map_err(anyhow::Error::from)?;
    }
    Ok(AuthenticatedSession { user, session })
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

/// Counts failed logins per key (an account name, or a client address) in storage
/// ([`Storage::count_login_attempt`]), so that every server on one database shares the counts:
/// guessing a password online takes hours per handful of tries, however many replicas answer.
///
/// An attempt is counted *before* its password is checked ([`LoginThrottle::attempt`]) and
/// given back when it turns out not to be a wrong guess ([`LoginThrottle::refund`],
/// [`LoginThrottle::succeeded`]): checking a password takes long, so guesses sent in
/// parallel would otherwise all pass the check before the first failure is counted. The
/// count is one atomic statement, so parallel attempts on any servers meet the limit too.
/// When storage cannot count, the attempt is refused ("try again"), never let through
/// uncounted.
#[derive(Debug)]
pub struct LoginThrottle {
    limit: u32,
    /// "account" or "address": the message, and the stored key's prefix.
    what: &'static str,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::per_account()
    }
}

/// The longest key stored (in bytes): a name longer than any account's still counts, by its
/// beginning, without a stranger choosing the size of a row.
const MAX_KEY_BYTES: usize = 200;

impl LoginThrottle {
    pub fn per_account() -> Self {
        Self::new(MAX_FAILED_LOGINS, "account")
    }

    pub fn per_address() -> Self {
        Self::new(MAX_FAILED_LOGINS_PER_ADDRESS, "address")
    }

    fn new(limit: u32, what: &'static str) -> Self {
        LoginThrottle { limit, what }
    }

    /// The stored key: `account:NAME` or `address:IP`, the name trimmed and lowercased.
    fn key(&self, key: &str) -> String {
        let mut key = format!("{}:{}", self.what, key.trim().to_lowercase());
        if key.len() > MAX_KEY_BYTES {
            let mut end = MAX_KEY_BYTES;
            while !key.is_char_boundary(end) {
                end -= 1;
            }
            key.truncate(end);
        }
        key
    }

    /// Counts an attempt for `key` as failed until told otherwise, or refuses it when the
    /// key has had `limit` of them in the current window (then nothing is counted). A storage
    /// error refuses it too, as unavailable (503: try again).
    pub async fn attempt(
        &self,
        storage: &dyn Storage,
        key: &str,
        now: i64,
    ) -> Result<(), ApiError> {
        let counted = storage
            .count_login_attempt(&self.key(key), self.limit, THROTTLE_WINDOW_MS, now)
            .await;
        match counted {
            Ok(LoginAttempt::Counted { .. }) => Ok(()),
            Ok(LoginAttempt::Refused { since_ms }) => {
                let minutes = ((THROTTLE_WINDOW_MS - (now - since_ms)).max(0) + 59_999) / 60_000;
                let zh_what = if self.what == "account" {
                    "该账号"
                } else {
                    "这个网络地址"
                };
                Err(ApiError::TooManyRequests(Said::new(
                    format!("{zh_what}登录失败次数太多，请 {minutes} 分钟后再试"),
                    format!(
                        "too many failed logins from this {}; try again in {minutes} minute(s)",
                        self.what
                    ),
                )))
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot count a login attempt; refusing it");
                Err(ApiError::Unavailable(Said::new(
                    "服务器暂时无法核对登录，请一分钟后再试",
                    "the server cannot check logins right now; try again in a minute",
                )))
            }
        }
    }

    /// Gives back an attempt counted by [`Self::attempt`] that was not a wrong guess (the
    /// password was right, or the server could not check it). If storage fails, the attempt
    /// stays counted (logged): erring towards the limit.
    pub async fn refund(&self, storage: &dyn Storage, key: &str) {
        if let Err(err) = storage.refund_login_attempt(&self.key(key)).await {
            tracing::warn!(error = %err, "cannot give back a login attempt");
        }
    }

    /// The right password for an account: its count starts over.
    pub async fn succeeded(&self, storage: &dyn Storage, username: &str) {
        if let Err(err) = storage.clear_login_attempts(&self.key(username)).await {
            tracing::warn!(error = %err, "cannot clear an account's failed logins");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_labels() {
        let check = |ua: &str, expected: &str| assert_eq!(device_label(ua), expected, "{ua}");
        check(
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/126.0.0.0 Mobile Safari/537.36",
            "Chrome · Android",
        );
        check(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari · iOS",
        );
        check(
            "Mozilla/5.0 (Linux; Android 13; V2196A) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5023 MMWEBSDK/20230303 \
             MicroMessenger/8.0.34.2340(0x2800225D) WeChat/arm64 Weixin NetType/WIFI",
            "WeChat · Android",
        );
        check(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Edge · Windows",
        );
        check(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0",
            "Firefox · macOS",
        );
        check("curl/8.5.0", "curl");
        check("", "");
        // Whatever is sent, the label stays short and printable.
        let hostile = format!("<script>{}\n\u{202e}", "x".repeat(500));
        let label = device_label(&hostile);
        assert!(label.chars().count() <= MAX_DEVICE_CHARS, "{label}");
        assert!(label.chars().all(|c| c.is_ascii_alphanumeric()), "{label}");
    }

    #[test]
    fn usernames() {
        for good in [
            "office",
            "school7",
            "dept-djg",
            "zhang.san",
            "a",
            "7th_school",
        ] {
            assert_eq!(check_username(good), Ok(Username::new(good)), "{good}");
        }
        let long = "a".repeat(MAX_USERNAME_CHARS + 1);
        for bad in [
            "", " office", "Office", "张三", "-x", ".x", "a b", "a/b", &long,
        ] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn roles_and_units() {
        let unit = |id: &str, kind: &str| UnitRecord {
            id: UnitId::new(id),
            name: id.to_owned(),
            kind: kind.to_owned(),
        };
        let units = [unit("pszx1", "school"), unit("jcg", "department")];
        let check = |role, id: Option<&str>| {
            check_role_unit(role, id.map(UnitId::new).as_ref(), &units).is_ok()
        };
        assert!(check(Role::Office, None));
        assert!(check(Role::Viewer, None));
        assert!(!check(Role::Office, Some("pszx1")));
        assert!(check(Role::Unit, Some("pszx1")));
        assert!(!check(Role::Unit, None));
        assert!(!check(Role::Unit, Some("jcg")));
        assert!(!check(Role::Unit, Some("nowhere")));
        assert!(check(Role::Department, Some("jcg")));
        assert!(!check(Role::Department, Some("pszx1")));
        let password = generate_password();
        assert_eq!(password.chars().count(), 12);
        assert!(check_new_password(&password).is_ok());
    }
}
