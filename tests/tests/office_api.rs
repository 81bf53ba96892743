//! The office's HTTP API (`docs/office-api.md`) over real HTTP against the in-process server
//! with the demo data: who may call what, accounts, the ledger and report files, importing a
//! report from the browser, adding an item by hand, and an item's history after edits over
//! the sync WebSocket.

use anyhow::{Context, Result, ensure};
use rectify_server::clock::now_ms;
use rectify_server::storage::ItemRecord;
use rectify_shared::api::{
    AccountCreated, AccountInfo, CampaignInfo, ErrorBody, ImportPreview, ItemHistory, ItemSummary,
    LoginResponse, ReportText, SessionsRevoked, UnitInfo,
};
use rectify_shared::ids::{DocumentId, UnitId};
use rectify_shared::model::{self, EditContext, ItemEdit, MeasureText};
use rectify_shared::policy::{Actor, Role};
use rectify_shared::status::PublicStatus;
use rectify_shared::workflow::UnitStatus;
use rectify_tests::{SyncTestClient, TestServer};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

/// The real report the demo campaign is imported from (the same bytes as
/// `/work/shared/data/pengshan-edu-inspection-rectification-2024.txt`).
const REPORT: &str = include_str!("../../shared/tests/data/pengshan-2024.txt");
/// Leaf items in [`REPORT`].
const REPORT_ITEMS: usize = 53;

/// A request's body.
enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>),
}

/// Makes a row's body afresh for each caller.
type MakeBody = Box<dyn Fn() -> Body>;

/// What came back.
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "not the expected JSON ({err}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The error body every refusal carries: a code, and what was wrong in English and in
    /// Chinese (the app shows the one of its language; issue #22).
    fn error(&self) -> ErrorBody {
        let body: ErrorBody = self.json();
        assert!(
            !body.code.is_empty() && !body.message.is_empty(),
            "an error body with a code and a message: {}",
            self.text()
        );
        let zh = body.message_zh.as_deref().unwrap_or_default();
        assert!(
            zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "a refusal says why in Chinese too: {}",
            self.text()
        );
        body
    }
}

/// The server and an HTTP client.
struct Api {
    server: TestServer,
    http: reqwest::Client,
}

impl Api {
    async fn start() -> Result<Api> {
        Ok(Api {
            server: TestServer::start(None).await?,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
        })
    }

    async fn call(&self, token: Option<&str>, method: Method, path: &str, body: Body) -> Reply {
        let mut request = self.http.request(method.clone(), self.server.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(&value),
            Body::Raw(bytes) => request.body(bytes),
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.bytes().await.expect("a body").to_vec(),
        }
    }

    async fn get(&self, token: &str, path: &str) -> Reply {
        self.call(Some(token), Method::GET, path, Body::None).await
    }

    async fn post(&self, token: &str, path: &str, body: Body) -> Reply {
        self.call(Some(token), Method::POST, path, body).await
    }

    async fn patch_account(&self, token: &str, username: &str, body: Value) -> Reply {
        let path = format!("/api/accounts/{username}");
        self.call(Some(token), Method::PATCH, &path, Body::Json(body))
            .await
    }

    async fn token(&self, username: &str) -> Result<String> {
        self.server.token(username).await
    }

    /// Logs in over HTTP: the token, or the refusal's status.
    async fn login(&self, username: &str, password: &str) -> Result<String, StatusCode> {
        let body = json!({ "username": username, "password": password });
        let reply = self
            .call(None, Method::POST, "/api/login", Body::Json(body))
            .await;
        if reply.status == StatusCode::OK {
            Ok(reply.json::<LoginResponse>().token)
        } else {
            Err(reply.status)
        }
    }

    async fn campaign_count(&self) -> Result<usize> {
        Ok(self.server.storage.campaigns().await?.len())
    }

    async fn campaign(&self) -> Result<DocumentId> {
        Ok(self.server.storage.campaigns().await?[0].id)
    }

    async fn items(&self) -> Result<Vec<ItemRecord>> {
        let id = self.campaign().await?;
        Ok(self.server.storage.items(&id).await?)
    }
}

/// A new item's body.
fn new_item(area: u32, problem: u32, units: &[&str], department: Option<&str>) -> Value {
    json!({
        "area_no": area,
        "area_title": "",
        "problem_no": problem,
        "problem_title": "临时增加的问题。",
        "sub_no": null,
        "title": "食堂出入库台账不规范。",
        "measures": ["建立出入库台账", "  ", "每月盘点"],
        "responsible_leader": "分管副局长",
        "responsible_department": department,
        "units": units,
        "deadline": "2026-6-30",
        "timing": "by_deadline",
    })
}

const S200: StatusCode = StatusCode::OK;
const S201: StatusCode = StatusCode::CREATED;
const S403: StatusCode = StatusCode::FORBIDDEN;
const S404: StatusCode = StatusCode::NOT_FOUND;

