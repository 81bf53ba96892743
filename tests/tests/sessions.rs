//! Session management (issue #20) over real HTTP and WebSockets: a user's own sessions with
//! their device and last use, ending one (its sync connections close, the others stay), the
//! office ending one session of any account (audited), what other accounts get (404 for
//! someone else's session, 403 for the office's endpoints); and the audit log as `.xlsx`.

use anyhow::{Context, Result};
use rectify_server::clock::now_ms;
use rectify_server::storage::{ItemRecord, SessionRecord};
use rectify_shared::api::{AuditPage, ErrorBody, LoginResponse, SessionInfo};
use rectify_shared::ids::{DocumentId, Username};
use rectify_shared::sync::wire::CLOSE_LOG_IN_AGAIN;
use rectify_tests::sync_client::Received;
use rectify_tests::{SyncTestClient, TEST_PASSWORD, TestServer};
use reqwest::{Method, StatusCode};
use std::time::Duration;

const ANDROID_CHROME: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
                              (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";
const IPHONE_SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) \
                             AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 \
                             Mobile/15E148 Safari/604.1";

/// Logs in over HTTP as a browser with that User-Agent would.
async fn log_in(server: &TestServer, username: &str, user_agent: &str) -> Result<String> {
    let answer = reqwest::Client::new()
        .post(server.url("/api/login"))
        .header(reqwest::header::USER_AGENT, user_agent)
        .json(&serde_json::json!({"username": username, "password": TEST_PASSWORD}))
        .send()
        .await?;
    anyhow::ensure!(answer.status().is_success(), "login: {}", answer.status());
    Ok(answer.json::<LoginResponse>().await?.token)
}

async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
) -> Result<(StatusCode, Vec<u8>)> {
    let answer = reqwest::Client::new()
        .request(method, server.url(path))
        .bearer_auth(token)
        .send()
        .await?;
    Ok((answer.status(), answer.bytes().await?.to_vec()))
}

async fn sessions(server: &TestServer, path: &str, token: &str) -> Result<Vec<SessionInfo>> {
    let (status, body) = call(server, Method::GET, path, token).await?;
    anyhow::ensure!(status == StatusCode::OK, "{path}: {status}");
    Ok(serde_json::from_slice(&body)?)
}

/// A JSON error body with that status, as the rest of the API answers.
fn assert_error(answer: &(StatusCode, Vec<u8>), status: StatusCode, what: &str) {
    assert_eq!(
        answer.0,
        status,
        "{what}: {}",
        String::from_utf8_lossy(&answer.1)
    );
    let body: ErrorBody = serde_json::from_slice(&answer.1)
        .unwrap_or_else(|err| panic!("{what}: not a JSON error ({err})"));
    assert!(!body.message.is_empty(), "{what}");
}

async fn me(server: &TestServer, token: &str) -> Result<StatusCode> {
    Ok(call(server, Method::GET, "/api/me", token).await?.0)
}

async fn school1_items(server: &TestServer) -> Result<Vec<DocumentId>> {
    let campaign = server.storage.campaigns().await?.remove(0);
    let items: Vec<ItemRecord> = server.storage.items(&campaign.id).await?;
    Ok(items
        .iter()
        .filter(|r| r.units.iter().any(|u| u == "pszx1"))
        .map(|r| r.id)
        .collect())
}

async fn closed_code(client: &mut SyncTestClient) -> Result<Option<u16>> {
    for _ in 0..60 {
        if let Received::Closed = client.receive(Duration::from_secs(1)).await? {
            return Ok(client.closed_with.as_ref().map(|(code, _)| *code));
        }
    }
    anyhow::bail!("the connection stayed open")
}

