//! The HTTP surface, driven in-process with `oneshot`: static files (content types, cache
//! headers, pre-compressed variants), login and the bearer token.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use rectify_server::http::app;
use rectify_server::state::{AppState, ServerSettings};
use rectify_server::web::{EmbeddedFile, WebClient};
use rectify_server::{demo, storage};
use std::path::Path;
use tower::ServiceExt;

const PASSWORD: &str = "test-password";

/// A fake bundle: what `cargo xtask build` writes, in miniature.
fn fake_bundle(dir: &Path) {
    let write = |name: &str, body: &[u8]| {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    };
    write("index.html", b"<!doctype html><title>Rectify</title>");
    write("index.html.br", b"brotli-index");
    write("assets/rectify-abc.wasm", b"\0asm");
    write("assets/rectify-abc.wasm.br", b"brotli-wasm");
    write("assets/rectify-abc.wasm.gz", b"gzip-wasm");
    write("assets/rectify-abc.js", b"export default 1;");
    write("manifest.webmanifest", b"{}");
    write("sw.js", b"// sw");
}

async fn test_app(web_root: Option<&Path>) -> (Router, tempfile::TempDir) {
    test_app_with(web_root, ServerSettings::default()).await
}

/// The files of the bundle in `dir` as the `rectify` binary has them built in.
fn embedded(dir: &Path) -> &'static [EmbeddedFile] {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<EmbeddedFile>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                out.push(EmbeddedFile {
                    path: Box::leak(name.into_boxed_str()),
                    bytes: Box::leak(std::fs::read(&path).unwrap().into_boxed_slice()),
                });
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    Box::leak(files.into_boxed_slice())
}

/// The app serving `web`.
async fn app_serving(web: WebClient) -> (Router, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let storage = storage::open_data_dir(data.path()).await.unwrap();
    let state = AppState::with_settings(storage, web, data.path(), ServerSettings::default())
        .await
        .unwrap();
    (app(state), data)
}

