//! Serving the built client: `index.html`, the hashed JS/WASM/CSS under `/assets/`, the
//! manifest, icons and the service worker.
//!
//! The client comes from one of two places, served through one interface ([`WebClient`]):
//! a directory (`--web-root`, what `cargo xtask build` writes to `target/web`; `ServeDir`), or
//! the files built into the `rectify` binary ([`EmbeddedFile`], by the build script of the
//! `rectify` crate; [`embedded_service`]). With neither, every page answers 503 saying how to
//! get one; the API and sync work regardless.
//!
//! `cargo xtask build` writes brotli (`.br`) and gzip (`.gz`) siblings next to every asset;
//! either source picks one from `Accept-Encoding`. Hashed assets are cached forever;
//! everything else is revalidated on each load, so a new deployment is picked up at once.
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
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tower_http::services::{ServeDir, ServeFile};

/// One file of the client built into the binary: its path in the bundle (`index.html`,
/// `assets/rectify-…wasm.br`) and its bytes. The `rectify` crate's build script makes the list
/// from `target/web`.
#[derive(Debug)]
pub struct EmbeddedFile {
    pub path: &'static str,
    pub bytes: &'static [u8],
}

/// Where the web client is served from.
#[derive(Debug, Clone)]
pub enum WebClient {
    /// A built bundle in a directory (`--web-root DIR`).
    Dir(PathBuf),
    /// The bundle built into this binary (never empty).
    Embedded(&'static [EmbeddedFile]),
    /// None: the pages say so (503); the API and sync work.
    Missing,
}

impl From<Option<PathBuf>> for WebClient {
    /// A directory when given, else none.
    fn from(dir: Option<PathBuf>) -> WebClient {
        dir.map_or(WebClient::Missing, WebClient::Dir)
    }
}

impl WebClient {
    /// `--web-root` when given, else the client built into the binary, else none.
    pub fn choose(dir: Option<PathBuf>, embedded: &'static [EmbeddedFile]) -> WebClient {
        match dir {
            Some(dir) => WebClient::Dir(dir),
            None if embedded.iter().any(|f| f.path == "index.html") => {
                WebClient::Embedded(embedded)
            }
            None => WebClient::Missing,
        }
    }

    /// Where the client comes from, for the log at start.
    pub fn describe(&self) -> String {
        match self {
            WebClient::Dir(dir) => format!("from {}", dir.display()),
            WebClient::Embedded(files) => {
                let bytes: usize = files.iter().map(|f| f.bytes.len()).sum();
                format!("built in ({} files, {} KiB)", files.len(), bytes / 1024)
            }
            WebClient::Missing => "none".to_owned(),
        }
    }

    /// The built `index.html`, if there is one.
    fn index_html(&self) -> Option<String> {
        match self {
            WebClient::Dir(dir) => std::fs::read_to_string(dir.join("index.html")).ok(),
            WebClient::Embedded(files) => files
                .iter()
                .find(|f| f.path == "index.html")
                .map(|f| String::from_utf8_lossy(f.bytes).into_owned()),
            WebClient::Missing => None,
        }
    }
}

/// The router for everything that is not the API: static files with a fallback to
/// `index.html`, so that client-side routes (`/items/…`) load the app.
pub fn router(web: &WebClient) -> Router {
    let Some(html) = web.index_html() else {
        let missing = match web {
            WebClient::Dir(dir) => format!(
                "The Rectify web client is not built (looked for {}/index.html).",
                dir.display()
            ),
            _ => "This rectify binary has no web client built in, and no --web-root was given."
                .to_owned(),
        };
        return Router::new().fallback(move || async move { no_bundle(&missing) });
    };
    let files = match web {
        WebClient::Dir(root) => {
            let index = ServeFile::new(root.join("index.html"))
                .precompressed_br()
                .precompressed_gzip();
            let files = ServeDir::new(root)
                .precompressed_br()
                .precompressed_gzip()
                .append_index_html_on_directories(true)
                .fallback(index);
            Router::new().fallback_service(files)
        }
        WebClient::Embedded(files) => embedded_service(files),
        WebClient::Missing => unreachable!("no index.html without a client"),
    };
    let policy = content_security_policy(&html);
    let policy = HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static(
        "default-src 'self'; frame-ancestors 'none'",
    ));
    files
        .layer(middleware::from_fn(cache_headers))
        .layer(middleware::from_fn(move |request, next| {
            html_headers(policy.clone(), request, next)
        }))
}