/// A user lists its own sessions (device, signed in, last seen, the current one marked) and
/// ends another: that token gets 401 and its sync connection closes at once, while the
/// current session keeps working and keeps its connection. Ending the current one logs out.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_ends_its_other_session() -> Result<()> {
    let server = TestServer::start(None).await?;
    let mine = school1_items(&server).await?;
    let phone = log_in(&server, "school1", ANDROID_CHROME).await?;
    let tablet = log_in(&server, "school1", IPHONE_SAFARI).await?;

    let (status, raw) = call(&server, Method::GET, "/api/me/sessions", &phone).await?;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8_lossy(&raw);
    for secret in [&phone, &tablet] {
        assert!(!text.contains(secret.as_str()), "a token in the list");
        let hash = rectify_server::accounts::token_hash(secret);
        assert!(!text.contains(&hash), "a token's hash in the list");
    }
    let list: Vec<SessionInfo> = serde_json::from_slice(&raw)?;
    let mut devices: Vec<(&str, bool)> = list
        .iter()
        .map(|s| (s.device.as_str(), s.current))
        .collect();
    devices.sort();
    assert_eq!(
        devices,
        [("Chrome · Android", true), ("Safari · iOS", false)]
    );
    for s in &list {
        assert!(
            s.created_at_ms > 0 && s.last_seen_ms >= s.created_at_ms,
            "{s:?}"
        );
    }
    let tablet_id = list
        .iter()
        .find(|s| !s.current)
        .context("the tablet")?
        .id
        .clone();
    let phone_id = list
        .iter()
        .find(|s| s.current)
        .context("the phone")?
        .id
        .clone();

    let mut phone_sync = SyncTestClient::connect(&server.ws_base(), &phone).await?;
    phone_sync.fetch(mine[0], Duration::from_secs(30)).await?;
    let mut tablet_sync = SyncTestClient::connect(&server.ws_base(), &tablet).await?;
    tablet_sync.fetch(mine[0], Duration::from_secs(30)).await?;

    let path = format!("/api/me/sessions/{tablet_id}");
    let (status, _) = call(&server, Method::DELETE, &path, &phone).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        closed_code(&mut tablet_sync).await?,
        Some(CLOSE_LOG_IN_AGAIN)
    );
    assert_eq!(me(&server, &tablet).await?, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&server, &phone).await?, StatusCode::OK);
    phone_sync.fetch(mine[1], Duration::from_secs(30)).await?;
    assert!(
        phone_sync.is_open(),
        "the current session's connection stays"
    );
    let left = sessions(&server, "/api/me/sessions", &phone).await?;
    assert_eq!(left.iter().map(|s| &s.id).collect::<Vec<_>>(), [&phone_id]);

    // Ended already, or never there: 404 with a JSON error.
    assert_error(
        &call(&server, Method::DELETE, &path, &phone).await?,
        StatusCode::NOT_FOUND,
        "again",
    );
    assert_error(
        &call(
            &server,
            Method::DELETE,
            "/api/me/sessions/no-such-id",
            &phone,
        )
        .await?,
        StatusCode::NOT_FOUND,
        "unknown",
    );

    // Ending the current one is logging out.
    let path = format!("/api/me/sessions/{phone_id}");
    let (status, _) = call(&server, Method::DELETE, &path, &phone).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        closed_code(&mut phone_sync).await?,
        Some(CLOSE_LOG_IN_AGAIN)
    );
    assert_eq!(me(&server, &phone).await?, StatusCode::UNAUTHORIZED);
    Ok(())
}

/// Another account's session id answers 404 (as an unknown one: its existence is not told)
/// and ends nothing; a school cannot call the office's session endpoints (403).
#[tokio::test(flavor = "multi_thread")]
async fn another_accounts_session_is_not_found() -> Result<()> {
    let server = TestServer::start(None).await?;
    let school1 = log_in(&server, "school1", ANDROID_CHROME).await?;
    let school2 = log_in(&server, "school2", IPHONE_SAFARI).await?;
    let id = sessions(&server, "/api/me/sessions", &school1).await?[0]
        .id
        .clone();

    let answer = call(
        &server,
        Method::DELETE,
        &format!("/api/me/sessions/{id}"),
        &school2,
    )
    .await?;
    assert_error(&answer, StatusCode::NOT_FOUND, "someone else's session");
    assert_eq!(
        me(&server, &school1).await?,
        StatusCode::OK,
        "it was not ended"
    );
    let theirs = sessions(&server, "/api/me/sessions", &school2).await?;
    assert_eq!(theirs.len(), 1, "only its own: {theirs:?}");
    assert_eq!(theirs[0].device, "Safari · iOS");

    for (method, path) in [
        (Method::GET, "/api/accounts/school1/sessions".to_owned()),
        (
            Method::DELETE,
            format!("/api/accounts/school1/sessions/{id}"),
        ),
    ] {
        let answer = call(&server, method, &path, &school2).await?;
        assert_error(&answer, StatusCode::FORBIDDEN, &path);
    }
    assert_eq!(me(&server, &school1).await?, StatusCode::OK);
    Ok(())
}

