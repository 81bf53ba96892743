//! The S3-compatible server the tests store evidence in (`RECTIFY_TEST_S3_ENDPOINT`).
//!
//! In order: the variable when it is set (its bucket `rectify-test` must exist); else moto's
//! server (`moto[server]` from PyPI, a faithful-enough S3: create-only PUTs answer 412,
//! multipart uploads work), installed into a virtual environment under `target/moto` with
//! `python3 -m venv` and `pip` when missing, started on a free loopback port with the bucket
//! made, and stopped after the tests. Each step says what it did. The tests themselves only
//! read the variables (`rectify_server::blobs::scratch`), and each uses a prefix of its own.

use crate::{run_cmd, step};
use anyhow::{Context, Result, bail};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The variable the tests read (`rectify_server::blobs::scratch::TEST_S3_ENV`).
pub const TEST_S3_ENV: &str = "RECTIFY_TEST_S3_ENDPOINT";
/// The bucket the tests use (`rectify_server::blobs::scratch::TEST_BUCKET`).
pub const TEST_BUCKET: &str = "rectify-test";
/// What moto accepts as credentials (any); the tests' S3 client needs some to sign with.
pub const TEST_CREDENTIALS: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "rectify-test"),
    ("AWS_SECRET_ACCESS_KEY", "rectify-test"),
    ("AWS_REGION", "us-east-1"),
];
/// The moto release checked with `object_store` (create-only PUT, multipart).
const MOTO: &str = "moto[server]==5.2.6";

/// The S3 endpoint the tests use, and the server to stop afterwards, if one was started.
pub struct TestS3 {
    pub endpoint: String,
    server: Option<Child>,
}

impl TestS3 {
    /// Stops the server, if this started one.
    pub fn stop(self) {
        if let Some(mut server) = self.server {
            step("stopping the test S3 server (moto)");
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// The variables a test process needs: the endpoint and credentials to sign with.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![(TEST_S3_ENV, self.endpoint.clone())];
        for (key, value) in TEST_CREDENTIALS {
            // Credentials set by the caller (for their own endpoint) are kept.
            if std::env::var_os(key).is_none() {
                env.push((key, value.to_owned()));
            }
        }
        env
    }
}

/// Finds (or starts) the S3 server for the tests.
pub fn ensure(root: &Path) -> Result<TestS3> {
    if let Ok(endpoint) = std::env::var(TEST_S3_ENV)
        && !endpoint.is_empty()
    {
        println!("    S3 for the tests: {TEST_S3_ENV} as set ({endpoint}, bucket {TEST_BUCKET})");
        return Ok(TestS3 {
            endpoint,
            server: None,
        });
    }
    let dir = root.join("target/moto");
    let venv = dir.join("venv");
    let moto_server = venv.join("bin/moto_server");
    if !moto_server.is_file() {
        install(&venv)?;
    }
    let port = free_port()?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let log_path = dir.join("log");
    step(&format!(
        "starting the test S3 server (moto) on {endpoint} (log in {})",
        log_path.display()
    ));
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let mut server = Command::new(&moto_server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", moto_server.display()))?;
    let started = Instant::now();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if let Some(status) = server.try_wait()? {
            bail!(
                "the test S3 server (moto) exited at start ({status}); see {}",
                log_path.display()
            );
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = server.kill();
            bail!(
                "the test S3 server (moto) did not answer on {endpoint} within 30 s; see {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // boto3 comes with moto: make the bucket with it.
    let made = run_cmd(Command::new(venv.join("bin/python")).arg("-c").arg(format!(
        "import boto3; boto3.client('s3', endpoint_url='{endpoint}', \
                 aws_access_key_id='x', aws_secret_access_key='x', region_name='us-east-1')\
                 .create_bucket(Bucket='{TEST_BUCKET}')"
    )))
    .context("cannot make the tests' bucket on the test S3 server");
    if let Err(err) = made {
        let _ = server.kill();
        return Err(err);
    }
    println!("    S3 for the tests: moto at {endpoint}, bucket {TEST_BUCKET}");
    Ok(TestS3 {
        endpoint,
        server: Some(server),
    })
}

/// `python3 -m venv target/moto/venv && pip install moto[server]`.
fn install(venv: &PathBuf) -> Result<()> {
    step(&format!(
        "installing the test S3 server: {MOTO} from PyPI into {} (python3 -m venv, pip)",
        venv.display()
    ));
    let python = Command::new("python3").arg("--version").output();
    if !python.is_ok_and(|out| out.status.success()) {
        bail!(
            "the S3 tests need python3 (with venv and pip) to install moto's S3 server; install \
             it (Debian: `sudo apt-get install python3-venv`) or set {TEST_S3_ENV} to an \
             S3-compatible endpoint with a bucket named {TEST_BUCKET}"
        );
    }
    run_cmd(Command::new("python3").args(["-m", "venv"]).arg(venv)).context(
        "cannot make a Python virtual environment (Debian: `sudo apt-get install python3-venv`)",
    )?;
    run_cmd(Command::new(venv.join("bin/pip")).args(["install", "--quiet", MOTO]))
        .context("cannot install moto's S3 server from PyPI")
}

/// A loopback port nothing listens on now.
fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").context("cannot find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// `cargo xtask s3`: starts the server and prints the variables for running tests by hand;
/// it runs until Ctrl-C.
pub fn serve_for_hand_runs(root: &Path) -> Result<()> {
    step("the S3 server for the tests");
    let s3 = ensure(root)?;
    println!();
    for (key, value) in s3.env() {
        println!("export {key}={value}");
    }
    match s3.server {
        Some(mut server) => {
            println!("\n(moto runs until this command is stopped with Ctrl-C)");
            server.wait()?;
            Ok(())
        }
        None => Ok(()),
    }
}
