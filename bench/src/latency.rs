//! Percentiles of acknowledgement times, and the CPU cost per change.

/// p50 / p99 / max of some times in milliseconds (nearest rank: the smallest value with at
/// least p of them at or below it, as `sync-load` reports).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Latency {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// `None` when there is nothing to summarise (or only NaNs).
    pub fn of(ms: &[f64]) -> Option<Latency> {
        let mut sorted: Vec<f64> = ms.iter().copied().filter(|v| !v.is_nan()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        Some(Latency {
            count: sorted.len(),
            p50: nearest_rank(&sorted, 0.50),
            p99: nearest_rank(&sorted, 0.99),
            max: nearest_rank(&sorted, 1.0),
        })
    }

    /// `p50 / p99 / max ms`.
    pub fn show(&self) -> String {
        format!("{:.1} / {:.1} / {:.1} ms", self.p50, self.p99, self.max)
    }
}

/// The value at percentile `p` (0..=1) of `sorted` (ascending, not empty).
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Milliseconds of server CPU per change; `None` when nothing was acknowledged.
pub fn cpu_ms_per_change(cpu_s: f64, changes: usize) -> Option<f64> {
    (changes > 0).then(|| cpu_s * 1000.0 / changes as f64)
}

/// Changes per second of wall time; `None` without a duration.
pub fn per_second(changes: usize, wall_s: f64) -> Option<f64> {
    (wall_s > 0.0).then(|| changes as f64 / wall_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        // (times, p50, p99, max)
        let cases: &[(&[f64], f64, f64, f64)] = &[
            (&[5.0], 5.0, 5.0, 5.0),
            (&[3.0, 1.0], 1.0, 3.0, 3.0),
            (&[4.0, 1.0, 3.0, 2.0], 2.0, 4.0, 4.0),
            // 100 values 1..=100: p50 is the 50th, p99 the 99th.
            (
                &(1..=100).map(f64::from).collect::<Vec<_>>(),
                50.0,
                99.0,
                100.0,
            ),
            // 200 values: p99 is the 198th.
            (
                &(1..=200).map(f64::from).collect::<Vec<_>>(),
                100.0,
                198.0,
                200.0,
            ),
            (&[1.0, f64::NAN, 2.0], 1.0, 2.0, 2.0),
        ];
        for (times, p50, p99, max) in cases {
            let l = Latency::of(times).expect("not empty");
            assert_eq!((l.p50, l.p99, l.max), (*p50, *p99, *max), "{times:?}");
            assert_eq!(l.count, times.iter().filter(|v| !v.is_nan()).count());
        }
        assert_eq!(Latency::of(&[]), None);
        assert_eq!(Latency::of(&[f64::NAN]), None);
    }

    #[test]
    fn cost_and_rate() {
        // (cpu s, changes, ms per change)
        let cases: [(f64, usize, Option<f64>); 3] = [
            (1.0, 2000, Some(0.5)),
            (0.28, 1000, Some(0.28)),
            (3.0, 0, None),
        ];
        for (cpu, changes, want) in cases {
            let got = cpu_ms_per_change(cpu, changes);
            assert_eq!(
                got.map(|v| (v * 1e9).round()),
                want.map(|v| (v * 1e9).round())
            );
        }
        assert_eq!(per_second(500, 2.0), Some(250.0));
        assert_eq!(per_second(500, 0.0), None);
    }

    #[test]
    fn shown_as_p50_p99_max() {
        let l = Latency::of(&[1.0, 2.0, 30.26]).expect("not empty");
        assert_eq!(l.show(), "2.0 / 30.3 / 30.3 ms");
    }
}