#[tokio::test(flavor = "multi_thread")]
async fn who_may_call_what() -> Result<()> {
    let api = Api::start().await?;
    let campaign = api.campaign().await?;
    let records = api.items().await?;
    // An item of school1 (pszx1), its department, and an item neither may read.
    let own = records
        .iter()
        .find(|r| r.units.iter().any(|u| u == "pszx1") && r.department.is_some())
        .context("the demo gives school1 items with a department")?;
    let department = own.department.clone().unwrap_or_default();
    let foreign = records
        .iter()
        .find(|r| {
            !r.units.iter().any(|u| u == "pszx1" || *u == department)
                && r.department.as_deref() != Some(department.as_str())
        })
        .context("an item neither school1 nor its department reads")?;
    let department_account = format!("dept-{department}");
    let roles = ["office", "viewer", department_account.as_str(), "school1"];
    let mut tokens = Vec::new();
    for role in roles {
        tokens.push(api.token(role).await?);
    }
    let unknown_item = DocumentId([9; 16]);
    let report = || Body::Raw(REPORT.as_bytes().to_vec());
    let c = campaign.to_string();

    let none = || Body::None;
    let rows: Vec<(Method, String, MakeBody, [StatusCode; 4])> = vec![
        (Method::GET, "/api/units".into(), Box::new(none), [S200; 4]),
        (
            Method::POST,
            "/api/units".into(),
            Box::new(|| Body::Json(json!({"id": "pszx9", "name": "彭山九中", "kind": "school"}))),
            [S201, S403, S403, S403],
        ),
        (
            Method::GET,
            "/api/accounts".into(),
            Box::new(none),
            [S200, S200, S403, S403],
        ),
        (
            Method::POST,
            "/api/accounts".into(),
            Box::new(|| {
                Body::Json(
                    json!({"username": "table-new", "display_name": "", "role": "viewer", "unit": null}),
                )
            }),
            [S201, S403, S403, S403],
        ),
        (
            Method::PATCH,
            "/api/accounts/school2".into(),
            Box::new(|| Body::Json(json!({"display_name": "彭山三中"}))),
            [S200, S403, S403, S403],
        ),
        (
            Method::PATCH,
            "/api/accounts/nobody".into(),
            Box::new(|| Body::Json(json!({}))),
            [S404, S403, S403, S403],
        ),
        (
            Method::POST,
            "/api/accounts/school2/password".into(),
            Box::new(|| Body::Json(json!({}))),
            [S200, S403, S403, S403],
        ),
        (
            Method::POST,
            "/api/accounts/school2/sessions/revoke".into(),
            Box::new(none),
            [S200, S403, S403, S403],
        ),
        (
            Method::GET,
            "/api/campaigns".into(),
            Box::new(none),
            [S200, S200, S403, S403],
        ),
        (
            Method::GET,
            format!("/api/campaigns/{c}/ledger.xlsx"),
            Box::new(none),
            [S200, S200, S403, S403],
        ),
        (
            Method::GET,
            format!("/api/campaigns/{c}/ledger.csv"),
            Box::new(none),
            [S200, S200, S403, S403],
        ),
        (
            Method::GET,
            format!("/api/campaigns/{c}/report.docx"),
            Box::new(none),
            [S200, S200, S403, S403],
        ),
        (
            Method::GET,
            format!("/api/campaigns/{c}/report.html"),
            Box::new(none),
            [S200, S200, S403, S403],
        ),
        (
            Method::GET,
            format!("/api/campaigns/{c}/report.txt"),
            Box::new(none),
            [S200, S200, S403, S403],
        ),
        (
            Method::GET,
            format!("/api/campaigns/{c}/report-text"),
            Box::new(none),
            [S200, S200, S403, S403],
        ),
        (
            Method::PUT,
            format!("/api/campaigns/{c}/report-text"),
            Box::new(|| Body::Json(json!(ReportText::default()))),
            [S200, S403, S403, S403],
        ),
        (
            Method::GET,
            format!("/api/campaigns/{unknown_item}/ledger.xlsx"),
            Box::new(none),
            [S404, S404, S403, S403],
        ),
        (
            Method::POST,
            "/api/import?dry_run=true".into(),
            Box::new(report),
            [S200, S403, S403, S403],
        ),
        (
            Method::POST,
            format!("/api/campaigns/{c}/items"),
            Box::new(|| Body::Json(new_item(1, 90, &["pszx1"], Some("jcg")))),
            [S201, S403, S403, S403],
        ),
        (
            Method::GET,
            format!("/api/items/{}/history", own.id),
            Box::new(none),
            [S200; 4],
        ),
        (
            Method::GET,
            format!("/api/items/{}/history", foreign.id),
            Box::new(none),
            [S200, S200, S404, S404],
        ),
        (
            Method::GET,
            format!("/api/items/{unknown_item}/history"),
            Box::new(none),
            [S404; 4],
        ),
        (
            Method::GET,
            "/api/items/not-an-id/history".into(),
            Box::new(none),
            [S404; 4],
        ),
        (Method::GET, "/api/items".into(), Box::new(none), [S200; 4]),
    ];

    let campaigns_before = api.campaign_count().await?;
    let mut failures = Vec::new();
    for (method, path, body, expected) in &rows {
        for ((role, token), want) in roles.iter().zip(&tokens).zip(expected) {
            let reply = api.call(Some(token), method.clone(), path, body()).await;
            if reply.status != *want {
                failures.push(format!(
                    "{method} {path} as {role}: {} (expected {want}): {}",
                    reply.status,
                    reply.text()
                ));
            } else if !reply.status.is_success() {
                let error = reply.error();
                if *want == S403 {
                    assert_eq!(error.code, "forbidden", "{method} {path} as {role}");
                    assert!(error.message.contains("only"), "{}", error.message);
                }
            }
        }
        // Nobody may call anything without logging in.
        if path != "/api/items" || *method != Method::GET {
            let reply = api.call(None, method.clone(), path, body()).await;
            if reply.status != StatusCode::UNAUTHORIZED {
                failures.push(format!(
                    "{method} {path} without a token: {} (expected 401)",
                    reply.status
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        api.campaign_count().await?,
        campaigns_before,
        "a dry run stores nothing"
    );

    // A department's item list: what it leads or is assigned, and nothing else.
    let listed: Vec<ItemSummary> = api.get(&tokens[2], "/api/items").await.json();
    let expected: Vec<String> = api
        .items()
        .await?
        .into_iter()
        .filter(|r| {
            r.department.as_deref() == Some(department.as_str()) || r.units.contains(&department)
        })
        .map(|r| r.id.to_string())
        .collect();
    let mut got: Vec<String> = listed.iter().map(|i| i.id.clone()).collect();
    let mut want = expected;
    got.sort();
    want.sort();
    assert!(!want.is_empty());
    assert_eq!(got, want, "the department's items");
    let school: Vec<ItemSummary> = api.get(&tokens[3], "/api/items").await.json();
    assert!(
        school
            .iter()
            .all(|i| i.units.contains(&UnitId::new("pszx1")))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn units_are_listed_created_and_renamed() -> Result<()> {
    let api = Api::start().await?;
    let office = api.token("office").await?;
    let school = api.token("school1").await?;
    let units: Vec<UnitInfo> = api.get(&school, "/api/units").await.json();
    assert!(
        units
            .iter()
            .any(|u| u.id.as_str() == "pszx1" && u.name == "彭山一中" && u.kind == "school")
    );
    let save = |body: Value| api.post(&office, "/api/units", Body::Json(body));
    let created = save(json!({"id": "pszx9", "name": " 彭山九中 ", "kind": "school"})).await;
    assert_eq!(created.status, S201, "{}", created.text());
    assert_eq!(created.json::<UnitInfo>().name, "彭山九中");
    let renamed = save(json!({"id": "pszx9", "name": "彭山第九中学", "kind": "school"})).await;
    assert_eq!(renamed.status, S200, "{}", renamed.text());
    let units: Vec<UnitInfo> = api.get(&school, "/api/units").await.json();
    assert!(
        units
            .iter()
            .any(|u| u.id.as_str() == "pszx9" && u.name == "彭山第九中学")
    );
    for bad in [
        json!({"id": "PSZX9", "name": "x", "kind": "school"}),
        json!({"id": "", "name": "x", "kind": "school"}),
        json!({"id": "a".repeat(33), "name": "x", "kind": "school"}),
        json!({"id": "pszx9", "name": "  ", "kind": "school"}),
        json!({"id": "pszx9", "name": "长".repeat(101), "kind": "school"}),
        json!({"id": "pszx9", "name": "x", "kind": "university"}),
        json!({"id": "pszx9", "name": "x"}),
    ] {
        let reply = save(bad.clone()).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        reply.error();
    }
    // A department with an account stays a department.
    let reply = save(json!({"id": "jcg", "name": "计财股", "kind": "school"})).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text());
    assert!(reply.error().message.contains("dept-jcg"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_round_trip() -> Result<()> {
    let api = Api::start().await?;
    let office = api.token("office").await?;

    // Created with a generated password, which logs in.
    let body =
        json!({"username": "school9", "display_name": "彭山九中", "role": "unit", "unit": "pszx2"});
    let reply = api
        .post(&office, "/api/accounts", Body::Json(body.clone()))
        .await;
    assert_eq!(reply.status, S201, "{}", reply.text());
    let created: AccountCreated = reply.json();
    let password = created.password.context("a generated password")?;
    assert_eq!(created.account.role, Role::Unit);
    assert_eq!(created.account.unit, Some(UnitId::new("pszx2")));
    assert_eq!(created.account.active_sessions, 0);
    let token = api.login("school9", &password).await.expect("logs in");
    assert_eq!(api.get(&token, "/api/me").await.status, S200);
    let accounts: Vec<AccountInfo> = api.get(&office, "/api/accounts").await.json();
    let listed = accounts
        .iter()
        .find(|a| a.username.as_str() == "school9")
        .context("listed")?;
    assert_eq!(listed.active_sessions, 1);
    assert!(!listed.disabled);

    // The same username again; bad ones.
    let again = api.post(&office, "/api/accounts", Body::Json(body)).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    again.error();
    for bad in [
        json!({"username": "School 9", "display_name": "", "role": "viewer", "unit": null}),
        json!({"username": "school10", "display_name": "", "role": "unit", "unit": null}),
        json!({"username": "school10", "display_name": "", "role": "unit", "unit": "nowhere"}),
        json!({"username": "school10", "display_name": "", "role": "department", "unit": "pszx1"}),
        json!({"username": "school10", "display_name": "", "role": "viewer", "unit": "pszx1"}),
        json!({"username": "school10", "display_name": "", "role": "viewer", "unit": null, "password": "short"}),
        json!({"username": "school10", "display_name": "", "role": "admin", "unit": null}),
    ] {
        let reply = api
            .post(&office, "/api/accounts", Body::Json(bad.clone()))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            reply.text()
        );
        reply.error();
    }
    let chosen = json!({"username": "viewer2", "display_name": "局领导", "role": "viewer", "unit": null, "password": "a-chosen-password"});
    let reply = api.post(&office, "/api/accounts", Body::Json(chosen)).await;
    assert_eq!(reply.status, S201, "{}", reply.text());
    assert_eq!(reply.json::<AccountCreated>().password, None);
    api.login("viewer2", "a-chosen-password")
        .await
        .expect("the chosen password logs in");

    // Disabled: the token stops working at once, and logging in is refused.
    let reply = api
        .patch_account(&office, "school9", json!({"disabled": true}))
        .await;
    assert_eq!(reply.status, S200, "{}", reply.text());
    let info: AccountInfo = reply.json();
    assert!(info.disabled);
    assert_eq!(info.active_sessions, 0);
    assert_eq!(
        api.get(&token, "/api/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.login("school9", &password).await,
        Err(StatusCode::FORBIDDEN)
    );
    let reply = api
        .patch_account(
            &office,
            "school9",
            json!({"disabled": false, "display_name": "彭山第九中学"}),
        )
        .await;
    let info: AccountInfo = reply.json();
    assert!(!info.disabled);
    assert_eq!(info.display_name, "彭山第九中学");
    let token = api
        .login("school9", &password)
        .await
        .expect("enabled again");
    assert_eq!(
        api.get(&token, "/api/me").await.json::<Value>()["display_name"],
        "彭山第九中学"
    );

    // The office cannot lock itself out; unknown accounts are 404.
    let reply = api
        .patch_account(&office, "office", json!({"disabled": true}))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert!(reply.error().message.contains("your own account"));
    assert_eq!(api.get(&office, "/api/me").await.status, S200);
    assert_eq!(
        api.patch_account(&office, "nobody", json!({})).await.status,
        S404
    );
    assert_eq!(
        api.post(&office, "/api/accounts/nobody/password", Body::None)
            .await
            .status,
        S404
    );
    assert_eq!(
        api.post(&office, "/api/accounts/nobody/sessions/revoke", Body::None)
            .await
            .status,
        S404
    );

    // A new password (generated, without a body): old sessions end, the new one logs in.
    let reply = api
        .post(&office, "/api/accounts/school9/password", Body::None)
        .await;
    assert_eq!(reply.status, S200, "{}", reply.text());
    let reset: AccountCreated = reply.json();
    let new_password = reset.password.context("generated")?;
    assert_ne!(new_password, password);
    assert_eq!(
        api.get(&token, "/api/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.login("school9", &password).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    let token = api
        .login("school9", &new_password)
        .await
        .expect("new password");
    let short = api
        .post(
            &office,
            "/api/accounts/school9/password",
            Body::Json(json!({"password": "short"})),
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        api.get(&token, "/api/me").await.status,
        S200,
        "a refused reset changes nothing"
    );

    // A lost phone: every session ends, the password stays.
    let second = api
        .login("school9", &new_password)
        .await
        .expect("second device");
    let reply = api
        .post(&office, "/api/accounts/school9/sessions/revoke", Body::None)
        .await;
    assert_eq!(reply.json::<SessionsRevoked>().revoked, 2);
    for token in [&token, &second] {
        assert_eq!(
            api.get(token, "/api/me").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    api.login("school9", &new_password)
        .await
        .expect("the password stays");

    // A body that is not JSON of the right shape is a JSON error too.
    let reply = api
        .post(&office, "/api/accounts", Body::Raw(b"{not json".to_vec()))
        .await;
    assert!(reply.status.is_client_error(), "{}", reply.status);
    reply.error();
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ledger_and_the_report_download_like_the_command_line_writes_them() -> Result<()> {
    use calamine::Reader;
    let api = Api::start().await?;
    let viewer = api.token("viewer").await?;
    let campaigns: Vec<CampaignInfo> = api.get(&viewer, "/api/campaigns").await.json();
    assert_eq!(campaigns.len(), 1);
    let campaign = &campaigns[0];
    assert_eq!(campaign.items, REPORT_ITEMS);
    assert!(
        campaign.name.contains("区委第三巡察组"),
        "{}",
        campaign.name
    );
    let path = |file: &str| format!("/api/campaigns/{}/{file}", campaign.id);

    // XLSX: exactly the 53 items, item 7(2) with its title.
    let xlsx = api.get(&viewer, &path("ledger.xlsx")).await;
    assert_eq!(xlsx.status, S200);
    assert_eq!(
        xlsx.header("content-type"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(xlsx.header("cache-control"), "no-store");
    let disposition = xlsx.header("content-disposition");
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    // The campaign's name, 台账, today's date.
    let encoded_name: String = format!("{}台账-", campaign.name)
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    assert!(
        disposition.contains(&format!("filename*=UTF-8''{encoded_name}")),
        "{disposition}"
    );
    assert!(disposition.ends_with(".xlsx"), "{disposition}");
    let mut workbook = calamine::Xlsx::new(std::io::Cursor::new(xlsx.body.clone()))?;
    let range = workbook.worksheet_range("台账")?;
    let rows: Vec<Vec<String>> = range
        .rows()
        .map(|row| row.iter().map(ToString::to_string).collect())
        .collect();
    let header = rows
        .iter()
        .position(|r| r.iter().any(|c| c == "存在问题"))
        .context("a header row")?;
    let column = |label: &str| rows[header].iter().position(|c| c == label).unwrap();
    let (number, title) = (column("事项序号"), column("存在问题"));
    let data: Vec<&Vec<String>> = rows[header + 1..]
        .iter()
        .filter(|r| r.iter().any(|c| !c.is_empty()))
        .collect();
    assert_eq!(data.len(), REPORT_ITEMS, "one row per item");
    let matching: Vec<_> = data
        .iter()
        .filter(|r| r[number] == "7(2)" && r[title] == "采购项目管理制度不完善。")
        .collect();
    assert_eq!(matching.len(), 1, "item 7(2)");

    // The second sheet: each assigned unit's work on each item, who signed it off and when.
    let storage = api.server.storage.as_ref();
    let record = rectify_server::campaigns::choose_campaign(storage, None).await?;
    let loaded = rectify_server::campaigns::load_campaign(storage, record).await?;
    let assignments: usize = loaded.item_docs().iter().map(|i| i.units.len()).sum();
    let units = workbook.worksheet_range("各单位")?;
    let rows: Vec<Vec<String>> = units
        .rows()
        .map(|row| row.iter().map(ToString::to_string).collect())
        .collect();
    let header = rows
        .iter()
        .position(|r| r.first().map(String::as_str) == Some("责任单位"))
        .context("the per-unit header row")?;
    let column = |label: &str| rows[header].iter().position(|c| c == label).unwrap();
    let (state, by, at) = (column("单位状态"), column("销号人"), column("销号时间"));
    let data = &rows[header + 1..];
    assert_eq!(
        data.len(),
        assignments,
        "one row per assigned unit of each item"
    );
    let signed_off: Vec<_> = data.iter().filter(|r| r[state] == "已销号").collect();
    assert!(!signed_off.is_empty(), "the demo has signed-off work");
    for row in &signed_off {
        assert!(!row[by].is_empty() && row[at].len() == 16, "{row:?}");
    }
    for row in data.iter().filter(|r| r[state] != "已销号") {
        assert!(row[by].is_empty() && row[at].is_empty(), "{row:?}");
    }

    // CSV: a header and 53 rows.
    let csv = api.get(&viewer, &path("ledger.csv")).await;
    assert_eq!(csv.status, S200);
    assert_eq!(csv.header("content-type"), "text/csv; charset=utf-8");
    assert!(csv.header("content-disposition").ends_with(".csv"));
    let text = csv.text();
    let lines: Vec<&str> = text.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 1 + REPORT_ITEMS, "a header and 53 rows");
    // Chinese headers for the clerk; the column keys for a program that asks.
    assert!(
        lines[0].starts_with("\u{feff}方面,方面名称,"),
        "{}",
        lines[0]
    );
    let keys = api.get(&viewer, &path("ledger.csv?lang=en")).await;
    assert!(keys.text().starts_with("\u{feff}area,area_title,"));
    assert_eq!(
        keys.text().split("\r\n").skip(1).collect::<Vec<_>>(),
        text.split("\r\n").skip(1).collect::<Vec<_>>(),
        "the same rows"
    );
    let odd = api.get(&viewer, &path("ledger.csv?lang=fr")).await;
    assert_eq!(odd.status, StatusCode::BAD_REQUEST);
    assert!(odd.error().message.contains("lang=en"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains(",7,7(2),采购项目管理制度不完善。,"))
    );

    // DOCX: a Word document.
    let docx = api.get(&viewer, &path("report.docx")).await;
    assert_eq!(docx.status, S200);
    assert_eq!(
        docx.header("content-type"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    );
    assert!(
        docx.header("content-disposition")
            .contains("%E6%8A%A5%E5%91%8A-")
    ); // 报告-
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(docx.body.clone()))?;
    let mut document = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("word/document.xml")?, &mut document)?;
    assert!(document.contains("采购项目管理制度不完善"));

    // HTML and text: the heading of the report.
    let html = api.get(&viewer, &path("report.html")).await;
    assert_eq!(html.header("content-type"), "text/html; charset=utf-8");
    // Opened in the browser, not downloaded.
    assert!(html.header("content-disposition").starts_with("inline;"));
    assert!(
        html.text()
            .contains("关于区委第三巡察组巡察反馈意见整改情况的通报</h1>"),
        "{}",
        &html.text()[..500.min(html.body.len())]
    );
    let txt = api.get(&viewer, &path("report.txt")).await;
    assert_eq!(txt.header("content-type"), "text/plain; charset=utf-8");
    assert_eq!(txt.header("cache-control"), "no-store");
    let txt = txt.text();
    assert!(txt.contains(rectify_shared::report::text::ITEMS_SECTION));
    assert!(txt.contains("区委第三巡察组"));

    // The same bytes as the command line's builders (one code path for both).
    assert_eq!(
        txt.as_bytes(),
        loaded.report_file(rectify_server::campaigns::ReportFormat::Txt)?
    );
    assert_eq!(
        csv.body,
        loaded.ledger_file(
            rectify_server::campaigns::LedgerFormat::Csv,
            rectify_shared::ledger::Headers::Chinese
        )?
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_imports_from_the_browser() -> Result<()> {
    let api = Api::start().await?;
    let office = api.token("office").await?;
    let existing = api.campaign().await?;

    // A dry run: the numbers and warnings, nothing stored.
    let reply = api
        .post(
            &office,
            "/api/import?dry_run=true",
            Body::Raw(REPORT.as_bytes().to_vec()),
        )
        .await;
    assert_eq!(reply.status, S200, "{}", reply.text());
    let preview: ImportPreview = reply.json();
    assert_eq!(
        (preview.areas, preview.problems, preview.items),
        (3, 24, REPORT_ITEMS)
    );
    assert_eq!(
        (preview.done, preview.done_long_term, preview.in_progress),
        (24, 20, 9)
    );
    assert!(
        preview
            .warnings
            .iter()
            .any(|w| w.line == 115 && w.message.contains("sub-problem (2) of problem 7")),
        "{:?}",
        preview.warnings
    );
    // The office reads the app in Chinese: each warning says it in Chinese too.
    for warning in &preview.warnings {
        assert!(
            !warning.message_zh.is_empty() && !warning.message_zh.contains("problem"),
            "{warning:?}"
        );
    }
    assert!(
        preview
            .warnings
            .iter()
            .any(|w| w.line == 115 && w.message_zh.contains("第7个问题的第(2)项")),
        "{:?}",
        preview.warnings
    );
    assert!(!preview.stored);
    assert_eq!(preview.campaign, None);
    assert_eq!(api.campaign_count().await?, 1);

    // The report as .docx (the server's own) previews the same.
    let docx = api
        .get(&office, &format!("/api/campaigns/{existing}/report.docx"))
        .await;
    let reply = api
        .post(&office, "/api/import?dry_run=1", Body::Raw(docx.body))
        .await;
    assert_eq!(reply.status, S200, "{}", reply.text());
    assert_eq!(reply.json::<ImportPreview>().items, REPORT_ITEMS);

    // What cannot be read is refused with the importer's message; nothing changes.
    let zip_garbage = b"PK\x03\x04 not really a zip archive".to_vec();
    let binary: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 256) as u8).collect();
    for (what, body, says, says_zh) in [
        ("empty", Vec::new(), "empty", "文件是空的"),
        ("binary", binary, "binary", "二进制数据"),
        (
            "a broken .docx",
            zip_garbage,
            "not imported",
            "不是 .docx 文件",
        ),
        (
            "plain text",
            "你好，世界\n".as_bytes().to_vec(),
            "no rectification items",
            "没有找到整改事项",
        ),
    ] {
        for query in ["", "?dry_run=true"] {
            let reply = api
                .post(
                    &office,
                    &format!("/api/import{query}"),
                    Body::Raw(body.clone()),
                )
                .await;
            assert_eq!(
                reply.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{what}: {}",
                reply.text()
            );
            let error = reply.error();
            assert!(
                error.message.to_lowercase().contains(says),
                "{what}: {}",
                error.message
            );
            let zh = error.message_zh.unwrap_or_default();
            assert!(
                zh.starts_with("文件未导入") && zh.contains(says_zh),
                "{what}: {zh}"
            );
        }
    }
    let reply = api
        .post(
            &office,
            "/api/import?dry_run=maybe",
            Body::Raw(REPORT.into()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(api.campaign_count().await?, 1);

    // Too large: 413 with a message, nothing read.
    let huge = vec![b'a'; rectify_server::office::import::MAX_IMPORT_BYTES + 1];
    let reply = api.post(&office, "/api/import", Body::Raw(huge)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.error().message.contains("20 MiB"));

    // The same report again: stored into the same campaign, nothing changes.
    let reply = api
        .post(&office, "/api/import", Body::Raw(REPORT.into()))
        .await;
    assert_eq!(reply.status, S200, "{}", reply.text());
    let again: ImportPreview = reply.json();
    assert!(again.stored);
    assert_eq!(again.campaign, Some(existing.to_string()));
    assert_eq!(
        (
            again.items_created,
            again.items_updated,
            again.items_unchanged
        ),
        (0, 0, REPORT_ITEMS)
    );

    // Another inspection round: a new campaign with its 53 items.
    let other = REPORT.replace("区委第三巡察组", "区委第四巡察组");
    let reply = api
        .post(&office, "/api/import", Body::Raw(other.into_bytes()))
        .await;
    assert_eq!(reply.status, S200, "{}", reply.text());
    let stored: ImportPreview = reply.json();
    assert!(stored.stored);
    assert_eq!(stored.items_created, REPORT_ITEMS);
    assert!(stored.campaign_name.contains("区委第四巡察组"));
    let campaigns: Vec<CampaignInfo> = api.get(&office, "/api/campaigns").await.json();
    assert_eq!(campaigns.len(), 2);
    let new = campaigns
        .iter()
        .find(|c| Some(&c.id) == stored.campaign.as_ref())
        .context("the new campaign is listed")?;
    assert_eq!(new.items, REPORT_ITEMS);
    Ok(())
}

/// A re-import brings the report's words in but leaves what the app's workflow decided: it
/// closes no item whose units are not all signed off, reopens no item closed in the app, and
/// keeps a 整改情况 the office edited in the app since the last import; the office is told
/// each of these. Where nothing was decided in the app, the report's text comes in.
#[tokio::test(flavor = "multi_thread")]
async fn a_re_import_leaves_what_the_app_decided() -> Result<()> {
    let api = Api::start().await?;
    let office = api.token("office").await?;
    let records = api.items().await?;
    let by_title = |title: &str| {
        records
            .iter()
            .find(|r| r.title == title)
            .cloned()
            .with_context(|| format!("item {title}"))
    };
    // 1(1) and 1(2) are closed with every unit signed off; 2(1) is open.
    let edited = by_title("专职党组织负责人未及时配置。")?;
    let reopened = by_title("学校党组织领导作用发挥不到位。")?;
    let closed = by_title("公办幼儿园在园幼儿占比低。")?;
    assert_eq!(closed.status, PublicStatus::InProgress);
    assert!(edited.status.is_done() && reopened.status.is_done());

    // The office corrects 1(1)'s 整改情况 in the app.
    let stored = api.server.item(&edited.id.to_string()).await?;
    let as_office = EditContext {
        actor: Actor {
            role: Role::Office,
            unit: None,
        },
        user: "office".into(),
        now_ms: now_ms(),
    };
    let define = ItemEdit::Define {
        title: stored.title.as_str().to_owned(),
        measures: stored
            .measures
            .iter()
            .map(|m| MeasureText::existing(&m.id, m.text.as_str()))
            .collect(),
        narrative: "办公室核实后更正的整改情况。".into(),
    };
    rectify_server::campaigns::edit_item(api.server.storage.as_ref(), &edited, &as_office, define)
        .await?;

    // The bureau's next report: 1(1)'s words differ, 1(2) says 正在整改中 with new words, 2(1)
    // says 整改完成.
    let mut lines: Vec<String> = REPORT.lines().map(str::to_owned).collect();
    let line_of = |lines: &[String], start: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(start))
            .context("a line")
    };
    let first = line_of(&lines, "(1)专职党组织负责人未及时配置。")?;
    lines[first + 1] = lines[first + 1].replacen("一是区委组织部已于", "一是区委组织部于", 1);
    let second = line_of(&lines, "(2)学校党组织领导作用发挥不到位。")?;
    lines[second + 1] = lines[second + 1].replacen("一是", "一是（回头看）", 1);
    lines[second + 2] = "整改进度:正在整改中。".to_owned();
    let third = line_of(&lines, "(1)公办幼儿园在园幼儿占比低。")?;
    ensure!(lines[third + 2] == "整改进度:正在整改中。");
    lines[third + 2] = "整改进度:整改完成。".to_owned();
    let report = lines.join("\n") + "\n";

    let reply = api
        .post(&office, "/api/import", Body::Raw(report.into_bytes()))
        .await;
    assert_eq!(reply.status, S200, "{}", reply.text());
    let outcome: ImportPreview = reply.json();
    let left: Vec<(&str, &str)> = outcome
        .left_alone
        .iter()
        .map(|l| (l.key.as_str(), l.field.as_str()))
        .collect();
    assert_eq!(
        left,
        [
            (edited.key.as_str(), "narrative"),
            (reopened.key.as_str(), "status"),
            (closed.key.as_str(), "status"),
        ],
        "{:#?}",
        outcome.left_alone
    );
    let why = |key: &str| {
        outcome
            .left_alone
            .iter()
            .find(|l| l.key == key)
            .map(|l| l.why.clone())
            .unwrap_or_default()
    };
    assert!(why(&closed.key).contains("未销号"), "{}", why(&closed.key));
    assert!(
        why(&reopened.key).contains("不能重新打开"),
        "{}",
        why(&reopened.key)
    );
    assert!(
        why(&edited.key).contains("保留系统中的文字"),
        "{}",
        why(&edited.key)
    );

    assert_eq!(
        api.server
            .item(&edited.id.to_string())
            .await?
            .narrative
            .as_str(),
        "办公室核实后更正的整改情况。"
    );
    let reopened_now = api.server.item(&reopened.id.to_string()).await?;
    assert!(reopened_now.status.is_done(), "still closed");
    assert!(
        reopened_now.narrative.as_str().contains("一是（回头看）"),
        "the report's new words came in where the app had not changed them"
    );
    assert_eq!(
        api.server.item(&closed.id.to_string()).await?.status,
        PublicStatus::InProgress
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_office_writes_the_reports_own_text() -> Result<()> {
    async fn put(api: &Api, token: &str, path: &str, text: &ReportText) -> Reply {
        api.call(Some(token), Method::PUT, path, Body::Json(json!(text)))
            .await
    }
    let api = Api::start().await?;
    let (office, viewer) = (api.token("office").await?, api.token("viewer").await?);
    let path = format!("/api/campaigns/{}/report-text", api.campaign().await?);
    // The demo's report, imported: every part but the title, which it does not have.
    let reply = api.get(&viewer, &path).await;
    assert_eq!(reply.status, S200, "{}", reply.text());
    let mut text: ReportText = reply.json();
    assert_eq!(text.title, "");
    assert_eq!(text.organisation.heading, "整改工作开展情况");
    assert!(text.results.body.starts_with("针对巡察反馈问题"));
    assert!(text.next_steps.body.ends_with("psjtjdjg37631849@163.com。"));
    assert_eq!(text.published.as_deref(), Some("2024-03-27"));

    text.title = "中共眉山市彭山区教育和体育局委员会关于巡察整改情况的通报".to_owned();
    text.results.body.push_str("\n(五)新增一段成效。");
    let reply = put(&api, &office, &path, &text).await;
    assert_eq!(reply.status, S200, "{}", reply.text());
    assert_eq!(reply.json::<ReportText>(), text);
    let txt = api
        .get(&office, &path.replace("report-text", "report.txt"))
        .await
        .text();
    assert!(
        txt.starts_with(&format!("{}\n根据区委统一部署", text.title)),
        "{txt}"
    );
    assert!(
        txt.contains("(五)新增一段成效。\n四、下一步工作打算\n"),
        "{txt}"
    );

    // Refused: a date that is not one (nothing changes), and anyone but the office.
    let mut bad = text.clone();
    bad.published = Some("2024-13-01".to_owned());
    let reply = put(&api, &office, &path, &bad).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.error().message.contains("'2024-13-01' is not a date"));
    assert_eq!(put(&api, &viewer, &path, &text).await.status, S403);
    assert_eq!(api.get(&office, &path).await.json::<ReportText>(), text);

    // Importing the report again keeps what it lacks (the title) and restores its own text.
    let reply = api
        .post(
            &office,
            "/api/import",
            Body::Raw(REPORT.as_bytes().to_vec()),
        )
        .await;
    assert_eq!(reply.status, S200, "{}", reply.text());
    let after: ReportText = api.get(&office, &path).await.json();
    assert_eq!(after.title, text.title);
    assert!(!after.results.body.contains("新增一段成效"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_updated_report_reaches_items_open_on_sync_connections() -> Result<()> {
    let api = Api::start().await?;
    let office = api.token("office").await?;
    let (old, new) = ("采购项目管理制度不完善。", "采购项目管理制度不够完善。");
    let record = api
        .items()
        .await?
        .into_iter()
        .find(|r| r.title == old)
        .context("item 7(2)")?;
    let id = record.id;
    let mut client = SyncTestClient::connect(&api.server.ws_base(), &office).await?;
    client.fetch(id, Duration::from_secs(10)).await?;

    let updated = REPORT.replacen(old, new, 1);
    let reply = api
        .post(&office, "/api/import", Body::Raw(updated.into_bytes()))
        .await;
    assert_eq!(reply.status, S200, "{}", reply.text());
    let outcome: ImportPreview = reply.json();
    assert_eq!(
        (outcome.items_created, outcome.items_updated),
        (0, 1),
        "{outcome:?}"
    );
    // The open copy is sent the new title without asking (an office's open page shows it).
    client.settle().await?;
    assert_eq!(client.item(&id).title.as_str(), new);

    // The office's next edit syncs on top of the import, not beside it: the index keeps the
    // new title and the client gets it.
    let as_office = EditContext {
        actor: Actor {
            role: Role::Office,
            unit: None,
        },
        user: "office".into(),
        now_ms: now_ms(),
    };
    let feedback = ItemEdit::AddFeedback {
        id: "f-import".into(),
        unit: None,
        text: "标题已按新报告更新。".into(),
    };
    model::apply(client.document_mut(&id)?, &as_office, feedback)?;
    client
        .sync_until_acknowledged(&id, Duration::from_secs(10))
        .await?;
    client.settle().await?;
    assert_eq!(client.item(&id).title.as_str(), new);
    let stored = api.server.item(&id.to_string()).await?;
    assert_eq!(stored.title.as_str(), new);
    assert_eq!(stored.feedback.len(), 1);
    let row = api.server.storage.item(&id).await?.context("indexed")?;
    assert_eq!(
        row.title, new,
        "the index row is not rewritten from a stale copy"
    );
    Ok(())
}

/// An item added by hand in an area the campaign does not list yet adds the area (with its
/// title) to the campaign, also for an office whose campaign document is open on a sync
/// connection; the report then prints the area with the item under it.
#[tokio::test(flavor = "multi_thread")]
async fn an_item_in_a_new_area_adds_the_area_to_the_campaign() -> Result<()> {
    let api = Api::start().await?;
    let office = api.token("office").await?;
    let campaign = api.campaign().await?;
    let mut client = SyncTestClient::connect(&api.server.ws_base(), &office).await?;
    client.fetch(campaign, Duration::from_secs(10)).await?;
    let areas = |doc: &automerge::AutoCommit| -> Result<Vec<(u32, String)>> {
        Ok(model::CampaignDoc::load(doc)?
            .areas
            .into_iter()
            .map(|a| (a.number, a.title))
            .collect())
    };
    let before = areas(client.document_mut(&campaign)?)?;
    assert_eq!(before.len(), 3);

    let mut body = new_item(4, 1, &["pszx3"], Some("jcg"));
    body["area_title"] = json!("聚焦整改后续监督方面");
    let reply = api
        .post(
            &office,
            &format!("/api/campaigns/{campaign}/items"),
            Body::Json(body),
        )
        .await;
    assert_eq!(reply.status, S201, "{}", reply.text());

    let stored = rectify_server::campaigns::load_document(api.server.storage.as_ref(), &campaign)
        .await?
        .context("the campaign")?;
    let mut expected = before.clone();
    expected.push((4, "聚焦整改后续监督方面".to_owned()));
    assert_eq!(areas(&stored)?, expected);
    // The open copy is sent it, and what sync serves has it (the copy in the hub's memory
    // was dropped, not written over).
    client.settle().await?;
    assert_eq!(areas(client.document_mut(&campaign)?)?, expected);
    let mut fresh = SyncTestClient::connect(&api.server.ws_base(), &office).await?;
    fresh.fetch(campaign, Duration::from_secs(10)).await?;
    assert_eq!(areas(fresh.document_mut(&campaign)?)?, expected);

    let report = api
        .get(&office, &format!("/api/campaigns/{campaign}/report.txt"))
        .await
        .text();
    let area_at = report
        .find("聚焦整改后续监督方面")
        .context("the area in the report")?;
    // A problem of one item prints as the problem's title.
    let item_at = report
        .find("临时增加的问题")
        .with_context(|| format!("the item in the report: {report}"))?;
    assert!(area_at < item_at, "{report}");

    // A second item in that area adds nothing more.
    let reply = api
        .post(
            &office,
            &format!("/api/campaigns/{campaign}/items"),
            Body::Json(new_item(4, 2, &["pszx3"], None)),
        )
        .await;
    assert_eq!(reply.status, S201, "{}", reply.text());
    let stored = rectify_server::campaigns::load_document(api.server.storage.as_ref(), &campaign)
        .await?
        .context("the campaign")?;
    assert_eq!(areas(&stored)?, expected);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_office_adds_an_item_by_hand() -> Result<()> {
    let api = Api::start().await?;
    let office = api.token("office").await?;
    let campaign = api.campaign().await?;
    let path = format!("/api/campaigns/{campaign}/items");

    // For school2 (pszx3), led by 计财股; area 1 is known, so its title may be left out.
    let reply = api
        .post(
            &office,
            &path,
            Body::Json(new_item(1, 99, &["pszx3"], Some("jcg"))),
        )
        .await;
    assert_eq!(reply.status, S201, "{}", reply.text());
    let summary: ItemSummary = reply.json();
    assert_eq!(summary.key, "1.99");
    assert_eq!(summary.campaign, campaign.to_string());
    assert_eq!(summary.units, [UnitId::new("pszx3")]);
    assert_eq!(summary.department, Some(UnitId::new("jcg")));
    assert_eq!(summary.deadline.as_deref(), Some("2026-06-30"));
    assert_eq!(summary.status, PublicStatus::InProgress);

    // school2 sees it, school1 does not.
    let school2 = api.token("school2").await?;
    let school1 = api.token("school1").await?;
    let listed = |items: Vec<ItemSummary>| items.iter().any(|i| i.id == summary.id);
    assert!(listed(api.get(&school2, "/api/items").await.json()));
    assert!(!listed(api.get(&school1, "/api/items").await.json()));
    assert!(listed(api.get(&office, "/api/items").await.json()));

    // Its document is what the importer makes, with school2's progress created by the office.
    let item = api.server.item(&summary.id).await?;
    assert_eq!(
        item.area_title,
        api.server
            .item(&api.items().await?[0].id.to_string())
            .await?
            .area_title
    );
    assert_eq!(item.problem_title, "临时增加的问题。");
    assert_eq!(
        item.measures
            .iter()
            .map(|m| (m.id.as_str(), m.text.as_str()))
            .collect::<Vec<_>>(),
        [("m1", "建立出入库台账"), ("m2", "每月盘点")]
    );
    assert_eq!(item.progress["pszx3"].status, UnitStatus::NotStarted);
    assert_eq!(item.timing.map(|t| t.key()), Some("by_deadline"));
    assert_eq!(item.responsible_leader, "分管副局长");
    let id: DocumentId = summary.id.parse()?;
    let mut client = SyncTestClient::connect(&api.server.ws_base(), &school2).await?;
    client.fetch(id, Duration::from_secs(10)).await?;
    assert_eq!(client.item(&id).title.as_str(), "食堂出入库台账不规范。");

    // Its history: created by the office, received now.
    let history: ItemHistory = api
        .get(&school2, &format!("/api/items/{id}/history"))
        .await
        .json();
    assert_eq!(history.entries.len(), 1, "{history:?}");
    assert_eq!(history.entries[0].user.as_deref(), Some("office"));
    assert_eq!(history.entries[0].op, "create");
    assert!(history.entries[0].received_ms.is_some());

    // Taken keys, and what does not fit.
    let again = api
        .post(
            &office,
            &path,
            Body::Json(new_item(1, 99, &["pszx3"], None)),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    assert!(again.error().message.contains("1.99"));
    let mut sub = new_item(1, 99, &["pszx3"], None);
    sub["sub_no"] = json!(1);
    assert_eq!(
        api.post(&office, &path, Body::Json(sub)).await.status,
        StatusCode::CONFLICT,
        "a problem that is one item gets no sub-items"
    );
    let unprocessable = [
        ("an unknown unit", new_item(1, 98, &["nowhere"], None)),
        (
            "a school as department",
            new_item(1, 98, &["pszx3"], Some("pszx1")),
        ),
        (
            "an unknown department",
            new_item(1, 98, &["pszx3"], Some("nowhere")),
        ),
        ("a bad deadline", {
            let mut v = new_item(1, 98, &["pszx3"], None);
            v["deadline"] = json!("next spring");
            v
        }),
        ("a bad timing", {
            let mut v = new_item(1, 98, &["pszx3"], None);
            v["timing"] = json!("soon");
            v
        }),
        ("an empty title", {
            let mut v = new_item(1, 98, &["pszx3"], None);
            v["title"] = json!("  ");
            v
        }),
        (
            "a new area without its title",
            new_item(9, 1, &["pszx3"], None),
        ),
        ("area 0", new_item(0, 1, &["pszx3"], None)),
    ];
    for (what, body) in unprocessable {
        let reply = api.post(&office, &path, Body::Json(body)).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            reply.text()
        );
        reply.error();
    }
    let unknown = format!("/api/campaigns/{}/items", DocumentId([3; 16]));
    let reply = api
        .post(
            &office,
            &unknown,
            Body::Json(new_item(1, 97, &["pszx3"], None)),
        )
        .await;
    assert_eq!(reply.status, S404);
    assert_eq!(
        api.items().await?.len(),
        REPORT_ITEMS + 1,
        "only the one item was added"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_items_history_shows_who_did_what_and_when_it_arrived() -> Result<()> {
    let api = Api::start().await?;
    let records = api.items().await?;
    let record = records
        .iter()
        .find(|r| r.status == PublicStatus::InProgress && r.units.iter().any(|u| u == "pszx1"))
        .context("an open item of school1")?;
    let id = record.id;
    let started = now_ms();
    // The school's device clock is two days behind (or the school worked offline).
    let device_ms = started - 2 * 24 * 3_600_000;
    let narrative = "已建立食堂出入库台账，每月盘点。";

    let school_token = api.token("school1").await?;
    let mut school = SyncTestClient::connect(&api.server.ws_base(), &school_token).await?;
    school.fetch(id, Duration::from_secs(10)).await?;
    let as_school = EditContext {
        actor: Actor {
            role: Role::Unit,
            unit: Some(UnitId::new("pszx1")),
        },
        user: "school1".into(),
        now_ms: device_ms,
    };
    let doc = school.document_mut(&id)?;
    let edit = ItemEdit::UnitNarrative {
        unit: "pszx1".into(),
        text: narrative.into(),
    };
    model::apply(doc, &as_school, edit)?;
    let submit = ItemEdit::UnitStatus {
        unit: "pszx1".into(),
        to: UnitStatus::Submitted,
        reason: None,
    };
    model::apply(doc, &as_school, submit)?;
    school
        .sync_until_acknowledged(&id, Duration::from_secs(10))
        .await?;

    let office_token = api.token("office").await?;
    let mut office = SyncTestClient::connect(&api.server.ws_base(), &office_token).await?;
    office.fetch(id, Duration::from_secs(10)).await?;
    ensure!(
        office.item(&id).progress["pszx1"].status == UnitStatus::Submitted,
        "the office sees the request"
    );
    let as_office = EditContext {
        actor: Actor {
            role: Role::Office,
            unit: None,
        },
        user: "office".into(),
        now_ms: now_ms(),
    };
    let sign = ItemEdit::UnitStatus {
        unit: "pszx1".into(),
        to: UnitStatus::SignedOff,
        reason: None,
    };
    model::apply(office.document_mut(&id)?, &as_office, sign)?;
    office
        .sync_until_acknowledged(&id, Duration::from_secs(10))
        .await?;
    let finished = now_ms();

    let path = format!("/api/items/{id}/history");
    let reply = api.get(&school_token, &path).await;
    assert_eq!(reply.status, S200, "{}", reply.text());
    let history: ItemHistory = reply.json();
    let entries = &history.entries;
    assert!(entries.len() >= 4, "{entries:#?}");
    // The demo's own entries arrived before the test started.
    let first = &entries[0];
    assert_eq!(
        (first.user.as_deref(), first.op.as_str()),
        (Some("office"), "create")
    );
    assert_eq!(first.display_name.as_deref(), Some("领导小组办公室"));
    assert!(
        first.received_ms.is_some_and(|ms| ms <= started),
        "{first:?}"
    );

    let recent = |op: &str, user: &str| {
        entries
            .iter()
            .rev()
            .find(|e| e.op == op && e.user.as_deref() == Some(user))
            .unwrap_or_else(|| panic!("{user} {op} in {entries:#?}"))
    };
    let arrived_now = |ms: Option<i64>| ms.is_some_and(|ms| (started..=finished).contains(&ms));

    let wrote = recent("unit_narrative", "school1");
    assert_eq!(wrote.display_name.as_deref(), Some("彭山一中"));
    assert_eq!(wrote.device_first_ms, device_ms, "the device's clock");
    assert!(
        arrived_now(wrote.received_ms),
        "the server's clock: {wrote:?}"
    );
    let detail = wrote
        .details
        .iter()
        .find(|d| d.field == "narrative")
        .unwrap_or_else(|| panic!("{wrote:?}"));
    assert_eq!(detail.unit, Some(UnitId::new("pszx1")));
    assert_eq!(detail.after, narrative);

    let submitted = recent("unit_status", "school1");
    assert!(arrived_now(submitted.received_ms));
    assert!(
        submitted
            .details
            .iter()
            .any(|d| d.field == "status" && d.after == "submitted"),
        "{submitted:?}"
    );

    let signed = recent("unit_status", "office");
    assert_eq!(signed.display_name.as_deref(), Some("领导小组办公室"));
    assert!(arrived_now(signed.received_ms), "{signed:?}");
    assert!(
        signed.details.iter().any(|d| d.field == "status"
            && d.unit == Some(UnitId::new("pszx1"))
            && d.before == "submitted"
            && d.after == "signed_off"),
        "{signed:?}"
    );

    // Compaction rewrites the chunks, not the arrival times.
    assert!(rectify_server::maintenance::compact_document(api.server.storage.as_ref(), &id).await?);
    let after: ItemHistory = api.get(&school_token, &path).await.json();
    assert_eq!(after, history);

    // Someone who may not read the item gets 404, as for an unknown id.
    if !record.units.iter().any(|u| u == "pszx3") {
        let other = api.token("school2").await?;
        let reply = api.get(&other, &path).await;
        assert_eq!(reply.status, S404);
        assert_eq!(reply.error().code, "not_found");
    }
    Ok(())
}

/// Issue #20: permission before the body. A caller who may not use an office endpoint is
/// told 403 whatever its body holds, never what the body should hold (a malformed body from
/// the office is still 400/422, naming the fields).
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_a_forbidden_caller_gets_403_before_its_body_is_read() -> Result<()> {
    let api = Api::start().await?;
    let c = api.campaign().await?;
    let bad_bodies = || {
        [
            Body::Json(json!({"unexpected": true})),
            Body::Json(json!([1, 2, 3])),
            Body::Raw(b"{not json".to_vec()),
        ]
    };
    let endpoints = [
        (Method::POST, "/api/units".to_owned()),
        (Method::POST, "/api/accounts".to_owned()),
        (Method::PATCH, "/api/accounts/school2".to_owned()),
        (Method::POST, format!("/api/campaigns/{c}/items")),
        (Method::PUT, format!("/api/campaigns/{c}/report-text")),
    ];
    for who in ["viewer", "dept-jcg", "school1"] {
        let token = api.token(who).await?;
        for (method, path) in &endpoints {
            for body in bad_bodies() {
                let reply = api.call(Some(&token), method.clone(), path, body).await;
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{who} {method} {path}");
                assert_eq!(reply.error().code, "forbidden", "{who} {method} {path}");
            }
        }
    }
    // The office, which may call them, is told what is wrong with the body.
    let office = api.token("office").await?;
    for (method, path) in &endpoints {
        let reply = api
            .call(
                Some(&office),
                method.clone(),
                path,
                Body::Json(json!([1, 2, 3])),
            )
            .await;
        assert!(
            matches!(reply.status.as_u16(), 400 | 422),
            "office {method} {path}: {}",
            reply.status
        );
    }
    Ok(())
}

/// Issue #20: every office action is in the audit log once, with the account that did it:
/// over HTTP (accounts, passwords, sessions, import, an item added, a file downloaded) and
/// over sync (sign-off, send-back, re-planning: read from the item, not the commit message).
/// The office and viewers read it (also as CSV), schools and departments get 403, and no
/// method changes it.
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_every_office_action_is_in_the_audit_log() -> Result<()> {
    use rectify_shared::api::AuditPage;
    use rectify_shared::model::ItemPlan;
    let api = Api::start().await?;
    let office = api.token("office").await?;
    // The demo data was made on the command line: only its entries are there yet.
    let before: AuditPage = api.get(&office, "/api/audit?limit=500").await.json();
    let command_line = rectify_server::audit::COMMAND_LINE;
    assert!(
        before.entries.iter().all(|e| e.account == command_line),
        "{before:?}"
    );
    let start = before.entries.first().map_or(0, |e| e.id);

    // Accounts.
    let new = json!({"username": "auditee", "display_name": "", "role": "viewer", "unit": null});
    let reply = api.post(&office, "/api/accounts", Body::Json(new)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    for disabled in [true, false] {
        let reply = api
            .patch_account(&office, "auditee", json!({ "disabled": disabled }))
            .await;
        assert_eq!(reply.status, S200, "{}", reply.text());
    }
    for path in [
        "/api/accounts/auditee/password",
        "/api/accounts/auditee/sessions/revoke",
    ] {
        let reply = api.post(&office, path, Body::None).await;
        assert_eq!(reply.status, S200, "{path}: {}", reply.text());
    }
    // A report imported, an item added.
    let reply = api
        .post(&office, "/api/import", Body::Raw(REPORT.into()))
        .await;
    assert_eq!(reply.status, S200, "{}", reply.text());
    let campaign = api.campaign().await?;
    let reply = api
        .post(
            &office,
            &format!("/api/campaigns/{campaign}/items"),
            Body::Json(new_item(1, 98, &["pszx3"], None)),
        )
        .await;
    assert_eq!(reply.status, S201, "{}", reply.text());

    // Over sync: school1 asks twice; the office sends back, signs off and re-plans.
    let record = api
        .items()
        .await?
        .into_iter()
        .find(|r| r.status == PublicStatus::InProgress && r.units.iter().any(|u| u == "pszx1"))
        .context("an open item of school1")?;
    let id = record.id;
    let limit = Duration::from_secs(20);
    let school_token = api.token("school1").await?;
    let mut school = SyncTestClient::connect(&api.server.ws_base(), &school_token).await?;
    school.fetch(id, limit).await?;
    let mut office_sync = SyncTestClient::connect(&api.server.ws_base(), &office).await?;
    office_sync.fetch(id, limit).await?;
    let as_school = EditContext {
        actor: Actor {
            role: Role::Unit,
            unit: Some(UnitId::new("pszx1")),
        },
        user: "school1".into(),
        now_ms: now_ms(),
    };
    let as_office = EditContext {
        actor: Actor {
            role: Role::Office,
            unit: None,
        },
        user: "office".into(),
        now_ms: now_ms(),
    };
    let move_to = |to: UnitStatus, reason: Option<&str>| ItemEdit::UnitStatus {
        unit: "pszx1".into(),
        to,
        reason: reason.map(str::to_owned),
    };
    let narrative = ItemEdit::UnitNarrative {
        unit: "pszx1".into(),
        text: "已整改完毕。".into(),
    };
    model::apply(school.document_mut(&id)?, &as_school, narrative)?;
    for (to, reason) in [
        (UnitStatus::Returned, Some("佐证不足")),
        (UnitStatus::SignedOff, None),
    ] {
        model::apply(
            school.document_mut(&id)?,
            &as_school,
            move_to(UnitStatus::Submitted, None),
        )?;
        school.sync_until_acknowledged(&id, limit).await?;
        office_sync.fetch(id, limit).await?;
        for _ in 0..50 {
            if office_sync.item(&id).progress["pszx1"].status == UnitStatus::Submitted {
                break;
            }
            office_sync.settle().await?;
        }
        model::apply(
            office_sync.document_mut(&id)?,
            &as_office,
            move_to(to, reason),
        )?;
        office_sync.sync_until_acknowledged(&id, limit).await?;
        school.fetch(id, limit).await?;
        for _ in 0..50 {
            if school.item(&id).progress["pszx1"].status == to {
                break;
            }
            school.settle().await?;
        }
    }
    let item = office_sync.item(&id);
    let plan = ItemPlan {
        responsible_leader: "新的分管领导".into(),
        responsible_department: item.responsible_department.clone(),
        units: item.units.clone(),
        deadline: item.deadline.clone(),
        timing: item.timing,
    };
    model::apply(
        office_sync.document_mut(&id)?,
        &as_office,
        ItemEdit::Plan(plan),
    )?;
    office_sync.sync_until_acknowledged(&id, limit).await?;

    // A file school1 uploaded, downloaded by school1 (its thumbnail is not recorded).
    let bytes = rectify_tests::photos::phone_photo(320, 240, 7);
    rectify_tests::uploader::upload(
        &api.server.url(""),
        &school_token,
        "a.jpg",
        &bytes,
        1 << 20,
        0,
    )
    .await?;
    let sha = rectify_shared::evidence::sha256_hex(&bytes);
    for path in [
        format!("/api/files/{sha}"),
        format!("/api/files/{sha}/thumbnail"),
    ] {
        let reply = api.get(&school_token, &path).await;
        assert_eq!(reply.status, S200, "{path}: {}", reply.text());
    }

    // Each action once, by the right account, about the right thing.
    let mut log: AuditPage = api.get(&office, "/api/audit?limit=500").await.json();
    log.entries.retain(|e| e.id > start);
    let rows: Vec<(&str, &str, &str)> = log
        .entries
        .iter()
        .rev()
        .map(|e| (e.action.as_str(), e.account.as_str(), e.target.as_str()))
        .collect();
    let (item_id, campaign_id) = (id.to_string(), campaign.to_string());
    let added = api
        .items()
        .await?
        .into_iter()
        .find(|r| r.key == "1.98")
        .context("the added item")?
        .id
        .to_string();
    assert_eq!(
        rows,
        [
            ("account_created", "office", "auditee"),
            ("account_disabled", "office", "auditee"),
            ("account_enabled", "office", "auditee"),
            ("password_reset", "office", "auditee"),
            ("sessions_revoked", "office", "auditee"),
            ("import", "office", campaign_id.as_str()),
            ("item_added", "office", added.as_str()),
            ("sent_back", "office", item_id.as_str()),
            ("signed_off", "office", item_id.as_str()),
            ("item_replanned", "office", item_id.as_str()),
            ("file_downloaded", "school1", sha.as_str()),
        ],
        "{log:#?}"
    );
    let sent_back = &log.entries[log.entries.len() - 8];
    assert!(
        sent_back.detail.contains("pszx1: 佐证不足"),
        "{sent_back:?}"
    );
    // A document is named as people know it: an item by its key and title, a campaign by
    // its name; an account or a file has no such name.
    let campaign_name = api.server.storage.campaigns().await?[0].name.clone();
    let names: Vec<(&str, Option<&str>)> = log
        .entries
        .iter()
        .rev()
        .map(|e| (e.action.as_str(), e.target_name.as_deref()))
        .collect();
    let (item_name, added_name) = (
        format!("{} {}", record.key, record.title),
        "1.98 食堂出入库台账不规范。".to_owned(),
    );
    assert_eq!(
        names,
        [
            ("account_created", None),
            ("account_disabled", None),
            ("account_enabled", None),
            ("password_reset", None),
            ("sessions_revoked", None),
            ("import", Some(campaign_name.as_str())),
            ("item_added", Some(added_name.as_str())),
            ("sent_back", Some(item_name.as_str())),
            ("signed_off", Some(item_name.as_str())),
            ("item_replanned", Some(item_name.as_str())),
            ("file_downloaded", None),
        ]
    );
    let started = now_ms() - 10 * 60 * 1000;
    assert!(
        log.entries
            .iter()
            .all(|e| e.at_ms > started && e.at_ms <= now_ms())
    );

    // Filters and pages.
    let only: AuditPage = api.get(&office, "/api/audit?account=school1").await.json();
    assert_eq!(only.entries.len(), 1);
    let signed: AuditPage = api
        .get(&office, "/api/audit?action=signed_off&limit=500")
        .await
        .json();
    // The demo's sign-offs, made on the command line, and the office's one.
    assert_eq!(signed.entries.iter().filter(|e| e.id > start).count(), 1);
    assert!(signed.entries.iter().all(|e| e.action == "signed_off"));
    let page: AuditPage = api.get(&office, "/api/audit?limit=4").await.json();
    assert_eq!(page.entries.len(), 4);
    let next = page.next_before.context("a next page")?;
    let rest: AuditPage = api
        .get(&office, &format!("/api/audit?before={next}&limit=100"))
        .await
        .json();
    assert_eq!(
        rest.entries.iter().filter(|e| e.id > start).count(),
        rows.len() - 4
    );
    for bad in [
        "/api/audit?action=nothing",
        "/api/audit?limit=0",
        "/api/audit?from=x",
    ] {
        let reply = api.get(&office, bad).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.text()
        );
        reply.error();
    }

    // The viewer reads it and its CSV; a school and a department may not.
    let viewer = api.token("viewer").await?;
    let mut seen: AuditPage = api.get(&viewer, "/api/audit?limit=500").await.json();
    seen.entries.retain(|e| e.id > start);
    assert_eq!(seen.entries, log.entries);
    let csv = api.get(&viewer, "/api/audit.csv").await;
    assert_eq!(csv.status, S200);
    assert!(csv.header("content-type").starts_with("text/csv"));
    let text = csv.text();
    assert!(
        text.starts_with(
            "\u{feff}id,time (Asia/Shanghai),at_ms,account,action,target,target_name,detail\r\n"
        ),
        "{text}"
    );
    // The names are in the export too, beside the ids.
    assert!(text.contains(&format!(",{item_id},{item_name},")), "{text}");
    assert_eq!(
        text.lines().filter(|l| !l.contains(command_line)).count(),
        rows.len() + 1,
        "{text}"
    );
    assert!(text.contains("佐证不足"));
    for who in ["school1", "dept-jcg"] {
        let token = api.token(who).await?;
        for path in ["/api/audit", "/api/audit.csv"] {
            let reply = api.get(&token, path).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{who} {path}");
            reply.error();
        }
    }

    // Nothing changes it.
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        for path in [
            "/api/audit".to_owned(),
            format!("/api/audit/{}", log.entries[0].id),
        ] {
            let reply = api
                .call(Some(&office), method.clone(), &path, Body::Json(json!({})))
                .await;
            assert!(
                matches!(
                    reply.status,
                    StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_FOUND
                ),
                "{method} {path}: {}",
                reply.status
            );
        }
    }
    let mut after: AuditPage = api.get(&office, "/api/audit?limit=500").await.json();
    after.entries.retain(|e| e.id > start);
    assert_eq!(after.entries, log.entries);
    Ok(())
}

/// Issue #20: an office action over HTTP and its audit entry are one storage transaction.
/// When the entry cannot be written (the faulty storage fails every batch holding one), the
/// caller gets a 5xx JSON error and the action is not done: no account made, none disabled,
/// no password changed, no session ended, no report imported, no item added.
#[tokio::test(flavor = "multi_thread")]
async fn issue_20_an_action_whose_audit_entry_cannot_be_written_is_not_done() -> Result<()> {
    use rectify_shared::api::SessionInfo;
    use rectify_shared::ids::Username;
    let (server, faulty) = TestServer::start_faulty().await?;
    let api = Api {
        server,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?,
    };
    let office = api.token("office").await?;
    let school = api.token("school1").await?;
    let sessions: Vec<SessionInfo> = api
        .get(&office, "/api/accounts/school1/sessions")
        .await
        .json();
    let session = sessions[0].id.clone();
    let campaign = api.campaign().await?;
    let stored = faulty.inner().clone();
    let school1 = Username::new("school1");
    let password_hash = stored
        .user(&school1)
        .await?
        .context("school1")?
        .password_hash;
    let (campaigns, items) = (api.campaign_count().await?, api.items().await?.len());
    let audit = rectify_server::storage::AuditQuery {
        limit: 1000,
        ..Default::default()
    };
    let entries = stored.audit_log(&audit).await?.len();

    faulty.fail_audit_writes();
    let new_account =
        json!({"username": "never", "display_name": "", "role": "viewer", "unit": null});
    let other_round = REPORT.replace("区委第三巡察组", "区委第四巡察组");
    let cases = [
        (
            Method::POST,
            "/api/accounts".to_owned(),
            Body::Json(new_account),
        ),
        (
            Method::PATCH,
            "/api/accounts/school1".to_owned(),
            Body::Json(json!({"disabled": true})),
        ),
        (
            Method::POST,
            "/api/accounts/school1/password".to_owned(),
            Body::None,
        ),
        (
            Method::POST,
            "/api/accounts/school1/sessions/revoke".to_owned(),
            Body::None,
        ),
        (
            Method::DELETE,
            format!("/api/accounts/school1/sessions/{session}"),
            Body::None,
        ),
        (
            Method::POST,
            "/api/import".to_owned(),
            Body::Raw(other_round.into_bytes()),
        ),
        (
            Method::POST,
            format!("/api/campaigns/{campaign}/items"),
            Body::Json(new_item(1, 98, &["pszx3"], None)),
        ),
    ];
    for (method, path, body) in cases {
        let reply = api.call(Some(&office), method.clone(), &path, body).await;
        assert!(
            reply.status.is_server_error(),
            "{method} {path}: {} {}",
            reply.status,
            reply.text()
        );
        reply.error();
    }

    assert_eq!(stored.user(&Username::new("never")).await?, None);
    let account = stored.user(&school1).await?.context("school1")?;
    assert!(!account.disabled, "school1 was disabled");
    assert_eq!(account.password_hash, password_hash, "the password changed");
    assert_eq!(
        api.get(&school, "/api/me").await.status,
        S200,
        "school1's session was ended"
    );
    assert_eq!(
        api.campaign_count().await?,
        campaigns,
        "a report was imported"
    );
    assert_eq!(api.items().await?.len(), items, "an item was added");
    assert_eq!(stored.audit_log(&audit).await?.len(), entries);

    // The same actions work once the entries can be written.
    faulty.heal();
    let reply = api
        .post(
            &office,
            "/api/accounts",
            Body::Json(
                json!({"username": "never", "display_name": "", "role": "viewer", "unit": null}),
            ),
        )
        .await;
    assert_eq!(reply.status, S201, "{}", reply.text());
    assert_eq!(stored.audit_log(&audit).await?.len(), entries + 1);
    Ok(())
}