/// The office lists an account's sessions and ends one (a lost phone): that session's sync
/// connection closes, the account's other session keeps working, and the audit log says who
/// ended which. A session under the wrong account is 404 and ends nothing.
#[tokio::test(flavor = "multi_thread")]
async fn the_office_ends_one_session_audited() -> Result<()> {
    let server = TestServer::start(None).await?;
    let mine = school1_items(&server).await?;
    let office = server.token("office").await?;
    let lost = log_in(&server, "school1", ANDROID_CHROME).await?;
    let kept = log_in(&server, "school1", IPHONE_SAFARI).await?;
    let mut lost_sync = SyncTestClient::connect(&server.ws_base(), &lost).await?;
    lost_sync.fetch(mine[0], Duration::from_secs(30)).await?;
    let mut kept_sync = SyncTestClient::connect(&server.ws_base(), &kept).await?;
    kept_sync.fetch(mine[0], Duration::from_secs(30)).await?;

    let list = sessions(&server, "/api/accounts/school1/sessions", &office).await?;
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list.iter().all(|s| !s.current), "none is the office's own");
    let phone = list
        .iter()
        .find(|s| s.device == "Chrome · Android")
        .context("phone")?;

    let wrong = format!("/api/accounts/school2/sessions/{}", phone.id);
    assert_error(
        &call(&server, Method::DELETE, &wrong, &office).await?,
        StatusCode::NOT_FOUND,
        "wrong account",
    );
    let nobody = format!("/api/accounts/nobody/sessions/{}", phone.id);
    assert_error(
        &call(&server, Method::DELETE, &nobody, &office).await?,
        StatusCode::NOT_FOUND,
        "no account",
    );
    assert_eq!(
        me(&server, &lost).await?,
        StatusCode::OK,
        "nothing ended yet"
    );

    let path = format!("/api/accounts/school1/sessions/{}", phone.id);
    let (status, _) = call(&server, Method::DELETE, &path, &office).await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(closed_code(&mut lost_sync).await?, Some(CLOSE_LOG_IN_AGAIN));
    assert_eq!(me(&server, &lost).await?, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&server, &kept).await?, StatusCode::OK);
    kept_sync.fetch(mine[1], Duration::from_secs(30)).await?;
    assert!(kept_sync.is_open());

    let (status, body) = call(
        &server,
        Method::GET,
        "/api/audit?action=session_ended",
        &office,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let page: AuditPage = serde_json::from_slice(&body)?;
    assert_eq!(page.entries.len(), 1, "{page:?}");
    let entry = &page.entries[0];
    assert_eq!(
        (entry.account.as_str(), entry.target.as_str()),
        ("office", "school1")
    );
    assert_eq!(entry.detail, format!("Chrome · Android ({})", phone.id));
    Ok(())
}

/// "Last seen" is written at most about once a minute per session: a request within the
/// minute writes nothing, one after it records the time. A session stored before devices
/// were recorded lists with an empty device (the client shows "unknown device").
#[tokio::test(flavor = "multi_thread")]
async fn last_seen_is_written_at_most_once_a_minute() -> Result<()> {
    let server = TestServer::start(None).await?;
    let token = "an-old-session-token-0123456789abcdef".to_owned();
    let hash = rectify_server::accounts::token_hash(&token);
    let now = now_ms();
    let old = SessionRecord {
        token_hash: hash.clone(),
        id: rectify_server::accounts::new_session_id(),
        username: Username::new("school1"),
        device: String::new(),
        created_at_ms: now - 3_600_000,
        last_seen_ms: now - 30_000,
        expires_at_ms: now + rectify_server::accounts::TOKEN_LIFETIME_MS,
        revoked: false,
    };
    server.storage.create_session(&old).await?;
    assert_eq!(me(&server, &token).await?, StatusCode::OK);
    let seen = server.storage.session(&hash).await?.context("stored")?;
    assert_eq!(
        seen.last_seen_ms, old.last_seen_ms,
        "written within the minute"
    );

    let stale_token = "another-old-session-token-0123456789";
    let stale = SessionRecord {
        token_hash: rectify_server::accounts::token_hash(stale_token),
        id: rectify_server::accounts::new_session_id(),
        last_seen_ms: now - 61_000,
        ..old.clone()
    };
    server.storage.create_session(&stale).await?;
    let before = now_ms();
    assert_eq!(me(&server, stale_token).await?, StatusCode::OK);
    let seen = server
        .storage
        .session(&stale.token_hash)
        .await?
        .context("stored")?;
    assert!(
        seen.last_seen_ms >= before,
        "not recorded after a minute: {seen:?}"
    );

    let list = sessions(&server, "/api/me/sessions", &token).await?;
    let listed = list
        .iter()
        .find(|s| s.id == old.id)
        .context("the old session")?;
    assert_eq!(listed.device, "", "unknown device");
    assert!(listed.current);
    Ok(())
}

