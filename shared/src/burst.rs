//! A typing burst is one change. The keystrokes in a text field are held here, per field,
//! and become one edit of the document when the field has been quiet for [`QUIET_MS`], or
//! when the burst has lasted [`LONGEST_MS`] (someone typing without a pause still gets their
//! work on disk), or when the caller ends it (blur, leaving the page, the tab hidden,
//! logging out). Sans-IO: the caller passes the clock in and carries out what comes back.
//!
//! Each keystroke as its own Automerge change cost, for a 200-character paragraph typed key
//! by key, 200 changes; as one burst it is one change of a fraction of the bytes (the
//! numbers are in `shared/tests/burst.rs` and ARCHITECTURE.md, "the life of an edit").

use std::collections::BTreeMap;

/// Quiet time after the last keystroke that ends a burst, in milliseconds.
pub const QUIET_MS: f64 = 1500.0;
/// The longest a burst lasts however fast someone types, in milliseconds.
pub const LONGEST_MS: f64 = 10_000.0;

/// One field's burst: its latest value and when it started and was last typed in.
#[derive(Debug, Clone, PartialEq)]
struct Open<T> {
    value: T,
    started_ms: f64,
    last_ms: f64,
}

impl<T> Open<T> {
    fn due_ms(&self) -> f64 {
        (self.last_ms + QUIET_MS).min(self.started_ms + LONGEST_MS)
    }
}

/// The open bursts, by field `K`, each holding the field's latest value `T`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bursts<K, T> {
    open: BTreeMap<K, Open<T>>,
}

impl<K: Ord + Clone, T> Default for Bursts<K, T> {
    fn default() -> Self {
        Bursts {
            open: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone, T> Bursts<K, T> {
    /// A keystroke in `key` at `now_ms`: `value` replaces what the burst held (`update` gets
    /// the value held so far, `None` when this keystroke starts the burst, so the caller can
    /// keep what it noted at the start).
    pub fn typed(&mut self, key: K, now_ms: f64, update: impl FnOnce(Option<T>) -> T) {
        let (value, started_ms) = match self.open.remove(&key) {
            Some(open) => (update(Some(open.value)), open.started_ms),
            None => (update(None), now_ms),
        };
        self.open.insert(
            key,
            Open {
                value,
                started_ms,
                last_ms: now_ms,
            },
        );
    }

    /// Takes the bursts that are over at `now_ms`, in key order.
    pub fn take_due(&mut self, now_ms: f64) -> Vec<(K, T)> {
        let due: Vec<K> = self
            .open
            .iter()
            .filter(|(_, open)| open.due_ms() <= now_ms)
            .map(|(key, _)| key.clone())
            .collect();
        due.into_iter()
            .filter_map(|key| self.open.remove(&key).map(|open| (key, open.value)))
            .collect()
    }

    /// Ends the bursts whose key `which` picks now (blur, leaving, hidden, logging out).
    pub fn take_where(&mut self, which: impl Fn(&K) -> bool) -> Vec<(K, T)> {
        let keys: Vec<K> = self.open.keys().filter(|k| which(k)).cloned().collect();
        keys.into_iter()
            .filter_map(|key| self.open.remove(&key).map(|open| (key, open.value)))
            .collect()
    }

    /// When the next burst is over, if any is open: when to call [`Bursts::take_due`].
    pub fn next_due_ms(&self) -> Option<f64> {
        self.open.values().map(Open::due_ms).reduce(f64::min)
    }

    pub fn get(&self, key: &K) -> Option<&T> {
        self.open.get(key).map(|open| &open.value)
    }

    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}
