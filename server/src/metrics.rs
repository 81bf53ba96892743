//! `GET /metrics`: what an operator watches, in the Prometheus text format.
//!
//! Counters only count what already happened (no per-user or per-document labels), so the
//! endpoint reveals nothing about anyone's work and needs no login.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// Every metric the server keeps. Cloning a metric shares it, so the registry and the code
/// that counts hold the same values.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Open `GET /sync` WebSockets.
    pub connections: Gauge,
    /// Upgrades refused by the connection limits.
    pub connections_refused: Counter,
    /// Documents in the sync server's memory.
    pub documents_loaded: Gauge,
    /// Documents dropped from memory after being idle.
    pub documents_evicted: Counter,
    /// Documents whose stored chunks were merged into one.
    pub documents_compacted: Counter,
    /// Automerge changes accepted over sync and stored.
    pub changes_applied: Counter,
    /// Sync messages whose changes the policy refused (each kept in quarantine).
    pub changes_rejected: Counter,
    /// WebSocket payload bytes received and sent on `/sync`.
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    /// From a frame's arrival to the end of what it caused: stored durably and queued to
    /// every peer that should hear of it.
    pub sync_latency: Histogram,
    /// Failed logins (wrong password or unknown account), and logins refused as throttled.
    pub logins_failed: Counter,
    pub logins_throttled: Counter,
    /// Sync connections dropped because the peer did not read what was sent to it.
    pub slow_peers_disconnected: Counter,
    /// Storage reads and writes of the sync hub that failed (the peer was told to retry).
    pub storage_errors: Counter,
    /// Times a loaded document was brought up to changes another server stored.
    pub documents_caught_up: Counter,
    /// Changes not written because another server had written their document since this one
    /// read it (the sender was told to send them again).
    pub writes_outdated: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("rectify");
        let connections = Gauge::default();
        let connections_refused = Counter::default();
        let documents_loaded = Gauge::default();
        let documents_evicted = Counter::default();
        let documents_compacted = Counter::default();
        let changes_applied = Counter::default();
        let changes_rejected = Counter::default();
        let bytes_in = Counter::default();
        let bytes_out = Counter::default();
        // 0.25 ms .. about 4 s.
        let sync_latency = Histogram::new(exponential_buckets(0.000_25, 2.0, 15));
        let logins_failed = Counter::default();
        let logins_throttled = Counter::default();
        let slow_peers_disconnected = Counter::default();
        let storage_errors = Counter::default();
        let documents_caught_up = Counter::default();
        let writes_outdated = Counter::default();

        registry.register(
            "sync_connections",
            "Open sync WebSocket connections",
            connections.clone(),
        );
        registry.register(
            "sync_connections_refused",
            "Sync connections refused by the connection limits",
            connections_refused.clone(),
        );
        registry.register(
            "documents_loaded",
            "Documents in the sync server's memory",
            documents_loaded.clone(),
        );
        registry.register(
            "documents_evicted",
            "Documents dropped from memory after being idle",
            documents_evicted.clone(),
        );
        registry.register(
            "documents_compacted",
            "Documents whose stored chunks were merged into one",
            documents_compacted.clone(),
        );
        registry.register(
            "sync_storage_errors",
            "Document loads and writes of the sync hub that failed; the peers were told to retry",
            storage_errors.clone(),
        );
        registry.register(
            "sync_changes_applied",
            "Automerge changes accepted over sync and stored",
            changes_applied.clone(),
        );
        registry.register(
            "sync_changes_rejected",
            "Sync messages whose changes were refused by the policy and quarantined",
            changes_rejected.clone(),
        );
        registry.register_with_unit(
            "sync_received",
            "WebSocket payload received on /sync",
            Unit::Bytes,
            bytes_in.clone(),
        );
        registry.register_with_unit(
            "sync_sent",
            "WebSocket payload queued for sending on /sync",
            Unit::Bytes,
            bytes_out.clone(),
        );
        registry.register_with_unit(
            "sync_latency",
            "Time from a sync frame's arrival until it is stored and relayed",
            Unit::Seconds,
            sync_latency.clone(),
        );
        registry.register(
            "logins_failed",
            "Failed login attempts",
            logins_failed.clone(),
        );
        registry.register(
            "logins_throttled",
            "Login attempts refused because of too many failures",
            logins_throttled.clone(),
        );
        registry.register(
            "sync_slow_peers_disconnected",
            "Sync connections dropped because the peer did not read",
            slow_peers_disconnected.clone(),
        );
        registry.register(
            "documents_caught_up",
            "Loaded documents brought up to changes another server stored",
            documents_caught_up.clone(),
        );
        registry.register(
            "sync_writes_outdated",
            "Changes not written because another server wrote their document first; the sender resends",
            writes_outdated.clone(),
        );
        Metrics {
            registry,
            connections,
            connections_refused,
            documents_loaded,
            documents_evicted,
            documents_compacted,
            changes_applied,
            changes_rejected,
            bytes_in,
            bytes_out,
            sync_latency,
            logins_failed,
            logins_throttled,
            slow_peers_disconnected,
            storage_errors,
            documents_caught_up,
            writes_outdated,
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Converts a count to the `u64` counters take.
pub fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