async fn test_app_with(
    web_root: Option<&Path>,
    settings: ServerSettings,
) -> (Router, tempfile::TempDir) {
    let data = tempfile::tempdir().unwrap();
    let storage = storage::open_data_dir(data.path()).await.unwrap();
    demo::create_demo(storage.as_ref(), PASSWORD).await.unwrap();
    let state = AppState::with_settings(
        storage,
        web_root.map(Path::to_owned).into(),
        data.path(),
        settings,
    )
    .await
    .unwrap();
    (app(state), data)
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

async fn get(app: &Router, path: &str, accept_encoding: Option<&str>) -> Reply {
    let mut request = Request::get(path);
    if let Some(enc) = accept_encoding {
        request = request.header(header::ACCEPT_ENCODING, enc);
    }
    send(app, request.body(Body::empty()).unwrap()).await
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

fn header_of(reply: &Reply, name: header::HeaderName) -> &str {
    reply
        .headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

/// (path, accept-encoding, content type, content encoding, cache-control, body)
type StaticCase = (
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
    &'static str,
    &'static [u8],
);

#[tokio::test]
async fn static_files_have_types_cache_headers_and_precompressed_variants() {
    let web = tempfile::tempdir().unwrap();
    fake_bundle(web.path());
    // The same from the directory (`--web-root`) and built into the binary.
    for source in [
        WebClient::Dir(web.path().to_owned()),
        WebClient::Embedded(embedded(web.path())),
    ] {
        let (app, _data) = app_serving(source.clone()).await;
        static_files_are_served(&app, &source.describe()).await;
    }
}

async fn static_files_are_served(app: &Router, source: &str) {
    // (path, accept-encoding, content type, content encoding, cache-control, body)
    let cases: &[StaticCase] = &[
        (
            "/",
            None,
            "text/html",
            "",
            "no-cache",
            b"<!doctype html><title>Rectify</title>",
        ),
        (
            "/",
            Some("br"),
            "text/html",
            "br",
            "no-cache",
            b"brotli-index",
        ),
        (
            "/assets/rectify-abc.wasm",
            Some("gzip, br"),
            "application/wasm",
            "br",
            "public, max-age=31536000, immutable",
            b"brotli-wasm",
        ),
        (
            "/assets/rectify-abc.wasm",
            Some("gzip"),
            "application/wasm",
            "gzip",
            "public, max-age=31536000, immutable",
            b"gzip-wasm",
        ),
        (
            "/assets/rectify-abc.wasm",
            None,
            "application/wasm",
            "",
            "public, max-age=31536000, immutable",
            b"\0asm",
        ),
        (
            "/assets/rectify-abc.js",
            None,
            "text/javascript",
            "",
            "public, max-age=31536000, immutable",
            b"export default 1;",
        ),
        (
            "/manifest.webmanifest",
            None,
            "application/manifest+json",
            "",
            "no-cache",
            b"{}",
        ),
        ("/sw.js", None, "text/javascript", "", "no-cache", b"// sw"),
        // A client-side route loads the app.
        (
            "/items/42",
            None,
            "text/html",
            "",
            "no-cache",
            b"<!doctype html><title>Rectify</title>",
        ),
    ];
    for (path, enc, content_type, encoding, cache, body) in cases {
        let reply = get(app, path, *enc).await;
        let what = format!("{source}: GET {path} (accept-encoding {enc:?})");
        assert_eq!(reply.status, StatusCode::OK, "{what}");
        assert!(
            header_of(&reply, header::CONTENT_TYPE).starts_with(content_type),
            "{what}: {:?}",
            reply.headers
        );
        assert_eq!(
            header_of(&reply, header::CONTENT_ENCODING),
            *encoding,
            "{what}"
        );
        assert_eq!(header_of(&reply, header::CACHE_CONTROL), *cache, "{what}");
        assert_eq!(
            header_of(&reply, header::X_CONTENT_TYPE_OPTIONS),
            "nosniff",
            "{what}"
        );
        assert_eq!(reply.body, *body, "{what}");
    }
}

/// Issue #20: the app's pages carry a Content-Security-Policy that lets exactly their own
/// inline boot script run (by its hash) and the WebAssembly compile, and refuse framing.
#[tokio::test]
async fn issue_20_pages_have_a_content_security_policy_and_refuse_framing() {
    use base64::Engine;
    use sha2::Digest;
    let web = tempfile::tempdir().unwrap();
    let boot = "\n    import init from \"/assets/rectify-abc.js\";\n    init();\n  ";
    let html = format!(
        "<!doctype html><title>Rectify</title><script type=\"module\" src=\"/x.js\"></script>\
         <script type=\"module\">{boot}</script>"
    );
    std::fs::write(web.path().join("index.html"), &html).unwrap();
    std::fs::create_dir_all(web.path().join("assets")).unwrap();
    std::fs::write(
        web.path().join("assets/rectify-abc.js"),
        "export default 1;",
    )
    .unwrap();
    let (app, _data) = test_app(Some(web.path())).await;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(boot));
    // The page, and a client-side route that falls back to it.
    for path in ["/", "/items/abc"] {
        let reply = get(&app, path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        let policy = header_of(&reply, header::CONTENT_SECURITY_POLICY);
        for part in [
            "default-src 'self'",
            &format!("script-src 'self' 'wasm-unsafe-eval' 'sha256-{hash}';"),
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(policy.contains(part), "{path}: {part} in {policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert_eq!(header_of(&reply, header::X_FRAME_OPTIONS), "DENY", "{path}");
    }
}

#[tokio::test]
async fn missing_bundle_says_how_to_build_it() {
    let (app, _data) = test_app(Some(Path::new("/nonexistent/web"))).await;
    let reply = get(&app, "/", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let body = String::from_utf8_lossy(&reply.body);
    assert!(body.contains("/nonexistent/web/index.html"), "{body}");
    assert!(body.contains("cargo xtask build"), "{body}");
    // A binary without the client built in, and no --web-root.
    let (app, _data) = app_serving(WebClient::choose(None, &[])).await;
    let reply = get(&app, "/items/1", None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let body = String::from_utf8_lossy(&reply.body);
    assert!(body.contains("no web client built in"), "{body}");
    assert!(body.contains("cargo build --release -p rectify"), "{body}");
}

/// The built-in client answers a repeated request with 304 (its `ETag`), HEAD with the
/// headers only, and refuses other methods.
#[tokio::test]
async fn the_built_in_client_revalidates_and_answers_head() {
    let web = tempfile::tempdir().unwrap();
    fake_bundle(web.path());
    let (app, _data) = app_serving(WebClient::choose(None, embedded(web.path()))).await;
    let first = get(&app, "/sw.js", None).await;
    let etag = header_of(&first, header::ETAG);
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let again = app
        .clone()
        .oneshot(
            Request::get("/sw.js")
                .header(header::IF_NONE_MATCH, etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let head = app
        .clone()
        .oneshot(
            Request::head("/assets/rectify-abc.wasm")
                .header(header::ACCEPT_ENCODING, "br")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[header::CONTENT_LENGTH], "11");
    assert_eq!(head.headers()[header::CONTENT_ENCODING], "br");
    assert!(
        head.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .is_empty()
    );
    let post = app
        .oneshot(Request::post("/sw.js").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn health_and_unknown_api_paths() {
    let (app, _data) = test_app(None).await;
    let health = get(&app, "/healthz", None).await;
    assert_eq!(
        (health.status, health.body.as_slice()),
        (StatusCode::OK, b"ok".as_slice())
    );
    // The client's probe for a link that is back (issue #24): no login, no body.
    let request = Request::head("/healthz").body(Body::empty()).unwrap();
    let probe = send(&app, request).await;
    assert_eq!(
        (probe.status, probe.body.as_slice()),
        (StatusCode::OK, b"".as_slice())
    );
    let unknown = get(&app, "/api/nope", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let body: serde_json::Value = serde_json::from_slice(&unknown.body).unwrap();
    assert_eq!(body["code"], "not_found");
}

async fn login(app: &Router, username: &str, password: &str) -> Reply {
    let body = serde_json::json!({ "username": username, "password": password }).to_string();
    let request = Request::post("/api/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    send(app, request).await
}

#[tokio::test]
async fn login_gives_a_token_that_works_and_bad_logins_are_refused() {
    let (app, _data) = test_app(None).await;

    let ok = login(&app, "school1", PASSWORD).await;
    assert_eq!(ok.status, StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(&ok.body).unwrap();
    assert_eq!(
        (body["role"].as_str(), body["unit"].as_str()),
        (Some("unit"), Some("pszx1"))
    );
    let token = body["token"].as_str().unwrap().to_owned();

    for auth in [format!("Bearer {token}")] {
        let request = Request::get("/api/me")
            .header(header::AUTHORIZATION, auth)
            .body(Body::empty())
            .unwrap();
        let me = send(&app, request).await;
        assert_eq!(me.status, StatusCode::OK);
    }
    // A token in the query counts only on /sync (browsers cannot set a WebSocket's headers).
    let by_query = get(&app, &format!("/api/me?token={token}"), None).await;
    assert_eq!(
        by_query.status,
        StatusCode::UNAUTHORIZED,
        "?token= counts only on /sync"
    );

    for (user, password) in [
        ("school1", "wrong-password"),
        ("nobody", PASSWORD),
        ("", ""),
    ] {
        let refused = login(&app, user, password).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "{user}/{password}"
        );
    }
    for auth in ["Bearer not-a-token", "Basic abc", ""] {
        let request = Request::get("/api/me")
            .header(header::AUTHORIZATION, auth)
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            send(&app, request).await.status,
            StatusCode::UNAUTHORIZED,
            "{auth}"
        );
    }
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account() {
    let (app, _data) = test_app(None).await;
    for attempt in 1..=5 {
        let reply = login(&app, "school1", "wrong-password").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // Now even the right password waits, with a message saying how long.
    let throttled = login(&app, "School1 ", PASSWORD).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    let body: serde_json::Value = serde_json::from_slice(&throttled.body).unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("try again in 10 minute(s)"),
        "{body}"
    );
    // Other accounts are not affected.
    assert_eq!(
        login(&app, "school2", PASSWORD).await.status,
        StatusCode::OK
    );
}

async fn login_from(app: &Router, address: [u8; 4], username: &str, password: &str) -> Reply {
    login_via(app, address, None, username, password).await
}

/// A login arriving from `address`, with an `X-Forwarded-For` header if given.
async fn login_via(
    app: &Router,
    address: [u8; 4],
    forwarded_for: Option<&str>,
    username: &str,
    password: &str,
) -> Reply {
    let body = serde_json::json!({ "username": username, "password": password }).to_string();
    let mut request = Request::post("/api/login").header(header::CONTENT_TYPE, "application/json");
    if let Some(client) = forwarded_for {
        request = request.header("x-forwarded-for", client);
    }
    let mut request = request.body(Body::from(body)).unwrap();
    // What `into_make_service_with_connect_info` puts there in `rectify serve`.
    let addr = std::net::SocketAddr::from((address, 40_000));
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(addr));
    send(app, request).await
}

#[tokio::test]
async fn failed_logins_are_throttled_per_address_across_accounts() {
    let (app, _data) = test_app(None).await;
    let guesser = [10, 0, 0, 7];
    // Four wrong guesses for each of many names stays under the per-account limit...
    let limit = rectify_server::accounts::MAX_FAILED_LOGINS_PER_ADDRESS;
    for attempt in 0..limit {
        let name = format!("guess{}", attempt / 4);
        let reply = login_from(&app, guesser, &name, "wrong-password").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // ...but the address is now refused, even for a real account with its password.
    let refused = login_from(&app, guesser, "school1", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let body: serde_json::Value = serde_json::from_slice(&refused.body).unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("this address"),
        "{body}"
    );
    // Another address is not affected.
    let other = login_from(&app, [10, 0, 0, 8], "school1", PASSWORD).await;
    assert_eq!(other.status, StatusCode::OK);
}

/// Issue #20: `X-Forwarded-For` decides the address a guess counts against only when it
/// comes from a proxy named with `--trusted-proxy`. Behind the proxy, each client has its
/// own count; from anyone else the header is ignored (a guesser cannot spread its guesses
/// over made-up addresses).
#[tokio::test]
async fn issue_20_forwarded_addresses_count_only_from_trusted_proxies() {
    let proxy = [10, 0, 0, 1];
    let settings = ServerSettings {
        trusted_proxies: vec![std::net::IpAddr::from(proxy)],
        ..ServerSettings::default()
    };
    let (app, _data) = test_app_with(None, settings).await;
    let limit = rectify_server::accounts::MAX_FAILED_LOGINS_PER_ADDRESS;
    // Through the proxy, one client guesses across accounts up to its address's limit...
    for attempt in 0..limit {
        let name = format!("guess{}", attempt / 4);
        let reply = login_via(&app, proxy, Some("198.51.100.7"), &name, "wrong").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let refused = login_via(&app, proxy, Some("198.51.100.7"), "school1", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    // ...while another client behind the same proxy logs in.
    let other = login_via(&app, proxy, Some("198.51.100.8"), "school1", PASSWORD).await;
    assert_eq!(other.status, StatusCode::OK);

    // An untrusted peer's header is ignored: its guesses all count against its own address,
    // whatever address it claims for each.
    let guesser = [203, 0, 113, 9];
    for attempt in 0..limit {
        let name = format!("other{}", attempt / 4);
        let claimed = format!("192.0.2.{attempt}");
        let reply = login_via(&app, guesser, Some(&claimed), &name, "wrong").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let refused = login_via(&app, guesser, Some("192.0.2.200"), "school2", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
}

/// `GET /metrics` from `address` (as `rectify serve` sees the connection), with the headers.
async fn metrics_via(app: &Router, address: [u8; 4], headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::get("/metrics");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(Body::empty()).unwrap();
    let addr = std::net::SocketAddr::from((address, 40_000));
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(addr));
    send(app, request).await
}

/// Issue #20: `/metrics` is not the world's. Without `--metrics-token` it answers this
/// machine only — not another address, nor one a local reverse proxy forwards; with the token
/// set, only a caller sending it, from anywhere.
#[tokio::test]
async fn issue_20_metrics_answer_this_machine_or_the_token_only() {
    let local = [127, 0, 0, 1];
    let settings = ServerSettings {
        trusted_proxies: vec![std::net::IpAddr::from(local)],
        ..ServerSettings::default()
    };
    let (app, _data) = test_app_with(None, settings).await;
    assert_eq!(metrics_via(&app, local, &[]).await.status, StatusCode::OK);
    let outside = metrics_via(&app, [192, 0, 2, 7], &[]).await;
    assert_eq!(outside.status, StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(&outside.body).contains("--metrics-token"));
    let forwarded = metrics_via(&app, local, &[("x-forwarded-for", "198.51.100.7")]).await;
    assert_eq!(
        forwarded.status,
        StatusCode::FORBIDDEN,
        "forwarded from outside"
    );

    let settings = ServerSettings {
        metrics_token: Some("s3cret-scrape".to_owned()),
        ..ServerSettings::default()
    };
    let (app, _data) = test_app_with(None, settings).await;
    for (headers, expected) in [
        (vec![], StatusCode::UNAUTHORIZED),
        (
            vec![("authorization", "Bearer wrong")],
            StatusCode::UNAUTHORIZED,
        ),
        (
            vec![("authorization", "s3cret-scrape")],
            StatusCode::UNAUTHORIZED,
        ),
        (
            vec![("authorization", "Bearer s3cret-scrape")],
            StatusCode::OK,
        ),
    ] {
        for address in [local, [192, 0, 2, 7]] {
            let reply = metrics_via(&app, address, &headers).await;
            assert_eq!(reply.status, expected, "{headers:?} from {address:?}");
        }
    }
}

#[tokio::test]
async fn metrics_are_served_in_the_prometheus_format() {
    let (app, _data) = test_app(None).await;
    assert_eq!(
        login(&app, "school1", "wrong-password").await.status,
        StatusCode::UNAUTHORIZED
    );
    let reply = get(&app, "/metrics", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(header_of(&reply, header::CONTENT_TYPE).starts_with("application/openmetrics-text"));
    let text = String::from_utf8(reply.body).unwrap();
    for line in [
        "rectify_sync_connections 0",
        "rectify_documents_loaded 0",
        "rectify_sync_changes_applied_total 0",
        "rectify_sync_changes_rejected_total 0",
        "rectify_sync_received_bytes_total 0",
        "rectify_sync_sent_bytes_total 0",
        "rectify_sync_latency_seconds_count 0",
        "rectify_logins_failed_total 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[tokio::test]
async fn sync_connections_are_limited_in_all_and_per_account() {
    use rectify_server::metrics::Metrics;
    use rectify_server::sync_ws::{SyncHub, SyncSettings};
    use rectify_shared::ids::Username;
    use std::sync::Arc;
    let data = tempfile::tempdir().unwrap();
    let storage = storage::open_data_dir(data.path()).await.unwrap();
    let settings = SyncSettings {
        max_connections: 3,
        max_connections_per_user: 2,
        ..SyncSettings::default()
    };
    let hub = Arc::new(
        SyncHub::open(Arc::clone(&storage), settings, Arc::new(Metrics::new()))
            .await
            .unwrap(),
    );
    let school = Username::new("school1");
    let office = Username::new("office");
    let first = hub.reserve(&school).unwrap();
    let _second = hub.reserve(&school).unwrap();
    let third = hub
        .reserve(&school)
        .err()
        .expect("over the account's limit");
    assert!(
        third.to_string().contains("already has 2 sync connections"),
        "{third}"
    );
    let _office = hub.reserve(&office).unwrap();
    let full = hub.reserve(&office).err().expect("over the server's limit");
    assert!(full.to_string().contains("maximum of 3"), "{full}");
    // A closed connection gives its place back.
    drop(first);
    let _again = hub.reserve(&school).unwrap();
    // Shutting down refuses new ones.
    hub.shutdown();
    let closing = hub.reserve(&office).err().expect("shutting down");
    assert!(closing.to_string().contains("shutting down"), "{closing}");
}