/// The Content-Security-Policy of the app's pages: scripts only from this origin, plus the
/// inline boot script of `html` (by its SHA-256, as the built `index.html` has it) and
/// `'wasm-unsafe-eval'` to compile the app's WebAssembly; no inline styles but the HTML
/// report's own (by its hash), no plugins, no
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
    // The HTML report, opened by the app in a tab of its own from a `blob:` URL, is under
    // this policy too: its one inline style is allowed by its hash.
    let report_style = {
        let digest = sha2::Sha256::digest(rectify_shared::report::html::STYLE.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(digest)
    };
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; \
         style-src 'self' 'sha256-{report_style}'; \
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

fn no_bundle(what: &str) -> Response {
    let message = format!(
        "{what}\n\
         Build it with `cargo xtask build` (then `cargo build --release -p rectify` builds it\n\
         into the binary), or start everything with `cargo xtask run`, or point the server at\n\
         a built bundle with --web-root / RECTIFY_WEB_ROOT.\n"
    );
    (StatusCode::SERVICE_UNAVAILABLE, message).into_response()
}

/// One file of the embedded client as served: its type, its validator and where its
/// pre-compressed variants are.
#[derive(Debug)]
struct Served {
    bytes: &'static [u8],
    content_type: HeaderValue,
    etag: HeaderValue,
    br: Option<&'static [u8]>,
    gzip: Option<&'static [u8]>,
}

/// The embedded client served as `ServeDir` serves a directory: the file at the path (a
/// directory's `index.html`), else `index.html` (client-side routes); `Content-Type` from the
/// name (`mime_guess`, as `ServeDir`); the brotli or gzip variant when the request accepts it
/// (`Vary: Accept-Encoding`); an `ETag` (the SHA-256 of the bytes) answered with 304; only
/// GET and HEAD.
pub fn embedded_service(files: &'static [EmbeddedFile]) -> Router {
    use sha2::Digest;
    let by_path: HashMap<&'static str, &'static [u8]> =
        files.iter().map(|f| (f.path, f.bytes)).collect();
    let served: HashMap<&'static str, Served> = files
        .iter()
        .filter(|f| !f.path.ends_with(".br") && !f.path.ends_with(".gz"))
        .map(|f| {
            let mime = mime_guess::from_path(f.path)
                .first_raw()
                .unwrap_or("application/octet-stream");
            let digest = sha2::Sha256::digest(f.bytes);
            let etag = format!("\"{}\"", hex(&digest[..16]));
            let variant = |ext: &str| by_path.get(format!("{}.{ext}", f.path).as_str()).copied();
            let served = Served {
                bytes: f.bytes,
                content_type: HeaderValue::from_static(mime),
                etag: HeaderValue::from_str(&etag).expect("hex is a valid header"),
                br: variant("br"),
                gzip: variant("gz"),
            };
            (f.path, served)
        })
        .collect();
    let served = Arc::new(served);
    Router::new().fallback(move |request: Request| {
        let served = Arc::clone(&served);
        async move { serve_embedded(&served, &request) }
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn serve_embedded(served: &HashMap<&'static str, Served>, request: &Request) -> Response {
    use axum::http::Method;
    use axum::http::header::{
        ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, ETAG, IF_NONE_MATCH, VARY,
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET,HEAD"));
        return response;
    }
    let path = request.uri().path().trim_start_matches('/');
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_owned()
    };
    let Some(file) = served
        .get(path.as_str())
        .or_else(|| served.get("index.html"))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let headers = request.headers();
    let mut response = if headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == file.etag))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let accepted = headers
            .get(ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let (bytes, encoding) = match (file.br, file.gzip) {
            (Some(br), _) if accepts(accepted, "br") => (br, Some("br")),
            (_, Some(gzip)) if accepts(accepted, "gzip") => (gzip, Some("gzip")),
            _ => (file.bytes, None),
        };
        let mut response = if request.method() == Method::HEAD {
            let mut response = StatusCode::OK.into_response();
            response
                .headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            response
        } else {
            bytes.into_response()
        };
        if let Some(encoding) = encoding {
            response
                .headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        response
    };
    let out = response.headers_mut();
    out.insert(CONTENT_TYPE, file.content_type.clone());
    out.insert(ETAG, file.etag.clone());
    if file.br.is_some() || file.gzip.is_some() {
        out.insert(VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// Whether an `Accept-Encoding` value accepts `coding` (named, not with `q=0`).
fn accepts(accept_encoding: &str, coding: &str) -> bool {
    accept_encoding.split(',').any(|entry| {
        let mut parts = entry.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        name.eq_ignore_ascii_case(coding) && !refused
    })
}