/// Issue #20: a device that only syncs is seen. Frames on an open sync connection write the
/// session's "last seen" once it is a minute old, as an HTTP request does, and not again within
/// the minute. The session starts 55 s old, so the upgrade itself writes nothing; the frames
/// sent 6 s later do.
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_an_open_sync_connection_keeps_its_session_seen() -> Result<()> {
    let server = TestServer::start(None).await?;
    let token = "a-phone-that-only-syncs-0123456789abcdef".to_owned();
    let hash = rectify_server::accounts::token_hash(&token);
    let now = now_ms();
    let old = SessionRecord {
        token_hash: hash.clone(),
        id: rectify_server::accounts::new_session_id(),
        username: Username::new("school1"),
        device: String::new(),
        created_at_ms: now - 3_600_000,
        last_seen_ms: now - 55_000,
        expires_at_ms: now + rectify_server::accounts::TOKEN_LIFETIME_MS,
        revoked: false,
    };
    server.storage.create_session(&old).await?;
    let record = server
        .storage
        .items(&server.storage.campaigns().await?[0].id)
        .await?
        .into_iter()
        .find(|r| r.units.iter().any(|u| u == "pszx1"))
        .context("an item of school1")?;
    let mut sync = SyncTestClient::connect(&server.ws_base(), &token).await?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let sent = now_ms();
    sync.fetch(record.id, Duration::from_secs(30)).await?;
    let seen = server.storage.session(&hash).await?.context("stored")?;
    assert!(
        seen.last_seen_ms >= sent,
        "the sync frames were not noted: last seen {} ms before they were sent",
        sent - seen.last_seen_ms
    );
    assert!(seen.expires_at_ms > old.expires_at_ms, "{seen:?}");
    // Within the minute, more frames write nothing.
    sync.fetch(record.id, Duration::from_secs(30)).await?;
    sync.settle().await?;
    let again = server.storage.session(&hash).await?.context("stored")?;
    assert_eq!(again.last_seen_ms, seen.last_seen_ms);
    // The devices list shows it as just seen.
    let list = sessions(&server, "/api/me/sessions", &token).await?;
    let listed = list.iter().find(|s| s.id == old.id).context("listed")?;
    assert!(listed.last_seen_ms >= sent, "{listed:?}");
    Ok(())
}

/// `GET /api/audit.xlsx`: the same rows as the CSV for the same filter, readable by a
/// spreadsheet; a bad filter is a JSON 400 and a school gets 403.
#[tokio::test(flavor = "multi_thread")]
async fn the_audit_log_as_xlsx_has_the_csv_rows() -> Result<()> {
    use calamine::{Reader, Xlsx, open_workbook_from_rs};
    let server = TestServer::start(None).await?;
    let office = server.token("office").await?;
    for account in ["school1", "school2"] {
        let path = format!("/api/accounts/{account}/sessions/revoke");
        call(&server, Method::POST, &path, &office).await?;
    }
    // One that the filter leaves out.
    call(
        &server,
        Method::POST,
        "/api/accounts/school1/password",
        &office,
    )
    .await?;
    let filter = "action=sessions_revoked";
    let (status, csv) = call(
        &server,
        Method::GET,
        &format!("/api/audit.csv?{filter}"),
        &office,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    let (status, xlsx) = call(
        &server,
        Method::GET,
        &format!("/api/audit.xlsx?{filter}"),
        &office,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);

    let csv = String::from_utf8(csv)?;
    let csv_rows: Vec<Vec<String>> = csv
        .trim_start_matches('\u{feff}')
        .lines()
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect();
    let mut workbook: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(xlsx))?;
    assert_eq!(workbook.sheet_names(), ["审计日志"]);
    let range = workbook.worksheet_range("审计日志")?;
    let xlsx_rows: Vec<Vec<String>> = range
        .rows()
        .map(|row| row.iter().map(|cell| cell.to_string()).collect())
        .collect();
    assert_eq!(xlsx_rows, csv_rows);
    assert_eq!(
        xlsx_rows.len(),
        3,
        "a header and two revocations: {xlsx_rows:?}"
    );
    assert_eq!(xlsx_rows[1][5], "school2", "newest first");
    // A time people read, in China (UTC+8), beside the milliseconds programs read.
    assert_eq!(xlsx_rows[0][1..3], ["time (Asia/Shanghai)", "at_ms"]);
    for row in &xlsx_rows[1..] {
        let at_ms: i64 = row[2].parse()?;
        let china = at_ms + 8 * 3_600_000;
        let date = rectify_shared::date::Date::from_unix_millis(china);
        let second = china.div_euclid(1000).rem_euclid(86_400);
        let expected = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            date.year,
            date.month,
            date.day,
            second / 3600,
            second / 60 % 60,
            second % 60
        );
        assert_eq!(row[1], expected, "{row:?}");
    }

    let bad = call(
        &server,
        Method::GET,
        "/api/audit.xlsx?action=nothing",
        &office,
    )
    .await?;
    assert_error(&bad, StatusCode::BAD_REQUEST, "an unknown action");
    let school = server.token("school2").await?;
    let refused = call(&server, Method::GET, "/api/audit.xlsx", &school).await?;
    assert_error(&refused, StatusCode::FORBIDDEN, "a school");
    Ok(())
}
