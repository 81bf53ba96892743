//! The upload protocol's client side in Rust (the browser's is `client/src/services/uploads.rs`):
//! `POST /api/uploads`, then `PATCH` pieces from the offset the server reports, resuming
//! after any drop. Used by the tests and the measurements to drive the server directly.

use anyhow::{Result, bail};
use rectify_shared::evidence::{UPLOAD_OFFSET, UploadRequest, UploadStatus, sha256_hex};
use std::time::Duration;

/// What an upload cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadReport {
    pub requests: u32,
    /// Requests that failed on the way (a cut connection).
    pub failures: u32,
    /// File bytes put into request bodies, including those that did not arrive.
    pub body_bytes_sent: u64,
}

/// Uploads `bytes` to the server at `base` (`http://host:port`) in pieces of `piece` bytes,
/// resuming after network errors, up to `max_failures` of them.
pub async fn upload(
    base: &str,
    token: &str,
    name: &str,
    bytes: &[u8],
    piece: usize,
    max_failures: u32,
) -> Result<UploadReport> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let sha256 = sha256_hex(bytes);
    let mut report = UploadReport::default();
    loop {
        match upload_once(&http, base, token, name, &sha256, bytes, piece, &mut report).await {
            Ok(()) => return Ok(report),
            Err(Failure::Network(err)) => {
                report.failures += 1;
                if report.failures > max_failures {
                    bail!("gave up after {} network failures: {err}", report.failures);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(Failure::Refused(status, body)) => bail!("refused with {status}: {body}"),
        }
    }
}

enum Failure {
    Network(reqwest::Error),
    Refused(reqwest::StatusCode, String),
}

impl From<reqwest::Error> for Failure {
    fn from(err: reqwest::Error) -> Self {
        Failure::Network(err)
    }
}

#[allow(clippy::too_many_arguments)]
async fn upload_once(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
    sha256: &str,
    bytes: &[u8],
    piece: usize,
    report: &mut UploadReport,
) -> Result<(), Failure> {
    let request = UploadRequest {
        sha256: sha256.to_owned(),
        size: bytes.len() as u64,
        name: name.to_owned(),
    };
    report.requests += 1;
    let response = http
        .post(format!("{base}/api/uploads"))
        .bearer_auth(token)
        .json(&request)
        .send()
        .await?;
    let mut status = read_status(response).await?;
    while !status.complete {
        let from = status.received as usize;
        let to = (from + piece).min(bytes.len());
        report.requests += 1;
        report.body_bytes_sent += (to - from) as u64;
        let response = http
            .patch(format!("{base}/api/uploads/{sha256}"))
            .bearer_auth(token)
            .header(UPLOAD_OFFSET, from.to_string())
            .body(bytes[from..to].to_vec())
            .send()
            .await?;
        if response.status() == reqwest::StatusCode::CONFLICT {
            return Err(Failure::Network(response.error_for_status().unwrap_err()));
        }
        status = read_status(response).await?;
    }
    Ok(())
}

async fn read_status(response: reqwest::Response) -> Result<UploadStatus, Failure> {
    let code = response.status();
    if code.is_success() {
        Ok(response.json().await?)
    } else {
        Err(Failure::Refused(
            code,
            response.text().await.unwrap_or_default(),
        ))
    }
}
