//! Serving the built client: `index.html`, the hashed JS/WASM/CSS under `/assets/`, the
//! manifest, icons and the service worker.
//!
//! `cargo xtask build` writes brotli (`.br`) and gzip (`.gz`) siblings next to every asset;
//! `ServeDir` picks one from `Accept-Encoding`. Hashed assets are cached forever; everything
//! else is revalidated on each load, so a new deployment is picked up at once.

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::path::Path;
use tower_http::services::{ServeDir, ServeFile};

/// The router for everything that is not the API: static files with a fallback to
/// `index.html`, so that client-side routes (`/items/…`) load the app.
pub fn router(web_root: Option<&Path>) -> Router {
    let Some(root) = web_root.filter(|root| root.join("index.html").is_file()) else {
        let missing = web_root
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        return Router::new().fallback(move || async move { no_bundle(&missing) });
    };
    let index = ServeFile::new(root.join("index.html"))
        .precompressed_br()
        .precompressed_gzip();
    let files = ServeDir::new(root)
        .precompressed_br()
        .precompressed_gzip()
        .append_index_html_on_directories(true)
        .fallback(index);
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(cache_headers))
}

async fn cache_headers(request: Request, next: Next) -> Response {
    let immutable = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    let value = if immutable && response.status().is_success() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static(value));
    response
}

fn no_bundle(path: &str) -> Response {
    let message = format!(
        "The Rectify web client is not built (looked for {path}/index.html).\n\
         Build it with `cargo xtask build`, or start everything with `cargo xtask run`,\n\
         or point the server at a built bundle with --web-root / RECTIFY_WEB_ROOT.\n"
    );
    (StatusCode::SERVICE_UNAVAILABLE, message).into_response()
}
