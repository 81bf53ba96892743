//! Serving the built client: `index.html`, the hashed JS/WASM/CSS under `/assets/`, the
//! manifest, icons and the service worker.
//!
//! `cargo xtask build` writes brotli (`.br`) and gzip (`.gz`) siblings next to every asset;
//! `ServeDir` picks one from `Accept-Encoding`. Hashed assets are cached forever; everything
//! else is revalidated on each load, so a new deployment is picked up at once.
//!
//! HTML pages carry a Content-Security-Policy ([`content_security_policy`]) and refuse to be
//! framed (`X-Frame-Options: DENY`, `frame-ancestors 'none'`).

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue, X_FRAME_OPTIONS,
};
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
    let policy = std::fs::read_to_string(root.join("index.html"))
        .map(|html| content_security_policy(&html))
        .unwrap_or_else(|_| content_security_policy(""));
    let policy = HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static(
        "default-src 'self'; frame-ancestors 'none'",
    ));
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(cache_headers))
        .layer(middleware::from_fn(move |request, next| {
            html_headers(policy.clone(), request, next)
        }))
}

/// The Content-Security-Policy of the app's pages: scripts only from this origin, plus the
/// inline boot script of `html` (by its SHA-256, as the built `index.html` has it) and
/// `'wasm-unsafe-eval'` to compile the app's WebAssembly; no inline styles, no plugins, no
/// framing; connections (the API, the sync WebSocket) only to this origin; images also from
/// `blob:` and `data:` URLs (evidence shown from the device).
pub fn content_security_policy(html: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let hashes: String = inline_scripts(html)
        .map(|script| {
            let digest = sha2::Sha256::digest(script.as_bytes());
            let hash = base64::engine::general_purpose::STANDARD.encode(digest);
            format!(" 'sha256-{hash}'")
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
         img-src 'self' blob: data:; connect-src 'self'; worker-src 'self'; \
         manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// The contents of `html`'s inline `<script>` elements (those without `src`).
fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script").skip(1).filter_map(|rest| {
        let (tag, after) = rest.split_once('>')?;
        let (body, _) = after.split_once("</script>")?;
        (!tag.contains("src=")).then_some(body)
    })
}

/// The page-only headers, on every HTML response of the web client.
async fn html_headers(policy: HeaderValue, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let html = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        let headers = response.headers_mut();
        headers.insert(CONTENT_SECURITY_POLICY, policy);
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
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
