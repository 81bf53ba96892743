//! The deterministic simulation (`rectify_tests::sim`) over a fixed set of seeds. A failing
//! seed is printed with the command that replays it; `cargo xtask soak --seeds N` runs many.

use rectify_tests::sim::{self, Config, Report};

/// Seeds run in every `cargo xtask test`.
const SEEDS: std::ops::Range<u64> = 1..25;

#[test]
fn nothing_is_lost_and_nothing_forbidden_gets_in_across_seeds() {
    let config = Config::default();
    let mut total = Report::default();
    for seed in SEEDS {
        let report = sim::run(seed, &config).unwrap_or_else(|failure| panic!("{failure}"));
        assert_eq!(report.edits_lost, 0);
        assert_eq!(report.forbidden_accepted, 0);
        assert_eq!(report.acknowledged_lost, 0);
        assert_eq!(report.dropped_by_fault, 0);
        total.add(&report);
    }
    eprintln!("{} seeds: {total:?}", SEEDS.end - SEEDS.start);
    // The runs did what they claim: faults happened, edits were made and checked, the
    // hostile clients tried.
    assert!(total.server_restarts > 0 && total.client_restarts > 0 && total.long_offline > 0);
    assert!(total.lost > 0 && total.duplicated > 0 && total.delayed > 0);
    assert!(total.edits_checked > 100 && total.forbidden_attempted > 10);
    assert!(total.acknowledged_checked > 100 && total.changes_checked > 100);
    // Storage failed and was slow, and clients were told to retry (not refused).
    assert!(total.writes_failed > 10 && total.reads_failed > 10 && total.slow_writes > 10);
    assert!(total.retries > 10);
}

#[test]
fn a_seed_replays_exactly() {
    let config = Config::default();
    let first = sim::run(7, &config).unwrap_or_else(|failure| panic!("{failure}"));
    let second = sim::run(7, &config).unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(first, second);
}
