//! `soak`: the deterministic simulation (`rectify_tests::sim`) over many seeds, on every core.
//! `cargo xtask soak --seeds N` runs it in release mode; `--seed S` replays one seed and
//! prints its report. Exits non-zero on the first broken invariant, naming the seed; with
//! `--keep-going` it runs every seed and lists each one that failed.

use clap::Parser;
use rectify_tests::sim::{self, Config, Report};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Parser)]
#[command(name = "soak", about = "The sync simulation over many seeds")]
struct Cli {
    /// How many seeds to run.
    #[arg(long, default_value_t = 200)]
    seeds: u64,
    /// The first seed (the tests run 1..25; soaking starts elsewhere by default).
    #[arg(long, default_value_t = 1000)]
    first: u64,
    /// Replay only this seed and print its report.
    #[arg(long)]
    seed: Option<u64>,
    /// Steps per run.
    #[arg(long, default_value_t = Config::default().steps)]
    steps: u64,
    /// Server replicas over one storage (the multi-replica mode, `Config::replicas`); 1 is a
    /// single server.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Run every seed even after one failed, and list all that failed (the totals count the
    /// seeds that passed).
    #[arg(long)]
    keep_going: bool,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let base = match cli.replicas {
        0 | 1 => Config::default(),
        n => Config::replicas(n),
    };
    let config = Config {
        steps: cli.steps,
        ..base
    };
    if let Some(seed) = cli.seed {
        return match sim::run(seed, &config) {
            Ok(report) => {
                println!("seed {seed} passed: {report:#?}");
                std::process::ExitCode::SUCCESS
            }
            Err(failure) => {
                println!("{failure}\n{:#?}", failure.report);
                std::process::ExitCode::FAILURE
            }
        };
    }
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(cli.first));
    let end = cli.first + cli.seeds;
    let total = Arc::new(Mutex::new(Report::default()));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let keep_going = cli.keep_going;
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (next, total, failures, config) = (
                Arc::clone(&next),
                Arc::clone(&total),
                Arc::clone(&failures),
                config.clone(),
            );
            std::thread::spawn(move || {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end || (!keep_going && !failures.lock().expect("lock").is_empty()) {
                        return;
                    }
                    match sim::run(seed, &config) {
                        Ok(report) => total.lock().expect("lock").add(&report),
                        Err(failure) => failures.lock().expect("lock").push(failure),
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a soak worker panicked");
    }
    let total = total.lock().expect("lock").clone();
    let mut failures = failures.lock().expect("lock");
    failures.sort_by_key(|f| f.seed);
    println!(
        "{} seeds from {} in {:.1} s on {threads} threads",
        cli.seeds,
        cli.first,
        started.elapsed().as_secs_f64()
    );
    println!(
        "faults injected: {} (lost {}, duplicated {}, delayed {}, partitions {} of which long {}, client restarts {}, server restarts {}, evictions {})",
        total.faults(),
        total.lost,
        total.duplicated,
        total.delayed,
        total.partitions,
        total.long_offline,
        total.client_restarts,
        total.server_restarts,
        total.evictions
    );
    println!(
        "storage faults: {} (writes failed {}, reads failed {}, slow writes {} of which cut by a restart {}); retries told to clients {}",
        total.storage_faults(),
        total.writes_failed,
        total.reads_failed,
        total.slow_writes,
        total.writes_cut,
        total.retries
    );
    println!(
        "frames {}; edits made {}, checked {}, lost {}; honest changes checked {}; acknowledged changes checked {}, lost {}; local changes dropped or reset by a fault {}; forbidden changes tried {}, accepted {}",
        total.frames,
        total.edits_made,
        total.edits_checked,
        total.edits_lost,
        total.changes_checked,
        total.acknowledged_checked,
        total.acknowledged_lost,
        total.dropped_by_fault,
        total.forbidden_attempted,
        total.forbidden_accepted
    );
    if config.replicas > 1 {
        println!(
            "{} replicas: notifications {}, lost {}; copies caught up {}; sweeps {}; writes found outdated {}; clients moved between replicas {}",
            config.replicas,
            total.notifications,
            total.notifications_lost,
            total.caught_up,
            total.sweeps,
            total.writes_outdated,
            total.replica_moves
        );
    }
    for failure in failures.iter() {
        println!("FAILED: {failure}");
    }
    if !failures.is_empty() {
        if keep_going {
            println!("{} of {} seeds failed", failures.len(), cli.seeds);
        }
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
