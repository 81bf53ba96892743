//! The one place where errors become HTTP responses.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rectify_shared::api::ErrorBody;
pub use rectify_shared::said::Said;

/// An error returned by an HTTP handler. Each variant maps to one status code; the body is
/// always an [`ErrorBody`] whose message says what was wrong and what to do, in English
/// (`message`) and in Chinese (`message_zh`), written side by side where the error is made
/// ([`Said`]): the app shows the one of its language.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(Said),
    #[error("{0}")]
    Unauthorized(Said),
    #[error("{0}")]
    Forbidden(Said),
    #[error("{0}")]
    NotFound(Said),
    /// The request does not fit the current state (an upload at another offset).
    #[error("{0}")]
    Conflict(Said),
    /// Over a size limit or a quota.
    #[error("{0}")]
    TooLarge(Said),
    /// Well-formed but wrong (a file whose bytes do not match its hash).
    #[error("{0}")]
    Unprocessable(Said),
    #[error("{0}")]
    TooManyRequests(Said),
    /// The server can't take this now (a limit, or shutting down); try again later.
    #[error("{0}")]
    Unavailable(Said),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            ApiError::TooManyRequests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // A handler may have wrapped a storage error in context on its way here: one that
        // may pass is still "try again" (see the `From<StorageError>` below).
        let this = match self {
            ApiError::Internal(err) if transient_storage_error(&err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "storage unavailable; the caller is told to retry"
                );
                ApiError::Unavailable(unavailable())
            }
            other => other,
        };
        let (status, code) = this.status_and_code();
        let said = match this {
            ApiError::Internal(err) => {
                // The details go to the log, not to the caller.
                tracing::error!(error = format!("{err:#}"), "internal error");
                Said::new(
                    "服务器内部出错，详情在服务器日志中；请稍后再试或联系管理员",
                    "internal server error; the details are in the server log",
                )
            }
            ApiError::BadRequest(said)
            | ApiError::Unauthorized(said)
            | ApiError::Forbidden(said)
            | ApiError::NotFound(said)
            | ApiError::Conflict(said)
            | ApiError::TooLarge(said)
            | ApiError::Unprocessable(said)
            | ApiError::TooManyRequests(said)
            | ApiError::Unavailable(said) => said,
        };
        let message = said.en;
        let message_zh = (!said.zh.is_empty()).then_some(said.zh);
        let body = Json(ErrorBody {
            code: code.to_owned(),
            message,
            message_zh,
        });
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Clients and proxies wait this long before asking again.
            let retry = [(axum::http::header::RETRY_AFTER, RETRY_AFTER_SECS)];
            return (status, retry, body).into_response();
        }
        (status, body).into_response()
    }
}

/// A JSON body that is missing, malformed or too large (400, 413), or of the wrong shape
/// (422): the message says which field.
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        let message = Said::new(
            format!("请求内容不符合该接口的要求：{}", rejection.body_text()),
            format!(
                "the request body is not what this endpoint takes: {}",
                rejection.body_text()
            ),
        );
        match rejection.status() {
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::Unprocessable(message),
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(message),
            _ => ApiError::BadRequest(message),
        }
    }
}

/// What a caller is told when the database cannot answer for now.
fn unavailable() -> Said {
    Said::new(
        "数据库暂时无法响应，请稍后再试",
        "the database cannot answer just now; try again in a moment",
    )
}

/// Whether `err` is, or was caused by, a storage error that may pass.
fn transient_storage_error(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<crate::storage::StorageError>()
            .is_some_and(crate::storage::StorageError::is_transient)
    })
}

/// Seconds a 503's `Retry-After` asks for.
const RETRY_AFTER_SECS: &str = "5";

/// A storage error that may pass (the database busy, the disk full for now:
/// `StorageError::is_transient`) is a 503 with `Retry-After`; any other is a 500 (the
/// details go to the log). Handlers that expect one answer it themselves first: a taken
/// username (`StorageError::UserExists`) and an item key added meanwhile
/// (`StorageError::Conflict`) are 409s in `office.rs`.
impl From<crate::storage::StorageError> for ApiError {
    fn from(err: crate::storage::StorageError) -> Self {
        if err.is_transient() {
            tracing::warn!(error = %err, "storage unavailable; the caller is told to retry");
            return ApiError::Unavailable(unavailable());
        }
        ApiError::Internal(err.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageError;

    /// What each kind of storage error becomes over HTTP: only a transient one asks the
    /// caller to come back (503 with Retry-After); the rest are the server's fault (500).
    #[test]
    fn storage_errors_over_http() {
        let cases = [
            (StorageError::Unavailable("busy".into()), 503, Some("5")),
            (StorageError::Corrupt("bad role".into()), 500, None),
            (StorageError::Backend("odd".into()), 500, None),
            (StorageError::Conflict("taken".into()), 500, None),
        ];
        for (err, status, retry_after) in cases {
            let what = err.to_string();
            let response = ApiError::from(err).into_response();
            assert_eq!(response.status().as_u16(), status, "{what}");
            let header = response
                .headers()
                .get(axum::http::header::RETRY_AFTER)
                .map(|v| v.to_str().unwrap_or_default());
            assert_eq!(header, retry_after, "{what}");
        }
        // Wrapped in context by a handler on its way: still a 503.
        let wrapped = anyhow::Error::from(StorageError::Unavailable("busy".into()))
            .context("cannot load the campaign");
        assert_eq!(
            ApiError::from(wrapped).into_response().status().as_u16(),
            503
        );
        let wrapped = anyhow::Error::from(StorageError::Corrupt("bad".into())).context("x");
        assert_eq!(
            ApiError::from(wrapped).into_response().status().as_u16(),
            500
        );
        let limit =
            ApiError::Unavailable(Said::new("连接太多", "too many connections")).into_response();
        assert!(
            limit
                .headers()
                .contains_key(axum::http::header::RETRY_AFTER)
        );
    }
}
