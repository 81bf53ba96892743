//! How a client paces itself on a poor link (issue #24): when to try again after losing the
//! server, and how many bytes of a file to send in one upload request. Pure functions (the
//! randomness and the clock are passed in), so they are tested natively; the browser client
//! calls them from its connection loop and its upload queue.

/// A device that heard from the server this recently was on a working link a moment ago:
/// the link most likely comes back soon, so its retries stay short.
pub const RECENT_CONTACT_MS: f64 = 10.0 * 60.0 * 1000.0;

/// The longest wait between two tries for a device in recent contact. Each device picks its
/// wait at random between [`MIN_RETRY_MS`] and this (full jitter), so after a server restart
/// the district's devices come back spread over these two seconds, not all in one.
pub const RECENT_RETRY_CAP_MS: u32 = 2_000;

/// The longest wait otherwise (a server that refuses is not hammered).
pub const MAX_RETRY_MS: u32 = 60_000;

/// The shortest wait: never a tight loop.
pub const MIN_RETRY_MS: u32 = 250;

/// How long to wait before try number `attempt` (1 for the first try after a loss).
/// `recent_contact`: the device heard from the server within [`RECENT_CONTACT_MS`] and the
/// server did not ask it to come back later. `random` is uniform in `[0, 1)`.
///
/// Exponential backoff with full jitter, up to 2 s, 4 s … 60 s; capped at
/// [`RECENT_RETRY_CAP_MS`] for a device in recent contact.
pub fn retry_delay_ms(attempt: u32, recent_contact: bool, random: f64) -> u32 {
    let grown = 1000u32
        .saturating_mul(1 << attempt.min(6))
        .min(MAX_RETRY_MS);
    let cap = if recent_contact {
        grown.min(RECENT_RETRY_CAP_MS)
    } else {
        grown
    };
    let random = if random.is_finite() {
        random.clamp(0.0, 1.0)
    } else {
        0.0
    };
    ((random * f64::from(cap)) as u32).max(MIN_RETRY_MS)
}

/// The fewest bytes an upload request carries (a piece of a file).
pub const MIN_PIECE_BYTES: u64 = 16 * 1024;
/// The most: a good link is not slowed by many small requests, and progress still shows.
pub const MAX_PIECE_BYTES: u64 = 1024 * 1024;
/// The first piece of a session, before anything was measured.
pub const FIRST_PIECE_BYTES: u64 = 64 * 1024;
/// How long a piece should take, request to answer: long enough that the round trip is a
/// small part of it, short enough that a connection cut loses little and a pause is quick.
pub const PIECE_TARGET_MS: f64 = 3_000.0;
/// A piece grows at most this many times over the last one: one fast measurement of a small
/// piece (a burst of the link) does not jump to a piece the link cannot carry.
const MAX_GROWTH: u64 = 4;

/// The size of the next piece after one of `bytes` took `elapsed_ms` from request to answer
/// (the round trip included, so on a slow link with a long round trip the piece settles where
/// sending it takes [`PIECE_TARGET_MS`] in all). Between [`MIN_PIECE_BYTES`] and
/// [`MAX_PIECE_BYTES`]; a piece that failed is not a measurement (keep the size).
pub fn next_piece_bytes(bytes: u64, elapsed_ms: f64) -> u64 {
    let bytes = bytes.clamp(MIN_PIECE_BYTES, MAX_PIECE_BYTES);
    let most = bytes.saturating_mul(MAX_GROWTH).min(MAX_PIECE_BYTES);
    if !elapsed_ms.is_finite() || elapsed_ms <= 0.0 {
        return most; // too fast for the clock to see
    }
    let ideal = (bytes as f64 * PIECE_TARGET_MS / elapsed_ms) as u64;
    ideal.clamp(MIN_PIECE_BYTES, most)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (attempt, recent contact, random) → the wait in milliseconds.
    #[test]
    fn retry_delays() {
        let cases: &[(u32, bool, f64, u32)] = &[
            // A device in recent contact never waits more than 2 s, whatever the attempt.
            (1, true, 0.999, 1_998),
            (2, true, 0.999, 1_998),
            (30, true, 0.999, 1_998),
            (1, true, 0.5, 1_000),
            // Never below 250 ms.
            (1, true, 0.0, 250),
            (30, false, 0.0, 250),
            // Otherwise the cap doubles to 60 s.
            (1, false, 0.999, 1_998),
            (2, false, 0.999, 3_996),
            (3, false, 0.5, 4_000),
            (6, false, 0.999, 59_940),
            (30, false, 0.999, 59_940),
            (u32::MAX, false, 1.0, 60_000),
            // Randomness out of range is clamped.
            (3, false, 7.0, 8_000),
            (3, false, f64::NAN, 250),
        ];
        for &(attempt, recent, random, expected) in cases {
            assert_eq!(
                retry_delay_ms(attempt, recent, random),
                expected,
                "attempt {attempt}, recent {recent}, random {random}"
            );
        }
    }

    /// (last piece's bytes, its milliseconds) → the next piece's bytes.
    #[test]
    fn piece_sizes() {
        let kib = 1024;
        let cases: &[(u64, f64, u64)] = &[
            // The rural link: 16 KB/s up, 500 ms round trip. 64 KiB take 4.6 s:
            // the next piece is sized to take 3 s.
            (64 * kib, 4_600.0, 42_740),
            // Near the fixed point the size holds (it takes 3 s with the round trip).
            (40 * kib, 3_060.0, 40_156),
            // Very slow: never below 16 KiB.
            (16 * kib, 20_000.0, 16 * kib),
            // A fast link: grows at most 4× a piece, up to 1 MiB.
            (64 * kib, 50.0, 256 * kib),
            (256 * kib, 50.0, 1024 * kib),
            (1024 * kib, 50.0, 1024 * kib),
            // A link a bit faster than the target: grows in proportion.
            (100_000, 1_500.0, 200_000),
            // A clock that did not move, or went back: as fast as allowed.
            (64 * kib, 0.0, 256 * kib),
            (64 * kib, -5.0, 256 * kib),
            (64 * kib, f64::NAN, 256 * kib),
            // A last piece out of range (the file's tail) is taken as the bounds.
            (100, 1_000.0, 48 * kib),
            (10 * 1024 * kib, 3_000.0, 1024 * kib),
        ];
        for &(bytes, ms, expected) in cases {
            assert_eq!(
                next_piece_bytes(bytes, ms),
                expected,
                "{bytes} bytes in {ms} ms"
            );
        }
    }

    /// On a steady link the size settles where a piece takes the target time.
    #[test]
    fn piece_size_settles_at_the_target() {
        let (bytes_per_ms, round_trip_ms) = (16.0, 500.0);
        let mut piece = FIRST_PIECE_BYTES;
        for _ in 0..20 {
            let ms = piece as f64 / bytes_per_ms + round_trip_ms;
            piece = next_piece_bytes(piece, ms);
        }
        let ms = piece as f64 / bytes_per_ms + round_trip_ms;
        assert!(
            (ms - PIECE_TARGET_MS).abs() < 50.0,
            "{piece} bytes take {ms} ms"
        );
    }
}
