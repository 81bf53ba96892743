//! JSON request bodies whose rejection is an [`ApiError`] (the API's `{code, message}`), read
//! at once ([`JsonBody`]) or only after the handler's permission check ([`LaterJson`]).

use crate::error::ApiError;
use axum::Json;
use axum::extract::{FromRequest, Request};

/// A JSON body whose rejection is an [`ApiError`] (a JSON [`ErrorBody`](rectify_shared::api::ErrorBody)).
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(JsonBody(value))
    }
}

/// A JSON body read only when the handler asks ([`LaterJson::read`]): after the permission
/// check, so that a caller who may not use an endpoint is told 403, not what the endpoint's
/// body should hold. Its errors are those of [`JsonBody`].
pub struct LaterJson<T> {
    request: Request,
    body: std::marker::PhantomData<fn() -> T>,
}

impl<S, T> FromRequest<S> for LaterJson<T>
where
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(LaterJson {
            request,
            body: std::marker::PhantomData,
        })
    }
}

impl<T: serde::de::DeserializeOwned> LaterJson<T> {
    /// Reads and parses the body.
    pub async fn read(self) -> Result<T, ApiError> {
        let JsonBody(value) = JsonBody::from_request(self.request, &()).await?;
        Ok(value)
    }
}
