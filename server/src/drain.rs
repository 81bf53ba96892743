//! Answers reach a caller that is still sending its body. A handler or an extractor that
//! refuses a request (401 without a valid token, 403 for the wrong role, 413, 409 …) often does
//! so before it reads the body; were the answer sent and the connection closed while a
//! multi-megabyte body is still arriving, the caller's TCP stack would see a reset and lose
//! the answer and its reason. [`unread_bodies`], one layer around the API, gives the handler
//! the body through a proxy and, once the handler has answered, reads what it left unread
//! (bounded by [`MAX_DRAIN_BYTES`] and [`MAX_DRAIN_TIME`]) and drops it before the answer is
//! sent. A body declared larger than the bound is not waited for: there is no helping a
//! caller that sends far more than any route takes.

use axum::body::{Body, BodyDataStream};
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::middleware::Next;
use axum::response::Response;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// The most of an unread body read (and dropped) before answering: the largest body a route
/// takes (a report to import, `office::import::MAX_IMPORT_BYTES`) and some slack.
pub const MAX_DRAIN_BYTES: u64 = crate::office::import::MAX_IMPORT_BYTES as u64 + 4 * 1024 * 1024;
/// The longest the answer waits for the rest of a body (a slow phone's upload part).
pub const MAX_DRAIN_TIME: Duration = Duration::from_secs(30);

/// The layer (`axum::middleware::from_fn(unread_bodies)`): see the [module](self) docs.
pub async fn unread_bodies(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let has_body = declared.is_some_and(|len| len > 0) || headers.contains_key(TRANSFER_ENCODING);
    if !has_body || declared.is_some_and(|len| len > MAX_DRAIN_BYTES) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let shared = Arc::new(Mutex::new(body.into_data_stream()));
    let proxy = futures_util::stream::unfold(Arc::clone(&shared), |shared| async move {
        let next = shared.lock().await.next().await;
        next.map(|frame| (frame, shared))
    });
    let response = next
        .run(Request::from_parts(parts, Body::from_stream(proxy)))
        .await;
    let mut rest = shared.lock().await;
    let _ = tokio::time::timeout(MAX_DRAIN_TIME, drain(&mut rest)).await;
    response
}

/// Reads and drops what is left of a body, up to [`MAX_DRAIN_BYTES`].
async fn drain(body: &mut BodyDataStream) {
    let mut read = 0u64;
    while let Some(Ok(frame)) = body.next().await {
        read += frame.len() as u64;
        if read > MAX_DRAIN_BYTES {
            return;
        }
    }
}
