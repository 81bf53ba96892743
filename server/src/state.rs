//! What every handler can reach: [`AppState`], built once by `rectify serve` (and by the
//! tests) with the settings in [`ServerSettings`].

use crate::accounts;
use crate::evidence::files::{Files, FilesSettings};
use crate::maintenance;
use crate::metrics::Metrics;
use crate::storage::Storage;
use crate::sync_ws::{SyncHub, SyncSettings};
use crate::web::WebClient;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub storage: Arc<dyn Storage>,
    /// The built client bundle (`index.html`, `assets/` …): a directory, built in, or none.
    pub web: WebClient,
    /// The sync server behind `GET /sync`.
    pub sync: Arc<SyncHub>,
    /// Failed logins per account.
    pub login_throttle: Arc<accounts::LoginThrottle>,
    /// Failed logins per client address.
    pub address_throttle: Arc<accounts::LoginThrottle>,
    pub metrics: Arc<Metrics>,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` headers are believed
    /// ([`crate::proxy::client_address`]).
    pub trusted_proxies: Arc<Vec<IpAddr>>,
    /// What a scraper of `/metrics` must send as a bearer token (`--metrics-token`); without
    /// one, `/metrics` answers only callers on this machine.
    pub metrics_token: Option<Arc<str>>,
    /// Evidence files: the blob store and the limits.
    pub files: Arc<Files>,
}

/// Everything `rectify serve` can tune.
#[derive(Debug, Clone, Default)]
pub struct ServerSettings {
    pub sync: SyncSettings,
    pub files: FilesSettings,
    /// Where evidence files are stored (`--blobs`): the data directory by default.
    pub blobs: crate::blobs::BlobLocation,
    /// Reverse proxies in front of the server (`--trusted-proxy`): only from these are
    /// forwarded-for headers believed. None by default: the connection's address counts.
    pub trusted_proxies: Vec<IpAddr>,
    /// `--metrics-token`: the bearer token `/metrics` asks for. None by default: `/metrics`
    /// answers callers on this machine only.
    pub metrics_token: Option<String>,
}

impl AppState {
    /// The state with the default settings; evidence files go under `data_dir`.
    pub async fn new(
        storage: Arc<dyn Storage>,
        web: WebClient,
        data_dir: &Path,
    ) -> anyhow::Result<AppState> {
        Self::with_settings(storage, web, data_dir, ServerSettings::default()).await
    }

    /// The state, and the background housekeeping (eviction, compaction) that lives as long
    /// as its sync hub.
    pub async fn with_settings(
        storage: Arc<dyn Storage>,
        web: WebClient,
        data_dir: &Path,
        settings: ServerSettings,
    ) -> anyhow::Result<AppState> {
        let store = crate::blobs::open(&settings.blobs, data_dir).await?;
        Self::with_store(storage, web, store, settings).await
    }

    /// The state with its evidence files in `store` (`settings.blobs` is not read): for tests
    /// that share one store between servers, or wrap it to make it fail.
    pub async fn with_store(
        storage: Arc<dyn Storage>,
        web: WebClient,
        store: Arc<dyn crate::blobs::BlobStore>,
        settings: ServerSettings,
    ) -> anyhow::Result<AppState> {
        let metrics = Arc::new(Metrics::new());
        let sync = Arc::new(
            SyncHub::open(Arc::clone(&storage), settings.sync, Arc::clone(&metrics)).await?,
        );
        sync.start_feed();
        let files = Arc::new(Files::new(store, settings.files));
        let trusted_proxies = Arc::new(settings.trusted_proxies);
        let metrics_token = settings.metrics_token.map(Arc::from);
        maintenance::spawn(
            &sync,
            Arc::clone(&storage),
            Arc::clone(&metrics),
            Arc::clone(&files),
        );
        Ok(AppState {
            storage,
            web,
            sync,
            login_throttle: Arc::new(accounts::LoginThrottle::per_account()),
            address_throttle: Arc::new(accounts::LoginThrottle::per_address()),
            metrics,
            trusted_proxies,
            metrics_token,
            files,
        })
    }
}
