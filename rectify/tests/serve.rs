//! `rectify serve` as a real process: one server per data directory, backup while it runs,
//! restore only when it is stopped, HTTPS with `--tls-cert`/`--tls-key`, the sync
//! connection limits, and `--database postgres://…` (on a scratch database of the test
//! server, `storage::scratch`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "test-password";

fn rectify(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rectify"))
        .args(args)
        .env("RECTIFY_LOG", "warn")
        .output()
        .expect("the rectify binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running `rectify serve` on a free port, killed when dropped.
struct Served {
    child: Child,
    addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `rectify serve --listen 127.0.0.1:0 …` and reads the address it prints.
fn serve(data: &Path, extra: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--web-root",
            "/nonexistent",
        ])
        .arg("--data")
        .arg(data)
        .args(extra)
        .env("RECTIFY_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("the rectify binary runs");
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let url = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server says where it listens within 30 s");
    let addr = url.split("://").nth(1).expect("a URL").to_owned();
    Served { child, addr }
}

fn demo(data: &Path) {
    let out = rectify(&[
        "demo",
        "--data",
        data.to_str().unwrap(),
        "--password",
        PASSWORD,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn ledger(data: &Path) -> String {
    let out = rectify(&[
        "export",
        "--format",
        "csv",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn backup_while_serving_and_restore_only_when_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo(&data);
    let original = ledger(&data);
    let server = serve(&data, &[]);

    // A second server on the same data is refused, saying why.
    let second = rectify(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(!second.status.success());
    assert!(
        text(&second.stderr).contains("another Rectify server is using"),
        "{}",
        text(&second.stderr)
    );

    // An evidence file in the store (as an upload leaves it).
    let sha = rectify_shared::evidence::sha256_hex(b"%PDF-1.7 evidence");
    let stored = data.join("blobs").join(&sha[..2]).join(&sha);
    std::fs::create_dir_all(stored.parent().unwrap()).unwrap();
    std::fs::write(&stored, b"%PDF-1.7 evidence").unwrap();

    // Backup while it runs.
    let backup = dir.path().join("backup");
    let out = rectify(&[
        "backup",
        "--data",
        data.to_str().unwrap(),
        backup.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("checked") && text(&out.stdout).contains("1 evidence files"),
        "{}",
        text(&out.stdout)
    );
    // Not over an existing backup.
    let again = rectify(&[
        "backup",
        "--data",
        data.to_str().unwrap(),
        backup.to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("already exists"));

    // Restore is refused while the server runs.
    let refused = rectify(&[
        "restore",
        "--data",
        data.to_str().unwrap(),
        backup.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("another Rectify server is using"),
        "{}",
        text(&refused.stderr)
    );
    drop(server);

    // An account is added after the backup; restoring brings back the backup's state and
    // keeps what was there.
    let mut add = Command::new(env!("CARGO_BIN_EXE_rectify"))
        .args(["user", "add", "newcomer", "--role", "viewer", "--data"])
        .arg(&data)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = add.stdin.take().unwrap();
        writeln!(stdin, "a-new-password").unwrap();
    }
    assert!(add.wait().unwrap().success());
    assert!(users(&data).contains("newcomer"));
    assert_eq!(ledger(&data), original);

    std::fs::remove_file(&stored).unwrap();
    let out = rectify(&[
        "restore",
        "--data",
        data.to_str().unwrap(),
        backup.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!users(&data).contains("newcomer"), "the backup's accounts");
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        b"%PDF-1.7 evidence",
        "evidence restored"
    );
    assert_eq!(ledger(&data), original);
    let kept = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("before-restore-")
        })
        .expect("the replaced database is kept");
    assert!(users(&kept.path()).contains("newcomer"));
}

fn users(data: &Path) -> String {
    let out = rectify(&["user", "list", "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn a_bad_backup_is_refused_and_the_data_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo(&data);
    let original = ledger(&data);
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    // A database file that is not a database, wherever this backend keeps it.
    let rectify_server::storage::StorageUrl::Sqlite(file) =
        rectify_server::storage::StorageUrl::for_data_dir(&bad)
    else {
        unreachable!("a data directory's database is SQLite")
    };
    std::fs::write(file, b"this is not a database").unwrap();
    for backup in [bad, dir.path().join("missing")] {
        let out = rectify(&[
            "restore",
            "--data",
            data.to_str().unwrap(),
            backup.to_str().unwrap(),
        ]);
        assert!(!out.status.success());
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("was not restored") || stderr.contains("no backup at"),
            "{stderr}"
        );
    }
    assert_eq!(ledger(&data), original);
}

/// A self-signed certificate for 127.0.0.1, written as PEM files.
fn certificate(dir: &Path) -> (rustls::pki_types::CertificateDer<'static>, String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    (
        cert.cert.der().clone(),
        cert_path.to_str().unwrap().to_owned(),
        key_path.to_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn serves_https_with_a_certificate() -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    demo(&data);
    let (der, cert, key) = certificate(dir.path());
    let server = serve(&data, &["--tls-cert", &cert, "--tls-key", &key]);

    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der)?;
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(&server.addr).await?;
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1")?;
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await?;
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_string(&mut reply)).await??;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("ok"), "{reply}");

    // Plain HTTP on the TLS port gets no page.
    let mut plain = tokio::net::TcpStream::connect(&server.addr).await?;
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await?;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut answer)).await;
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    Ok(())
}

#[test]
fn a_bad_certificate_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    let out = rectify(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data",
        data.to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        cert.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot use the TLS certificate"),
        "{}",
        text(&out.stderr)
    );
    // Only one of the two is refused at start (wherever each was set: flag, environment, file).
    let half = rectify(&["serve", "--tls-cert", cert.to_str().unwrap()]);
    assert!(!half.status.success());
    assert!(
        text(&half.stderr).contains("--tls-key"),
        "{}",
        text(&half.stderr)
    );
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo(&data);
    let mut server = serve(&data, &[]);
    let pid = server.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let started = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the server did not stop within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The lock went with it: the data can be served again.
    drop(server);
    let again = serve(&data, &[]);
    drop(again);
}

/// One HTTP/1.1 request on a fresh connection: the status and the body.
async fn http(
    addr: &str,
    request: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> anyhow::Result<(u16, serde_json::Value)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = body.to_string();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!(
                "{request} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await?;
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_string(&mut reply)).await??;
    let status = reply
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("not an HTTP answer: {reply}"))?;
    let json = reply
        .split_once("\r\n\r\n")
        .map(|(_, body)| serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
        .unwrap_or_default();
    Ok((status, json))
}

/// The whole server on PostgreSQL: the demo data written by the command line, a login and an
/// office write over HTTP through `rectify serve --database`, and what it wrote read back by
/// the command line; nothing lands in a SQLite file of the data directory.
#[tokio::test]
async fn serves_from_postgres() -> anyhow::Result<()> {
    let database = rectify_server::storage::scratch::ScratchDatabase::create()?;
    let url = database.url();
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let out = rectify(&[
        "demo",
        "--data",
        data_arg,
        "--database",
        url,
        "--password",
        PASSWORD,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ledger_args = [
        "export",
        "--format",
        "csv",
        "--data",
        data_arg,
        "--database",
        url,
    ];
    let original = rectify(&ledger_args);
    assert!(original.status.success(), "{}", text(&original.stderr));
    assert!(
        text(&original.stdout).lines().count() > 50,
        "the demo campaign's items"
    );

    let server = serve(&data, &["--database", url]);
    // A second server on the same database, with a data directory of its own, serves it too
    // (replicas, issue #18): it takes the same logins.
    let other = dir.path().join("other");
    let second = serve(&other, &["--database", url]);
    let login = serde_json::json!({"username": "office", "password": PASSWORD});
    let (status, body) = http(&second.addr, "POST /api/login", None, &login).await?;
    assert_eq!(status, 200, "{body}");
    drop(second);
    let login = serde_json::json!({"username": "office", "password": PASSWORD});
    let (status, body) = http(&server.addr, "POST /api/login", None, &login).await?;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().expect("a token").to_owned();
    let (status, me) = http(
        &server.addr,
        "GET /api/me",
        Some(&token),
        &serde_json::Value::Null,
    )
    .await?;
    assert_eq!(
        (status, me["username"].as_str()),
        (200, Some("office")),
        "{me}"
    );
    let unit = serde_json::json!({"id": "pgtest", "name": "PostgreSQL 学校", "kind": "school"});
    let (status, body) = http(&server.addr, "POST /api/units", Some(&token), &unit).await?;
    assert_eq!(status, 201, "{body}");
    drop(server);
    drop(serve(&data, &["--database", url]));

    // Read back by the command line, from the same database.
    let ledger = rectify(&ledger_args);
    assert!(ledger.status.success(), "{}", text(&ledger.stderr));
    assert_eq!(text(&ledger.stdout), text(&original.stdout));
    let storage = rectify_server::storage::open(&database.storage_url()).await?;
    let units = storage.units().await?;
    assert!(
        units
            .iter()
            .any(|u| u.id.as_str() == "pgtest" && u.name == "PostgreSQL 学校"),
        "{units:?}"
    );
    assert!(storage.session(&"x".repeat(64)).await?.is_none());
    storage.close().await;
    assert!(
        !data.join("rectify.db").exists(),
        "no SQLite database in the data directory"
    );

    // Backups of PostgreSQL are pg_dump's job: refused before anything is made.
    let backup_dir = dir.path().join("backup");
    let refused = rectify(&[
        "backup",
        "--data",
        data_arg,
        "--database",
        url,
        backup_dir.to_str().unwrap(),
    ]);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("pg_dump"),
        "{}",
        text(&refused.stderr)
    );
    assert!(!backup_dir.exists());
    // A server that cannot be reached is said so at once, and a password is never shown.
    let bad = rectify(&[
        "user",
        "list",
        "--data",
        data_arg,
        "--database",
        "postgres://rectify:hunter2@127.0.0.1:1/nowhere",
    ]);
    assert!(!bad.status.success());
    assert!(
        !text(&bad.stderr).contains("hunter2"),
        "{}",
        text(&bad.stderr)
    );
    assert!(
        text(&bad.stderr).contains("rectify:***@127.0.0.1:1"),
        "{}",
        text(&bad.stderr)
    );
    Ok(())
}

/// #18: evidence in an S3 bucket. The server starts on the tests' bucket; a bucket that is not
/// there, or a --blobs that is no S3 location, stops it at start with the reason; a backup
/// holds the database only and says where the evidence is.
#[test]
fn evidence_in_s3_a_missing_bucket_stops_the_server_and_backup_says_what_it_covers() {
    let s3 = rectify_server::blobs::scratch::test_location().expect("the tests' S3 server");
    let endpoint = s3.endpoint.clone().expect("an endpoint");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo(&data);
    let bucket = format!("s3://{}/{}", s3.bucket, s3.prefix);
    let served = serve(&data, &["--blobs", &bucket, "--s3-endpoint", &endpoint]);
    drop(served);

    let missing = rectify(&[
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--blobs",
        "s3://no-such-bucket-here",
        "--s3-endpoint",
        &endpoint,
    ]);
    assert!(!missing.status.success());
    let said = text(&missing.stderr);
    assert!(
        said.contains("s3://no-such-bucket-here") && said.contains("that the bucket exists"),
        "{said}"
    );

    let bad = rectify(&[
        "serve",
        "--data",
        data.to_str().unwrap(),
        "--blobs",
        "/srv/files",
    ]);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("not an S3 location"),
        "{}",
        text(&bad.stderr)
    );

    let backup = dir.path().join("backup");
    let out = rectify(&[
        "backup",
        "--data",
        data.to_str().unwrap(),
        "--blobs",
        &bucket,
        backup.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("were not copied: keep them with the bucket's versioning"),
        "{}",
        text(&out.stdout)
    );
    assert!(!backup.join("blobs").exists());
}
