//! Everything a run measured, the one table, the targets and `RESULTS.md`.

use crate::browser::OpenFromDevice;
use crate::bundle::Bundle;
use crate::capacity::Connections;
use crate::client::{Flow, Traffic};
use crate::procfs::Machine;
use crate::reconnect::{Idle, Reconnect};
use crate::single_doc::{
    CPU_MS_TARGET, HOCUSPOCUS_CPU_MS, HOCUSPOCUS_P99_MS, HOCUSPOCUS_SQLITE_CPU_MS,
    HOCUSPOCUS_SQLITE_P99_MS, P99_MS_TARGET, SingleDoc,
};
use crate::stock::StockRun;
use crate::table::{Cell, Line, Row, Unit, bytes, megabytes_of_kib, thousands};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub const REFERENCE_NAME: &str = "automerge-repo 2.5.6";

/// Targets of issue #9.
pub const UPLOAD_TARGET: f64 = 1.2;
pub const IDLE_ROUND_TRIPS_TARGET: u32 = 2;
/// Issue #24: a school's idle reconnect (60 documents), both ways, with the upgrade.
pub const IDLE_BYTES_TARGET: u64 = 300;
/// Issue #24: the office's (5,000 documents).
pub const IDLE_OFFICE_BYTES_TARGET: u64 = 2_000;
pub const CONNECTIONS_TARGET: usize = 10_000;
pub const CONNECTIONS_RSS_TARGET_BYTES: f64 = 300e6;
pub const BUNDLE_BROTLI_TARGET: u64 = 450_000;
/// Issue #18: a change accepted by one replica reaches a reader on another within this (p99,
/// loopback), and no later than twice a single server's p99.
pub const ACROSS_P99_MS_TARGET: f64 = 150.0;

/// Names of the phase-1, phase-3 and client targets: [`Results::targets`] lists them and the
/// table's rows look their verdicts up by them (never by position, which shifted when a
/// target was added and put the verdicts on the wrong rows).
const T_CPU: &str = "reconnect server CPU ≤ 1/3 of the reference's";
const T_CONVERGED: &str = "reconnect converged sooner than the reference";
const T_PEAK_RSS: &str = "reconnect server peak RSS ≤ 1/3 of the reference's";
const T_CONNECTIONS: &str = "10,000 idle connections within 300 MB RSS";
const T_BUNDLE: &str = "a school's first load of the client ≤ 450 KB brotli";

/// What the run was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub schools: usize,
    pub docs: usize,
    pub edits: usize,
    pub repeat: usize,
    pub idle_docs: usize,
    pub idle_office_docs: usize,
    pub connection_levels: Vec<usize>,
    pub connection_accounts: usize,
    pub max_connections_flag: usize,
    pub load_clients: usize,
    pub load_changes: usize,
    pub moderate_changes: usize,
    pub stored_docs: usize,
    pub stored_subset: usize,
    pub open_docs: usize,
    pub open_reloads: usize,
    pub stock_clients: usize,
    pub stock_changes: usize,
    pub single_doc_clients: usize,
    pub single_doc_edits: usize,
}

#[derive(Debug, Default)]
pub struct Results {
    pub params: Params,
    pub reconnect_ours: Option<Reconnect>,
    pub reconnect_reference: Option<Reconnect>,
    /// Every run of phase 1, in order.
    pub reconnect_runs_ours: Vec<Reconnect>,
    pub reconnect_runs_reference: Vec<Reconnect>,
    /// `/metrics` of our server: what changed during the reconnect.
    pub reconnect_metrics: BTreeMap<String, f64>,
    pub idle_ours: Option<Idle>,
    pub idle_reference: Option<Idle>,
    /// The office's idle reconnect (ours only).
    pub idle_office: Option<Idle>,
    pub connections_ours: Option<Connections>,
    pub connections_reference: Option<Connections>,
    pub throughput: Option<serde_json::Value>,
    /// Phase 7: `sync-load throughput --replicas N` on PostgreSQL, by N.
    pub scale_out: Vec<(usize, serde_json::Value)>,
    /// Phase 7: `replica-latency --json`, one change at a time across two replicas.
    pub scale_out_moderate: Option<serde_json::Value>,
    pub stored: Option<crate::capacity::Stored>,
    pub bundle: Option<Bundle>,
    pub open_from_device: Option<OpenFromDevice>,
    /// Phase 5: the stock automerge-repo clients against each server.
    pub stock_ours: Option<StockRun>,
    pub stock_reference: Option<StockRun>,
    /// Phase 6: the Hocuspocus-shaped workload on ours.
    pub single_doc: Option<SingleDoc>,
    /// `phase: what went wrong`.
    pub failures: Vec<String>,
}

fn kib_to_bytes(kib: u64) -> f64 {
    kib as f64 * 1024.0
}

fn json_f64(value: &serde_json::Value, path: &[&str]) -> Option<f64> {
    let mut v = value;
    for key in path {
        v = v.get(key)?;
    }
    v.as_f64()
}

fn cell_or_empty<T>(value: Option<&T>, f: impl Fn(&T) -> Cell) -> Cell {
    value.map_or(Cell::Empty, f)
}

/// The median (the mean of the middle two for an even count); `None` when empty.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

impl Results {
    /// The median over every run of phase 1 on one server (the representative run's value
    /// when the runs were not kept).
    fn reconnect_median(&self, ours: bool, f: impl Fn(&Reconnect) -> f64) -> Option<f64> {
        let (runs, one) = if ours {
            (&self.reconnect_runs_ours, &self.reconnect_ours)
        } else {
            (&self.reconnect_runs_reference, &self.reconnect_reference)
        };
        median(runs.iter().map(&f).collect()).or_else(|| one.as_ref().map(f))
    }

    /// ours ÷ floor for the upload.
    pub fn upload_ratio(r: &Reconnect) -> f64 {
        r.up as f64 / r.floor.max(1) as f64
    }

    pub fn office_ratio(r: &Reconnect) -> f64 {
        r.office_down as f64 / r.floor.max(1) as f64
    }

    fn level(c: Option<&Connections>, wanted: usize) -> Option<&crate::capacity::ConnectionLevel> {
        c?.levels.iter().find(|l| l.wanted == wanted)
    }

    /// The targets: (what, figure, met).
    pub fn targets(&self) -> Vec<(String, String, Option<bool>)> {
        let mut out = Vec::new();
        let ours = self.reconnect_ours.as_ref();
        let theirs = self.reconnect_reference.as_ref();
        out.push((
            format!("reconnect upload ≤ {UPLOAD_TARGET} × the bundle floor"),
            ours.map_or("not measured".to_owned(), |r| {
                format!(
                    "{:.2} × ({} over a floor of {})",
                    Self::upload_ratio(r),
                    bytes(r.up),
                    bytes(r.floor)
                )
            }),
            ours.map(|r| Self::upload_ratio(r) <= UPLOAD_TARGET),
        ));
        let idle = self.idle_ours.as_ref();
        out.push((
            format!(
                "idle reconnect of {} documents in ≤ {IDLE_ROUND_TRIPS_TARGET} round trips and ≤ 300 B",
                self.params.idle_docs
            ),
            idle.map_or("not measured".to_owned(), |i| {
                format!("{} round trips, {}", i.round_trips, bytes(i.up + i.down))
            }),
            idle.map(|i| {
                i.round_trips <= IDLE_ROUND_TRIPS_TARGET && i.up + i.down <= IDLE_BYTES_TARGET
            }),
        ));
        let office = self.idle_office.as_ref();
        out.push((
            format!(
                "the office's idle reconnect of {} documents in ≤ {IDLE_ROUND_TRIPS_TARGET} round trips and ≤ 2 KB",
                self.params.idle_office_docs
            ),
            office.map_or("not measured".to_owned(), |i| {
                format!("{} round trips, {}", i.round_trips, bytes(i.up + i.down))
            }),
            office.map(|i| {
                i.round_trips <= IDLE_ROUND_TRIPS_TARGET
                    && i.up + i.down <= IDLE_OFFICE_BYTES_TARGET
            }),
        ));
        let both = ours.zip(theirs);
        let cpu = self
            .reconnect_median(true, |r| r.cpu_s)
            .zip(self.reconnect_median(false, |r| r.cpu_s));
        let runs = |n: usize| {
            if n > 1 {
                format!(" (medians of {n} runs)")
            } else {
                String::new()
            }
        };
        let n = self
            .reconnect_runs_ours
            .len()
            .min(self.reconnect_runs_reference.len());
        out.push((
            T_CPU.to_owned(),
            cpu.map_or("not measured".to_owned(), |(o, t)| {
                format!("{o:.2} s vs {t:.2} s{}", runs(n))
            }),
            cpu.map(|(o, t)| o * 3.0 <= t),
        ));
        let converged = self
            .reconnect_median(true, |r| r.converged.as_secs_f64())
            .zip(self.reconnect_median(false, |r| r.converged.as_secs_f64()));
        out.push((
            T_CONVERGED.to_owned(),
            converged.map_or("not measured".to_owned(), |(o, t)| {
                format!("{o:.2} s vs {t:.2} s{}", runs(n))
            }),
            converged.map(|(o, t)| o < t),
        ));
        out.push((
            T_PEAK_RSS.to_owned(),
            both.map_or("not measured".to_owned(), |(o, t)| {
                format!(
                    "{} vs {}",
                    megabytes_of_kib(o.rss_peak_kib),
                    megabytes_of_kib(t.rss_peak_kib)
                )
            }),
            both.map(|(o, t)| o.rss_peak_kib * 3 <= t.rss_peak_kib),
        ));
        let level = Self::level(self.connections_ours.as_ref(), CONNECTIONS_TARGET);
        out.push((
            T_CONNECTIONS.to_owned(),
            match (level, self.connections_ours.as_ref()) {
                (Some(l), _) => format!(
                    "{} held, {}",
                    thousands(l.held as u64),
                    megabytes_of_kib(l.rss_kib)
                ),
                (None, Some(c)) => format!(
                    "not reached: {}",
                    c.stopped.as_deref().unwrap_or("level not asked for")
                ),
                (None, None) => "not measured".to_owned(),
            },
            level.map(|l| {
                l.held >= CONNECTIONS_TARGET
                    && kib_to_bytes(l.rss_kib) <= CONNECTIONS_RSS_TARGET_BYTES
            }),
        ));
        let bundle = self.bundle.as_ref();
        out.push((
            T_BUNDLE.to_owned(),
            bundle.map_or("not measured".to_owned(), |b| bytes(b.total[2])),
            bundle.map(|b| b.total[2] <= BUNDLE_BROTLI_TARGET),
        ));
        out.extend(self.stock_targets());
        out.extend(self.single_doc_targets());
        out.extend(self.scale_out_targets());
        out
    }

    /// Phase 5's targets (issue #17), (what, figure, met).
    fn stock_targets(&self) -> Vec<(String, String, Option<bool>)> {
        let both = self.stock_ours.as_ref().zip(self.stock_reference.as_ref());
        let pair = |f: &dyn Fn(&StockRun) -> Option<f64>| both.and_then(|(o, t)| f(o).zip(f(t)));
        let cpu = pair(&|r| r.cpu_ms_per_change());
        let p99 = pair(&|r| r.ack().map(|l| l.p99));
        let rate = pair(&|r| r.changes_per_s());
        let complete = both.is_some_and(|(o, t)| o.failed == 0 && t.failed == 0);
        let figure = |v: Option<(f64, f64)>, unit: &str, places: usize| {
            v.map_or("not measured".to_owned(), |(o, t)| {
                format!("{o:.places$} {unit} vs {t:.places$} {unit}")
            })
        };
        vec![
            (
                "stock clients: server CPU per applied change ≤ 1/3 of the reference's".to_owned(),
                figure(cpu, "ms", 3),
                cpu.map(|(o, t)| complete && o * 3.0 <= t),
            ),
            (
                "stock clients: acknowledgement p99 ≤ 1/3 of the reference's".to_owned(),
                figure(p99, "ms", 1),
                p99.map(|(o, t)| complete && o * 3.0 <= t),
            ),
            (
                "stock clients: applied changes per second no lower than the reference's"
                    .to_owned(),
                figure(rate, "/s", 1),
                rate.map(|(o, t)| complete && o >= t),
            ),
        ]
    }

    /// Phase 6's targets: (what, figure, met).
    fn single_doc_targets(&self) -> Vec<(String, String, Option<bool>)> {
        let s = self.single_doc.as_ref();
        let complete = s.is_some_and(|s| s.failures.is_empty());
        let cpu = s.and_then(SingleDoc::cpu_ms_per_edit);
        let p99 = s.and_then(|s| s.ack()).map(|l| l.p99);
        vec![
            (
                format!(
                    "single-doc workload: server CPU ≤ {CPU_MS_TARGET} ms per acknowledged edit \
                     (Hocuspocus 4.7: {HOCUSPOCUS_CPU_MS} ms, measured elsewhere)"
                ),
                cpu.map_or("not measured".to_owned(), |v| format!("{v:.3} ms")),
                cpu.map(|v| complete && v <= CPU_MS_TARGET),
            ),
            (
                format!(
                    "single-doc workload: acknowledgement p99 ≤ {P99_MS_TARGET} ms \
                     (Hocuspocus 4.7: {HOCUSPOCUS_P99_MS} ms, measured elsewhere)"
                ),
                p99.map_or("not measured".to_owned(), |v| format!("{v:.1} ms")),
                p99.map(|v| complete && v <= P99_MS_TARGET),
            ),
        ]
    }

    /// Issue #18's delivery target, judged on the moderate-rate run (one change at a time):
    /// across replicas p99 < 150 ms and no more than twice the same server's p99.
    fn scale_out_targets(&self) -> Vec<(String, String, Option<bool>)> {
        let m = self.scale_out_moderate.as_ref();
        let across = m.and_then(|m| json_f64(m, &["across_replicas_ms", "p99"]));
        let same = m.and_then(|m| json_f64(m, &["same_replica_ms", "p99"]));
        vec![(
            format!(
                "scale-out: delivery to another replica p99 < {ACROSS_P99_MS_TARGET} ms and ≤ 2 × \
                 the same server's, one change at a time"
            ),
            match (across, same) {
                (Some(a), Some(s)) => format!("{a:.1} ms (same server {s:.1} ms)"),
                _ => "not measured".to_owned(),
            },
            across
                .zip(same)
                .map(|(a, s)| a < ACROSS_P99_MS_TARGET && a <= 2.0 * s),
        )]
    }

    /// The one table.
    pub fn lines(&self) -> Vec<Line> {
        let p = &self.params;
        let mut lines = Vec::new();
        let ours = self.reconnect_ours.as_ref();
        let theirs = self.reconnect_reference.as_ref();
        let both =
            |f: &dyn Fn(&Reconnect) -> Cell| (cell_or_empty(ours, f), cell_or_empty(theirs, f));
        let row = |name: &str, f: &dyn Fn(&Reconnect) -> Cell| {
            let (a, b) = both(f);
            Row::new(name, a, b)
        };
        lines.push(Line::Section(format!(
            "1. Reconnect after offline work: {} schools × {} documents × {} edits ({} changes), all at once{}",
            p.schools,
            p.docs,
            p.edits,
            thousands((p.schools * p.docs * p.edits) as u64),
            if p.repeat > 1 {
                format!(" — convergence and CPU: medians of {} runs; the rest from the run with the median convergence", p.repeat)
            } else {
                String::new()
            }
        )));
        let targets = self.targets();
        let met = |name: &str| {
            targets
                .iter()
                .find(|t| t.0.starts_with(name))
                .and_then(|t| t.2)
        };
        let medians = |f: &dyn Fn(&Reconnect) -> f64| {
            let cell = |ours| {
                self.reconnect_median(ours, f)
                    .map_or(Cell::Empty, Cell::secs)
            };
            (cell(true), cell(false))
        };
        let (a, b) = medians(&|r| r.converged.as_secs_f64());
        lines.push(Line::Row(
            Row::new("Converged: the office has every edit", a, b)
                .target("sooner than the reference", met(T_CONVERGED)),
        ));
        let each = |runs: &[Reconnect], f: &dyn Fn(&Reconnect) -> f64| {
            if runs.len() < 2 {
                return Cell::Empty;
            }
            Cell::text(
                runs.iter()
                    .map(|r| format!("{:.2}", f(r)))
                    .collect::<Vec<_>>()
                    .join(" / ")
                    + " s",
            )
        };
        let (ro, rr) = (&self.reconnect_runs_ours, &self.reconnect_runs_reference);
        if ro.len() > 1 || rr.len() > 1 {
            lines.push(Line::Row(Row::new(
                "… each run",
                each(ro, &|r| r.converged.as_secs_f64()),
                each(rr, &|r| r.converged.as_secs_f64()),
            )));
        }
        lines.push(Line::Row(row(
            "Every school knows the server has its edits",
            &|r| Cell::secs(r.schools_synced.as_secs_f64()),
        )));
        lines.push(Line::Row(row(
            "Floor: the new changes compressed as one bundle per document",
            &|r| Cell::bytes(r.floor),
        )));
        lines.push(Line::Row(row(
            "(`save_after`: the same changes one by one, uncompressed)",
            &|r| Cell::bytes(r.save_after),
        )));
        lines.push(Line::Row(row(
            "(every document saved whole after the edits)",
            &|r| Cell::bytes(r.full_save),
        )));
        lines.push(Line::Row(row("Upload, schools → server", &|r| {
            Cell::bytes(r.up)
        })));
        lines.push(Line::Row(
            row("Upload ÷ floor", &|r| Cell::times(Self::upload_ratio(r)))
                .target(format!("≤ {UPLOAD_TARGET}"), met("reconnect upload")),
        ));
        lines.push(Line::Row(row("Download, server → schools", &|r| {
            Cell::bytes(r.down)
        })));
        lines.push(Line::Row(row("Office upload", &|r| {
            Cell::bytes(r.office_up)
        })));
        lines.push(Line::Row(row("Office download", &|r| {
            Cell::bytes(r.office_down)
        })));
        lines.push(Line::Row(row("Office download ÷ floor", &|r| {
            Cell::times(Self::office_ratio(r))
        })));
        lines.push(Line::Row(row("Messages sent by the schools", &|r| {
            Cell::count(r.schools_traffic.sent.frames)
        })));
        lines.push(Line::Row(row("Messages received by the schools", &|r| {
            Cell::count(r.schools_traffic.received.frames)
        })));
        lines.push(Line::Row(row("Messages received by the office", &|r| {
            Cell::count(r.office_traffic.received.frames)
        })));
        lines.push(Line::Row(row(
            "Round trips per school: median / max",
            &|r| {
                Cell::text(format!(
                    "{} / {}",
                    r.round_trips_median(),
                    r.round_trips_max()
                ))
            },
        )));
        lines.push(Line::Row(row(
            "… rounds summed over a school's documents: median",
            &|r| {
                let mut all = r.round_trips_total.clone();
                all.sort_unstable();
                Cell::count(u64::from(all.get(all.len() / 2).copied().unwrap_or(0)))
            },
        )));
        let (a, b) = medians(&|r| r.cpu_s);
        lines.push(Line::Row(
            Row::new("Server CPU time (user + system)", a, b)
                .target("≤ 1/3 of the reference", met(T_CPU)),
        ));
        if ro.len() > 1 || rr.len() > 1 {
            lines.push(Line::Row(Row::new(
                "… each run",
                each(ro, &|r| r.cpu_s),
                each(rr, &|r| r.cpu_s),
            )));
        }
        lines.push(Line::Row(row("… of which until converged", &|r| {
            Cell::secs(r.cpu_until_converged_s)
        })));
        lines.push(Line::Row(row("Server RSS before the reconnect", &|r| {
            Cell::kib(r.rss_before_kib)
        })));
        lines.push(Line::Row(row("Server RSS after the reconnect", &|r| {
            Cell::kib(r.rss_end_kib)
        })));
        lines.push(Line::Row(
            row("Server peak RSS (VmHWM)", &|r| Cell::kib(r.rss_peak_kib))
                .target("≤ 1/3 of the reference", met(T_PEAK_RSS)),
        ));

        lines.push(Line::Section(format!(
            "2. Idle reconnect: one school, {} documents, nothing new",
            p.idle_docs
        )));
        let (io, ir) = (self.idle_ours.as_ref(), self.idle_reference.as_ref());
        let idle_row = |name: &str, f: &dyn Fn(&Idle) -> Cell| {
            Row::new(name, cell_or_empty(io, f), cell_or_empty(ir, f))
        };
        lines.push(Line::Row(
            idle_row(
                "Bytes until up to date (both ways, with the upgrade)",
                &|i| Cell::bytes(i.up + i.down),
            )
            .target("≤ 300 B", io.map(|i| i.up + i.down <= IDLE_BYTES_TARGET)),
        ));
        if let Some(office) = &self.idle_office {
            lines.push(Line::Row(
                Row::new(
                    format!(
                        "The office, {} documents: bytes until up to date (both ways, with the upgrade; round trips)",
                        office.documents
                    ),
                    Cell::text(format!(
                        "{} ({} / {}; {} round trips)",
                        bytes(office.up + office.down),
                        bytes(office.up),
                        bytes(office.down),
                        office.round_trips
                    )),
                    Cell::text("—".to_owned()),
                )
                .target(
                    "≤ 2 KB, ≤ 2 round trips",
                    Some(
                        office.up + office.down <= IDLE_OFFICE_BYTES_TARGET
                            && office.by_heads
                            && office.round_trips <= IDLE_ROUND_TRIPS_TARGET,
                    ),
                ),
            ));
        }
        lines.push(Line::Row(idle_row("… of which up / down", &|i| {
            Cell::text(format!("{} / {}", bytes(i.up), bytes(i.down)))
        })));
        lines.push(Line::Row(idle_row("Per document", &|i| {
            Cell::bytes((i.up + i.down) / i.documents.max(1) as u64)
        })));
        lines.push(Line::Row(
            idle_row("Round trips until up to date", &|i| {
                if i.by_heads {
                    Cell::count(u64::from(i.round_trips))
                } else {
                    Cell::text(format!("{} (never told)", i.round_trips))
                }
            })
            .target(
                "≤ 2",
                io.map(|i| i.by_heads && i.round_trips <= IDLE_ROUND_TRIPS_TARGET),
            ),
        ));
        lines.push(Line::Row(idle_row(
            "… rounds summed over the documents",
            &|i| Cell::count(u64::from(i.round_trips_total)),
        )));
        lines.push(Line::Row(idle_row("Messages up / down", &|i| {
            Cell::text(format!(
                "{} / {}",
                i.traffic.sent.frames, i.traffic.received.frames
            ))
        })));
        lines.push(Line::Row(idle_row("Time until up to date", &|i| {
            if i.by_heads {
                Cell::Value(i.time.as_secs_f64() * 1000.0, Unit::Millis)
            } else {
                Cell::text(format!(
                    "never told (last frame at {:.1} ms)",
                    i.time.as_secs_f64() * 1000.0
                ))
            }
        })));

        lines.push(Line::Section("3. Capacity".to_owned()));
        let (co, cr) = (
            self.connections_ours.as_ref(),
            self.connections_reference.as_ref(),
        );
        if co.is_some() || cr.is_some() {
            let before = |c: Option<&Connections>| cell_or_empty(c, |c| Cell::kib(c.before_kib));
            lines.push(Line::Row(Row::new(
                "Server RSS before any connection",
                before(co),
                before(cr),
            )));
        }
        for &wanted in &p.connection_levels {
            let held = |c: Option<&Connections>| match (c, Self::level(c, wanted)) {
                (_, Some(l)) => Cell::count(l.held as u64),
                (Some(_), None) => Cell::text("not reached"),
                (None, None) => Cell::Empty,
            };
            let rss = |c: Option<&Connections>| {
                Self::level(c, wanted).map_or(Cell::Empty, |l| Cell::kib(l.rss_kib))
            };
            let mut rss_row = Row::new(
                format!(
                    "Server RSS with {} idle connections",
                    thousands(wanted as u64)
                ),
                rss(co),
                rss(cr),
            );
            if wanted == CONNECTIONS_TARGET {
                rss_row = rss_row.target("≤ 300 MB", met(T_CONNECTIONS));
            }
            lines.push(Line::Row(Row::new(
                format!("Idle connections held (of {})", thousands(wanted as u64)),
                held(co),
                held(cr),
            )));
            let open = |c: Option<&Connections>| {
                Self::level(c, wanted).map_or(Cell::Empty, |l| Cell::secs(l.open_s))
            };
            lines.push(Line::Row(Row::new(
                "… time to open them (from the level before)",
                open(co),
                open(cr),
            )));
            lines.push(Line::Row(rss_row));
        }
        if let Some(t) = &self.throughput {
            let n = |path: &[&str]| json_f64(t, path);
            lines.push(Line::Row(Row::new(
                format!(
                    "Applied changes per second ({} clients × {} changes, each acknowledged)",
                    p.load_clients, p.load_changes
                ),
                n(&["changes_per_s"]).map_or(Cell::Empty, |v| Cell::Value(v, Unit::PerSecond)),
                Cell::Empty,
            )));
            for (label, key) in [
                ("Acknowledged: p50 / p99", "ack_ms"),
                ("Seen by the office: p50 / p99", "latency_ms"),
            ] {
                let cell = match (n(&[key, "p50"]), n(&[key, "p99"])) {
                    (Some(a), Some(b)) => Cell::text(format!("{a:.1} / {b:.1} ms")),
                    _ => Cell::Empty,
                };
                lines.push(Line::Row(Row::new(label, cell, Cell::Empty)));
            }
        }
        if let Some(t) = &self.throughput
            && let (Some(frames), Some(accepted)) =
                (json_f64(t, &["server_frames"]), json_f64(t, &["accepted"]))
            && accepted > 0.0
        {
            lines.push(Line::Row(Row::new(
                "… frames the server handled per change",
                Cell::Value(frames / accepted, Unit::Count),
                Cell::Empty,
            )));
        }
        if let Some(s) = &self.stored {
            lines.push(Line::Row(Row::new(
                format!(
                    "Server RSS with {} stored documents, idle (seeded in {:.0} s)",
                    thousands(s.documents as u64),
                    s.seed_s
                ),
                Cell::kib(s.idle_kib),
                Cell::Empty,
            )));
            lines.push(Line::Row(Row::new(
                format!(
                    "… after a client fetched {} of them ({:.1} s)",
                    thousands(s.fetched as u64),
                    s.fetch_s
                ),
                Cell::kib(s.loaded_kib),
                Cell::Empty,
            )));
            if let Some(n) = s.loaded_metric {
                lines.push(Line::Row(Row::new(
                    "… documents in the server's memory then (`rectify_documents_loaded`)",
                    Cell::count(n as u64),
                    Cell::Empty,
                )));
            }
            lines.push(Line::Row(Row::new(
                "… per document loaded",
                Cell::text(format!("{:.1} KB", s.per_loaded_kib() * 1.024)),
                Cell::Empty,
            )));
            lines.push(Line::Row(Row::new(
                format!(
                    "… EXTRAPOLATED, not measured: all {} loaded at once",
                    thousands(s.documents as u64)
                ),
                Cell::kib(s.idle_kib + (s.per_loaded_kib() * s.documents as f64) as u64),
                Cell::Empty,
            )));
        }

        lines.push(Line::Section("4. Client".to_owned()));
        if let Some(b) = &self.bundle {
            lines.push(Line::Row(Row::new(
                "A school's first load (index.html, the school build's WASM and JS, CSS): raw",
                Cell::bytes(b.total[0]),
                Cell::Empty,
            )));
            lines.push(Line::Row(Row::new(
                "… gzip",
                Cell::bytes(b.total[1]),
                Cell::Empty,
            )));
            lines.push(Line::Row(
                Row::new("… brotli", Cell::bytes(b.total[2]), Cell::Empty)
                    .target("≤ 450 KB", met(T_BUNDLE)),
            ));
            if let Some(full) = &b.full {
                lines.push(Line::Row(Row::new(
                    "The first load of a device that oversees (the full build instead): raw",
                    Cell::bytes(full[0]),
                    Cell::Empty,
                )));
                lines.push(Line::Row(Row::new(
                    "… brotli",
                    Cell::bytes(full[2]),
                    Cell::Empty,
                )));
            }
        }
        if let Some(o) = &self.open_from_device {
            lines.extend(open_lines(o).into_iter().map(Line::Row));
        }
        lines.extend(self.stock_lines());
        lines.extend(self.single_doc_lines());
        lines.extend(self.scale_out_lines());
        lines
    }

    /// Phase 7: replicas on one PostgreSQL database, beside the single SQLite server of
    /// phase 3 (same load).
    fn scale_out_lines(&self) -> Vec<Line> {
        let p = &self.params;
        let mut lines = vec![Line::Section(format!(
            "7. Scale-out: {} clients × {} changes, each acknowledged, on N replicas sharing one \
             PostgreSQL database (the office on the last replica); one SQLite server: phase 3",
            p.load_clients, p.load_changes
        ))];
        let one = |name: String, cell: Cell| Line::Row(Row::new(name, cell, Cell::Empty));
        let p50_p99 = |t: &serde_json::Value, key: &str| match (
            json_f64(t, &[key, "p50"]),
            json_f64(t, &[key, "p99"]),
        ) {
            (Some(a), Some(b)) => Cell::text(format!("{a:.1} / {b:.1} ms")),
            _ => Cell::Empty,
        };
        for (replicas, t) in &self.scale_out {
            lines.push(one(
                format!("{replicas} replica(s): applied changes per second"),
                json_f64(t, &["changes_per_s"])
                    .map_or(Cell::Empty, |v| Cell::Value(v, Unit::PerSecond)),
            ));
            lines.push(one(
                "… acknowledged: p50 / p99".to_owned(),
                p50_p99(t, "ack_ms"),
            ));
            lines.push(one(
                "… seen by the office, sent to its replica: p50 / p99".to_owned(),
                p50_p99(t, "latency_same_replica_ms"),
            ));
            if *replicas > 1 {
                lines.push(one(
                    "… seen by the office, sent to another replica: p50 / p99".to_owned(),
                    p50_p99(t, "latency_across_replicas_ms"),
                ));
            }
            lines.push(one(
                "… reconnects (closed before the acknowledgement, with 1013: a write that \
                 failed, or lost the race with another replica's sixteen times in a row)"
                    .to_owned(),
                json_f64(t, &["reconnects"]).map_or(Cell::Empty, |v| Cell::Value(v, Unit::Count)),
            ));
        }
        if let Some(m) = &self.scale_out_moderate {
            let met = self.scale_out_targets().first().and_then(|t| t.2);
            lines.push(one(
                format!(
                    "2 replicas, one change at a time ({} changes): seen on the same server: \
                     p50 / p99",
                    p.moderate_changes
                ),
                p50_p99(m, "same_replica_ms"),
            ));
            lines.push(Line::Row(
                Row::new(
                    "… seen on another replica: p50 / p99",
                    p50_p99(m, "across_replicas_ms"),
                    Cell::Empty,
                )
                .target(
                    format!("p99 < {ACROSS_P99_MS_TARGET} ms, ≤ 2 × the same server's"),
                    met,
                ),
            ));
        }
        lines
    }

    /// Phase 5: the stock automerge-repo clients against both servers.
    fn stock_lines(&self) -> Vec<Line> {
        let p = &self.params;
        let mut lines = vec![Line::Section(format!(
            "5. Stock automerge-repo 2.5.6 JS clients: {} clients × {} changes, each client its \
             own document, each change acknowledged before the next",
            p.stock_clients, p.stock_changes
        ))];
        let (o, t) = (self.stock_ours.as_ref(), self.stock_reference.as_ref());
        if o.is_none() && t.is_none() {
            return lines;
        }
        let targets = self.stock_targets();
        let met = |i: usize| targets.get(i).and_then(|t| t.2);
        let row = |name: &str, f: &dyn Fn(&StockRun) -> Cell| {
            Row::new(name, cell_or_empty(o, f), cell_or_empty(t, f))
        };
        let value = |v: Option<f64>, unit: Unit| v.map_or(Cell::Empty, |v| Cell::Value(v, unit));
        lines.push(Line::Row(row("Changes acknowledged", &|r| {
            Cell::text(format!(
                "{} of {}{}",
                thousands(r.acked as u64),
                thousands((r.clients * r.changes) as u64),
                if r.failed > 0 {
                    format!(" ({} client(s) stopped)", r.failed)
                } else {
                    String::new()
                }
            ))
        })));
        lines.push(Line::Row(
            row("Applied changes per second", &|r| {
                value(r.changes_per_s(), Unit::PerSecond)
            })
            .target("no lower than the reference", met(2)),
        ));
        lines.push(Line::Row(row(
            "Acknowledged (frame sent → server's heads include it): p50 / p99 / max",
            &|r| r.ack().map_or(Cell::Empty, |l| Cell::text(l.show())),
        )));
        lines.push(Line::Row(
            row("… p99", &|r| value(r.ack().map(|l| l.p99), Unit::Millis))
                .target("≤ 1/3 of the reference", met(1)),
        ));
        lines.push(Line::Row(row(
            "… from `handle.change()`: p50 / p99 / max",
            &|r| r.change_ack().map_or(Cell::Empty, |l| Cell::text(l.show())),
        )));
        lines.push(Line::Row(row(
            "… of which `handle.change()` → frame sent (in the client): p50 / p99 / max",
            &|r| r.send().map_or(Cell::Empty, |l| Cell::text(l.show())),
        )));
        lines.push(Line::Row(row("Server CPU time (user + system)", &|r| {
            Cell::secs(r.cpu_s)
        })));
        lines.push(Line::Row(
            row("Server CPU per applied change", &|r| {
                value(r.cpu_ms_per_change(), Unit::FineMillis)
            })
            .target("≤ 1/3 of the reference", met(0)),
        ));
        lines.push(Line::Row(row(
            "… for comparison: server CPU over 1 s idle just before the start",
            &|r| Cell::secs(r.idle_cpu_s),
        )));
        if let Some(applied) = o.and_then(|r| r.applied_metric) {
            lines.push(Line::Row(Row::new(
                "… changes our server counted as applied (`rectify_sync_changes_applied_total`)",
                Cell::count(applied as u64),
                Cell::Empty,
            )));
        }
        lines.push(Line::Row(row(
            "Clients' setup: connect and open (reference: upload) every document",
            &|r| Cell::secs(r.open_s),
        )));
        lines
    }

    /// Phase 6: the Hocuspocus-shaped workload on ours, beside the issue's fixed figures.
    fn single_doc_lines(&self) -> Vec<Line> {
        let p = &self.params;
        let mut lines = vec![Line::Section(format!(
            "6. Hocuspocus-shaped workload: {} clients, each its own document, {} sequential \
             edits (Rectify only; Hocuspocus 4.7's figures are issue #17's, measured elsewhere)",
            p.single_doc_clients, p.single_doc_edits
        ))];
        let Some(s) = &self.single_doc else {
            return lines;
        };
        let targets = self.single_doc_targets();
        let met = |i: usize| targets.get(i).and_then(|t| t.2);
        let one = |name: &str, cell: Cell| Row::new(name, cell, Cell::Empty);
        let value = |v: Option<f64>, unit: Unit| v.map_or(Cell::Empty, |v| Cell::Value(v, unit));
        lines.push(Line::Row(one(
            "Edits acknowledged",
            Cell::text(format!(
                "{} of {}{}",
                thousands(s.acked as u64),
                thousands((s.clients * s.edits) as u64),
                if s.failures.is_empty() {
                    String::new()
                } else {
                    format!(" ({} client(s) stopped)", s.failures.len())
                }
            )),
        )));
        lines.push(Line::Row(
            one(
                "Server CPU per acknowledged edit",
                value(s.cpu_ms_per_edit(), Unit::FineMillis),
            )
            .target(
                format!(
                    "≤ {CPU_MS_TARGET} ms (Hocuspocus: {HOCUSPOCUS_CPU_MS} ms in memory, \
                     {HOCUSPOCUS_SQLITE_CPU_MS} ms with SQLite)"
                ),
                met(0),
            ),
        ));
        lines.push(Line::Row(one(
            "… Rectify ÷ Hocuspocus in memory / with SQLite",
            s.cpu_ms_per_edit().map_or(Cell::Empty, |v| {
                Cell::text(format!(
                    "{:.2}× / {:.2}×",
                    v / HOCUSPOCUS_CPU_MS,
                    v / HOCUSPOCUS_SQLITE_CPU_MS
                ))
            }),
        )));
        lines.push(Line::Row(one(
            "Acknowledged (sent → server's heads include it): p50 / p99 / max",
            s.ack().map_or(Cell::Empty, |l| Cell::text(l.show())),
        )));
        lines.push(Line::Row(
            one("… p99", value(s.ack().map(|l| l.p99), Unit::Millis)).target(
                format!(
                    "≤ {P99_MS_TARGET} ms (Hocuspocus: {HOCUSPOCUS_P99_MS} ms in memory, \
                     {HOCUSPOCUS_SQLITE_P99_MS} ms with SQLite)"
                ),
                met(1),
            ),
        ));
        lines.push(Line::Row(one(
            "… Rectify ÷ Hocuspocus p99 in memory / with SQLite",
            s.ack().map_or(Cell::Empty, |l| {
                Cell::text(format!(
                    "{:.2}× / {:.2}×",
                    l.p99 / HOCUSPOCUS_P99_MS,
                    l.p99 / HOCUSPOCUS_SQLITE_P99_MS
                ))
            }),
        )));
        lines.push(Line::Row(one(
            "Edits per second (all clients)",
            value(s.edits_per_s(), Unit::PerSecond),
        )));
        lines.push(Line::Row(one(
            "Server CPU time (user + system)",
            Cell::secs(s.cpu_s),
        )));
        lines.push(Line::Row(one(
            "… for comparison: server CPU over 1 s idle just before the start",
            Cell::secs(s.idle_cpu_s),
        )));
        if let Some(applied) = s.applied_metric {
            lines.push(Line::Row(one(
                "… changes the server counted as applied (`rectify_sync_changes_applied_total`)",
                Cell::count(applied as u64),
            )));
        }
        lines
    }
}

/// Phase 4 in the browser: opening the school's documents from IndexedDB.
fn open_lines(o: &OpenFromDevice) -> Vec<Row> {
    let n = o.documents;
    let times =
        |f: fn(&crate::browser::Reload) -> f64| -> Vec<f64> { o.reloads.iter().map(f).collect() };
    let max = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
    let median_max = |v: Vec<f64>| match median(v.clone()) {
        Some(m) => Cell::text(format!("{m:.0} / {:.0} ms", max(&v))),
        None => Cell::Empty,
    };
    let painted = times(|r| r.painted_ms);
    let row = |name: String, cell: Cell| Row::new(name, cell, Cell::Empty);
    vec![
        row(
            format!("Open a school's {n} documents from IndexedDB (headless Chromium)"),
            match median(painted.clone()) {
                Some(m) => Cell::text(format!("median {m:.0} ms, max {:.0} ms", max(&painted))),
                None => Cell::Empty,
            },
        ),
        row(
            format!(
                "… that is: reload offline, navigation start → the list of {n} painted; each of {} reloads",
                o.reloads.len()
            ),
            Cell::text(
                painted
                    .iter()
                    .map(|v| format!("{v:.0}"))
                    .collect::<Vec<_>>()
                    .join(" / ")
                    + " ms",
            ),
        ),
        row(
            format!(
                "… navigation start → all {n} open in the replica (mark `rectify-local-loaded`): median / max"
            ),
            median_max(times(|r| r.loaded_ms)),
        ),
        row(
            "… of which reading IndexedDB and opening the documents (from mark \
             `rectify-local-loading`): median / max"
                .to_owned(),
            median_max(times(|r| r.loaded_ms - r.loading_ms)),
        ),
        row(
            format!("… navigation start → {n} rows in the DOM: median / max"),
            median_max(times(|r| r.listed_ms)),
        ),
        row(
            "… what IndexedDB held for the school".to_owned(),
            Cell::text(format!(
                "{} documents in {} chunks, {}",
                thousands(n as u64),
                thousands(o.stored_chunks),
                bytes(o.stored_bytes)
            )),
        ),
        row(
            "… first sync into the browser before (log in → all in IndexedDB; online, loopback)"
                .to_owned(),
            Cell::secs(o.first_sync_s),
        ),
    ]
}

/// Where one direction's bytes went, at the proxy.
pub fn breakdown(flow: &Flow, at_proxy: u64) -> Vec<(&'static str, u64)> {
    let sync_payload: u64 = [
        "sync",
        "request",
        "rectify-digest",
        "rectify-digest-reply",
        "rectify-heads",
        "rectify-heads-reply",
        "rectify-changes",
        "rectify-applied",
    ]
    .iter()
    .filter_map(|t| flow.by_type.get(*t))
    .map(|(_, b)| b)
    .sum();
    let s = &flow.sync;
    let automerge_other = s.automerge.saturating_sub(s.changes + s.hashes + s.have);
    vec![
        ("changes (Automerge change bytes)", s.changes),
        (
            "heads and need (hashes; batched: ids and digests)",
            s.hashes,
        ),
        ("have (last-sync hashes and Bloom filters)", s.have),
        ("rest of the Automerge sync messages", automerge_other),
        (
            "CBOR envelope (type, senderId, targetId, documentId; batched: type)",
            sync_payload.saturating_sub(s.automerge),
        ),
        (
            "other messages (join, peer, …)",
            flow.payload.saturating_sub(sync_payload),
        ),
        ("WebSocket frame headers", flow.framing),
        (
            "HTTP upgrade, pings and close (the rest)",
            at_proxy.saturating_sub(flow.payload + flow.framing),
        ),
    ]
}

fn breakdown_table(out: &mut String, columns: &[(&str, &Flow, u64)]) {
    out.push_str("| Part |");
    for (name, _, _) in columns {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n| --- |");
    for _ in columns {
        out.push_str(" ---: |");
    }
    out.push('\n');
    let parts: Vec<Vec<(&str, u64)>> = columns
        .iter()
        .map(|(_, flow, total)| breakdown(flow, *total))
        .collect();
    for i in 0..parts.first().map_or(0, Vec::len) {
        let _ = write!(out, "| {} |", parts[0][i].0);
        for (p, (_, _, total)) in parts.iter().zip(columns) {
            let v = p[i].1;
            let share = if *total > 0 {
                v as f64 * 100.0 / *total as f64
            } else {
                0.0
            };
            let _ = write!(out, " {} ({share:.0} %) |", bytes(v));
        }
        out.push('\n');
    }
    out.push_str("| **total at the proxy** |");
    for (_, _, total) in columns {
        let _ = write!(out, " **{}** |", bytes(*total));
    }
    out.push('\n');
    out.push_str("| sync messages (with changes) |");
    for (_, flow, _) in columns {
        let _ = write!(
            out,
            " {} ({}) |",
            thousands(flow.sync.messages),
            thousands(flow.sync.with_changes)
        );
    }
    out.push('\n');
}

fn message_types(out: &mut String, columns: &[(&str, &Flow)]) {
    let mut types: Vec<&String> = columns.iter().flat_map(|(_, f)| f.by_type.keys()).collect();
    types.sort();
    types.dedup();
    out.push_str("| Message type |");
    for (name, _) in columns {
        let _ = write!(out, " {name} |");
    }
    out.push_str("\n| --- |");
    for _ in columns {
        out.push_str(" ---: |");
    }
    out.push('\n');
    for t in types {
        let _ = write!(out, "| `{t}` |");
        for (_, flow) in columns {
            let (n, b) = flow.by_type.get(t).copied().unwrap_or_default();
            let _ = write!(out, " {} ({}) |", thousands(n), bytes(b));
        }
        out.push('\n');
    }
}

/// How the run was made, for the header of RESULTS.md.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub machine: Machine,
    pub date: String,
    pub commands: Vec<String>,
    pub took_s: f64,
    pub quick: bool,
    pub open_files: (u64, u64),
    pub notes: Vec<String>,
}

/// `RESULTS.md`.
pub fn document(results: &Results, run: &RunInfo) -> String {
    let m = &run.machine;
    let p = &results.params;
    let mut out = String::new();
    out.push_str(
        "# Benchmarks: sync efficiency and capacity, side by side with automerge-repo\n\n",
    );
    let _ = writeln!(
        out,
        "Issue #9. Written by `cargo xtask bench` on {}; run it again rather than editing this \
         file.{}\n",
        run.date,
        if run.quick {
            " **A quick run with shrunken sizes: not the figures to quote.**"
        } else {
            ""
        }
    );
    out.push_str("## Machine\n\n");
    let _ = writeln!(out, "- CPU: {} ({} cores)", m.cpu, m.cores);
    let _ = writeln!(out, "- RAM: {:.1} GiB", m.ram_gib);
    let _ = writeln!(out, "- OS: {} (Linux {})", m.os, m.kernel);
    let _ = writeln!(out, "- {}; Node.js {}", m.rustc, m.node);
    let _ = writeln!(
        out,
        "- Open files: soft limit raised to {} (hard limit {}) for the bench and the servers it starts",
        run.open_files.0, run.open_files.1
    );
    out.push_str(
        "- Everything on 127.0.0.1: the servers, the clients and the byte-counting proxies share \
         the cores, so wall times include the clients' own work; CPU time and bytes compare the \
         servers more fairly.\n\n",
    );
    out.push_str("## Commands\n\n```sh\n");
    for command in &run.commands {
        let _ = writeln!(out, "{command}");
    }
    let _ = writeln!(
        out,
        "```\n\nThe bench itself took {:.1} minutes (the builds not included).\n",
        run.took_s / 60.0
    );
    out.push_str("## Results\n\n");
    out.push_str(
        "Rectify is `rectify serve` (release build) on a fresh data directory; the reference is \
         `bench/reference/server.mjs`, the stock automerge-repo 2.5.6 sync server on Node.js, \
         with the same documents and the same clients (our `SyncClient`, the core the browser \
         runs). KB and MB are decimal (1 KB = 1,000 bytes).\n\n",
    );
    out.push_str(&crate::table::markdown(&results.lines(), REFERENCE_NAME));
    out.push_str("\n## Targets\n\n");
    for (what, figure, met) in results.targets() {
        let mark = match met {
            Some(true) => "met",
            Some(false) => "**not met**",
            None => "not measured",
        };
        let _ = writeln!(out, "- {what}: {mark} — {figure}");
    }
    if !results.failures.is_empty() {
        out.push_str("\n## Failures\n\n");
        for failure in &results.failures {
            let _ = writeln!(out, "- {}", failure.replace('\n', " "));
        }
    }
    out.push_str("\n## How each figure is taken\n\n");
    let _ = writeln!(
        out,
        "- **Workload (phase 1).** {} unit accounts (schools), each with {} item documents \
         assigned to it alone and planned by the office, are written into a fresh data \
         directory. For each document the school's {} offline edits are made once with \
         `model::apply` as that school (`ItemEdit::UnitNarrative`, each appending a sentence: \
         one Automerge change each) and kept as one bundle, so both servers get exactly the same \
         changes. On Rectify the schools and the office fetch the documents; on the reference \
         the schools put them there (the reference accepts any document) and the office \
         requests them all. Then every school drops its connection, applies its edits and all \
         reconnect at once.",
        p.schools, p.docs, p.edits
    );
    out.push_str(
        "- **Converged**: from the moment the schools start reconnecting until the office (connected \
         all along) holds every document at the school's heads. **Every school knows**: until \
         the last school's `SyncClient::in_sync` holds for all its documents (the server said \
         it has exactly our heads).\n",
    );
    out.push_str(
        "- **Bytes** are counted at a loopback proxy, one in front of the server for the schools \
         and one for the office, so upload, download and the office's download are apart. They \
         include the HTTP upgrade, WebSocket framing and everything else on the TCP stream. The \
         proxy is the tests' `CutProxy` (tests/src/proxy.rs) with an empty cut plan; it and \
         the measured clients set `TCP_NODELAY`, as browsers do (otherwise a write that waits \
         for the previous one's delayed ACK adds up to 40 ms to a round trip).\n",
    );
    out.push_str(
        "- **Floor**: for each document, the school's new changes compressed as one bundle — \
         `doc.bundle(new change hashes).bytes().len()` — summed. Upload ÷ floor is the schools' \
         bytes at the proxy over it; the office's download has the same floor. Issue #9 names \
         `save_after(old_heads)` for this, but in automerge 0.12 `save_after` writes each change's \
         own bytes one after the other, uncompressed (its sum is in the table too); the bundle \
         is what \"compressed as one bundle\" means. The table also gives every document saved \
         whole after the edits: when more than a third of a document's changes are new, \
         Automerge's sync (`generate_sync_message`, V2 messages) sends the whole document \
         saved instead of the missing changes.\n",
    );
    out.push_str(
        "- **Messages** are WebSocket frames counted on the clients (each frame is one CBOR \
         message).\n",
    );
    out.push_str(
        "- **Round trip**: a send followed by the server's reply that the client waits for. \
         `join` → `peer` is one. Then each document is a sequence of exchanges: a round is \
         counted when the client sent at least one message about the document and then received \
         the server's next message about it (a server message nobody asked for, and a last \
         client message that nothing answers, are not rounds). The client sends every \
         document's message at once, so documents go in parallel: a client's round trips are \
         `join` + the most rounds one document needed — the chain a network's latency \
         multiplies. The TCP handshake and the WebSocket upgrade (one round \
         trip each, before `join`) are not counted.\n",
    );
    out.push_str(
        "- **Up to date (phase 2)**: `SyncClient::in_sync` for every document — the server's \
         last sync message on this connection had exactly our heads. (If the server never said \
         so, 2 s without a frame would count instead; the table says when.) Bytes are read at \
         that moment.\n",
    );
    out.push_str(
        "- **Server CPU**: utime + stime from `/proc/PID/stat` just before the reconnect and \
         after every client has been quiet for 300 ms (so the reference's deferred writes, at \
         most every 100 ms per document, are mostly inside), in seconds of `sysconf(_SC_CLK_TCK)` \
         ticks. **Peak RSS**: `VmHWM` of `/proc/PID/status` at the end of the phase (the whole \
         process life: setup included).\n",
    );
    let _ = writeln!(
        out,
        "- **Idle connections**: WebSocket upgrades with a token, a `join` answered by `peer`, \
         then nothing; each connection keeps reading so pings are answered. Rectify: {} unit \
         accounts with at most {} connections each (under the default per-account limit of \
         16), served with `--max-connections {}` (the default is 2,000). The reference \
         accepts any connection. RSS is read 2 s after the last connection joined.",
        thousands(p.connection_accounts as u64),
        p.connection_levels
            .iter()
            .max()
            .copied()
            .unwrap_or(0)
            .div_ceil(p.connection_accounts.max(1)),
        p.max_connections_flag
    );
    let _ = writeln!(
        out,
        "- **Changes per second**: `sync-load throughput --clients {} --changes-per-client {}` \
         (tests/src/bin/sync-load.rs): unit clients each make a change and wait for its \
         acknowledgement, over and over, while the office watches; acknowledged = client's \
         send to the server's acknowledgement, seen = to the office's copy. It spreads the \
         clients over the items of the demo units (a few dozen), so several clients write to \
         each document and every change is pushed to its other readers. Its clients are \
         `SyncTestClient`s (with `TCP_NODELAY`), all in one process beside the server on the \
         same two cores.",
        p.load_clients, p.load_changes
    );
    let _ = writeln!(
        out,
        "- **Scale-out**: `sync-load throughput --replicas N --clients {} --changes-per-client {}` \
         for N = 1, 2, 3: N `rectify serve` processes on one fresh PostgreSQL database (the \
         test server's), the clients round-robin over them, the office watching on the last; \
         delivery is timed apart for changes sent to the office's replica and to another (the \
         fan-out through LISTEN/NOTIFY). A write that lost a race with another replica's is \
         judged again on the caught-up copy; after sixteen such races in a row it is closed with \
         1013 and the client reconnects and sends it again (counted). Then `replica-latency \
         --changes {}`: two replicas, a school writing on one, the office reading on both, one \
         change at a time (the next waits for the acknowledgement), so delivery is the \
         fan-out's own latency and not queueing. Everything shares the two cores.",
        p.load_clients, p.load_changes, p.moderate_changes
    );
    let _ = writeln!(
        out,
        "- **Stored documents**: {} item documents written into a fresh data directory before \
         the server starts — byte-for-byte copies of the demo's items, each under a new id with \
         an index row of its own, written in batches (rewriting each one, as `sync-load memory` \
         does, takes about 1.5 ms a document: minutes for 100,000). RSS 2 s after the start, \
         then after the office fetched {} of them (spread over the whole set) with \
         `SyncTestClient::fetch`. The server keeps a document in memory until it has been idle \
         for 60 s, so the line for all of them loaded at once is an extrapolation (idle RSS + \
         count × RSS per loaded document), not a measurement.",
        thousands(p.stored_docs as u64),
        thousands(p.stored_subset as u64)
    );
    out.push_str(
        "- **The reference server** (`bench/reference/server.mjs`) prints `listening on PORT` \
         before its Repo has attached the WebSocket adapter's message handlers (that waits for \
         the storage id): a connection made in between is accepted and then ignored for good. \
         The bench waits until a probe's `join` is answered before using it. The reference \
         does not answer a sync message when it has nothing to send, so a client with nothing \
         new is never told it is up to date; the idle reconnect says so.\n",
    );
    out.push_str(
        "- **Bundle**: the files of `target/web` after `cargo xtask build` (index.html and the \
         WASM, JS and CSS under `assets/`) with their `.gz` and `.br` siblings, as served. It \
         holds two builds of the client (issue #22): a school's first load is `index.html`, the \
         CSS and the school build (`rectify-school-…`), the target's figure; a device whose \
         session oversees loads the full build (`rectify-full-…`) instead.\n",
    );
    let (w, h) = crate::browser::VIEWPORT;
    let _ = writeln!(
        out,
        "- **Open from IndexedDB** (bench/src/browser.rs): a server (the tests' `TestServer`: \
         the real router, release build, in the bench's process on loopback, with the demo data \
         and the built client of `target/web` or `--web-dir`) gets one school — a unit account \
         and its unit — and {docs} item documents assigned to that unit alone: imported like a \
         report (two to four measures each), planned by the office, and three quarters of them \
         worked on by the school with the app's own edits (`campaigns::edit_item`: status in \
         progress, the progress text written in one to four sittings, a measure ticked, one in \
         six submitted for sign-off). The school logs in in headless Chromium \
         (`rectify_tests::Browser`, a {w}×{h} phone viewport, a profile of its own) and its \
         replica syncs everything into IndexedDB; the bench waits until the sync status says \
         synced, the list shows {docs} rows, IndexedDB holds {docs} documents for the school \
         (counted in the page from the `chunks` store) and the service worker controls the \
         page. Then the server is stopped (offline emulation does not reach a service worker \
         that started online), the page is set offline and reloaded {reloads} times (WebDriver's \
         refresh). Each reload is timed in the page with `performance.now()`, 0 being \
         navigation start: the client's marks `rectify-local-loading` (the replica starts \
         opening the device store) and `rectify-local-loaded` (every stored document loaded \
         into Automerge and read as an item; client/src/services/replica/mod.rs), the moment the \
         item list has a row for every document (a `MutationObserver` installed with \
         `Page.addScriptToEvaluateOnNewDocument`, so before the page's own scripts) and the \
         list painted (`requestAnimationFrame`, then `setTimeout 0`). The headline is \
         navigation start → painted, everything a person waits for: the service worker's \
         network-first fetch of the page failing (connection refused) and its cached shell, \
         the WASM started, the session read, the documents read from IndexedDB and opened, the \
         list rendered. A reload counts only if the page says it is a reload, is offline \
         (`navigator.onLine` false, sync status offline), lists exactly the {docs} items, and \
         the marks come in order; every reload is reported, the first included.",
        docs = p.open_docs,
        reloads = p.open_reloads,
    );
    if let Some(o) = &results.open_from_device {
        let _ = writeln!(out, "  Browser: {} (`{}`).", o.chromium, o.user_agent);
    }
    let _ = writeln!(
        out,
        "- **Stock clients (phase 5)** (bench/src/stock.rs, bench/reference/stock-load.mjs): \
         {clients} schools, each a unit account with one item document assigned to it alone \
         and planned by the office, are written into a fresh data directory, as in phase 1. \
         `stock-load.mjs` runs {clients} stock automerge-repo 2.5.6 `Repo`s (each with its own \
         `WebSocketClientAdapter`, no storage) in one Node.js process, one per school, \
         connecting to `/sync?token=…` (the reference ignores the token). On Rectify each \
         client finds its school's item; on the reference each imports the same document as \
         stored (the reference accepts any document, under a new id) and waits until the \
         server has it. Then every client makes {changes} edits to its own document, one at a \
         time, each what the app writes for a school (`ItemEdit::UnitNarrative` as \
         `sync-load throughput` makes it): a sentence appended to the school's progress text, \
         `updated_by` and `updated_at_ms` set, one Automerge change. **Acknowledged**: the \
         driver listens beside the Repo on the stock adapter — it wraps `send` to see the \
         `sync` message whose changes hold the new change's hash leave, and reads the \
         adapter's incoming `message` events: the first `sync` message for the document \
         whose heads (`decodeSyncMessage(data).heads`) include the hash is the server's \
         acknowledgement; the next edit is made as soon as it arrives. The p50/p99/max are \
         taken from send to acknowledgement (nearest rank), and also from `handle.change()`. \
         A stock client's DocSynchronizer sends a document's changes after a local change at \
         most every 100 ms (`asyncThrottle`), but it also answers every sync message it \
         receives at once, and it handles a received message after an `await`: the driver's \
         next edit, made when it sees the acknowledgement, is usually already in the \
         client's answer to that same message, so the throttle seldom applies here (the row \
         change → frame sent shows it) and the rate is bounded by the servers' \
         acknowledgements and the clients' own CPU rather than by 10 changes per client per \
         second. (The reference server is a Repo too: it answers a sync message at once, but \
         with the heads it had before applying it; the heads that include the change go out \
         from its own throttled change handler, at most every 100 ms per document.) A refused change is only logged by the stock adapter, so it would show \
         as a change never acknowledged within 30 s (that client stops; the row of changes \
         acknowledged says so, and a target is not met with a stopped client). **Applied \
         changes per second**: acknowledged changes over the time from the start to the last \
         acknowledgement. **Server CPU per applied change**: utime + stime of the server \
         process from just before the start until 300 ms after the last acknowledgement, over \
         the acknowledged changes (the setup — connecting, opening or uploading the \
         documents — is outside; the quiet 300 ms are inside, and what the server spends \
         doing nothing is shown beside it: its CPU over 1 s idle just before the start; the \
         clock tick is 10 ms, so small runs are coarse). Both servers are measured with the same driver, one after \
         the other (Rectify first), each on a fresh data directory; the clients' Node.js \
         process runs on the same two cores.",
        clients = p.stock_clients,
        changes = p.stock_changes,
    );
    let _ = writeln!(
        out,
        "- **Hocuspocus-shaped workload (phase 6)** (bench/src/single_doc.rs): {clients} \
         schools, each with one item document of its own (prepared as in phase 5), connect to \
         our server with our Rust client (`SyncTestClient`, the core the browser runs, in the \
         bench's process) and fetch their document. Then each makes {edits} edits in turn: \
         `ItemEdit::UnitNarrative` through `model::apply` (a sentence appended: one Automerge \
         change), sent, and waited for until the server's sync message has heads that cover \
         it (`SyncTestClient::sync_until_acknowledged`), then the next. Acknowledgement times \
         are from the send; server CPU from the start until 300 ms after the last \
         acknowledgement, over the acknowledged edits (with its CPU over 1 s idle just \
         before the start beside it, as in phase 5). Rectify acknowledges an edit only once \
         it is written to SQLite. The Hocuspocus 4.7 (Yjs) figures beside them — {h_cpu} ms of \
         server CPU per acknowledged edit and p99 {h_p99} ms acknowledging from memory, \
         {hs_cpu} ms and p99 {hs_p99} ms with its SQLite extension (which writes seconds \
         later) — are issue #17's, measured elsewhere on the same shape of workload, not by \
         this bench; the targets (≤ {t_cpu} ms per edit, p99 ≤ {t_p99} ms) are the issue's. \
         **Why Rectify costs more per edit than Hocuspocus** (a `perf` profile of the server \
         under `sync-load throughput`, 2026-12-06): Hocuspocus applies a Yjs update and \
         answers from memory; Rectify, for every change, copies the document to apply it \
         aside (disk before memory), checks it against the permission policy — the raw diff \
         of both states (about a sixth of the server's CPU) and the typed item (each state \
         read once, kept by `PolicyGate`) — builds the index row, writes and syncs SQLite \
         (group commit: one sync for everything queued meanwhile), and answers with \
         Automerge's `generate_sync_message` (about a tenth). The policy check and the \
         durable acknowledgement are the product's guarantees; the copy and the diff are \
         where the next savings are (apply on the document and roll back a refusal; diff \
         only the objects the change touched).",
        clients = p.single_doc_clients,
        edits = p.single_doc_edits,
        h_cpu = HOCUSPOCUS_CPU_MS,
        h_p99 = HOCUSPOCUS_P99_MS,
        hs_cpu = HOCUSPOCUS_SQLITE_CPU_MS,
        hs_p99 = HOCUSPOCUS_SQLITE_P99_MS,
        t_cpu = CPU_MS_TARGET,
        t_p99 = P99_MS_TARGET,
    );
    if let (Some(o), Some(r)) = (&results.reconnect_ours, &results.reconnect_reference) {
        out.push_str("\n## Where the bytes go (phase 1)\n\n");
        breakdown_table(
            &mut out,
            &[
                ("Rectify up", &o.schools_traffic.sent, o.up),
                ("reference up", &r.schools_traffic.sent, r.up),
                (
                    "Rectify office down",
                    &o.office_traffic.received,
                    o.office_down,
                ),
                (
                    "reference office down",
                    &r.office_traffic.received,
                    r.office_down,
                ),
            ],
        );
        out.push_str("\nMessages by type: count (payload bytes)\n\n");
        message_types(
            &mut out,
            &[
                ("Rectify schools → server", &o.schools_traffic.sent),
                ("Rectify server → schools", &o.schools_traffic.received),
                ("reference schools → server", &r.schools_traffic.sent),
                ("reference server → schools", &r.schools_traffic.received),
                ("Rectify → office", &o.office_traffic.received),
                ("reference → office", &r.office_traffic.received),
            ],
        );
        if !results.reconnect_metrics.is_empty() {
            out.push_str(
                "\nRectify's `/metrics`, what changed over phase 1 on our server (the setup \
                 included):\n\n",
            );
            for (name, value) in &results.reconnect_metrics {
                let _ = writeln!(out, "- `{name}`: {value}");
            }
        }
    }
    if let (Some(o), Some(r)) = (&results.idle_ours, &results.idle_reference) {
        out.push_str("\n## Where the bytes go (phase 2)\n\n");
        let traffic = |i: &Idle| -> Traffic { i.traffic.clone() };
        let (to, tr) = (traffic(o), traffic(r));
        breakdown_table(
            &mut out,
            &[
                ("Rectify up", &to.sent, o.up_total),
                ("Rectify down", &to.received, o.down_total),
                ("reference up", &tr.sent, r.up_total),
                ("reference down", &tr.received, r.down_total),
            ],
        );
        out.push_str(
            "\n(These columns count everything until the connection had been quiet for another \
             second, so they can exceed the table's bytes until up to date.)\n",
        );
    }
    if let Some(b) = &results.bundle {
        out.push_str(
            "\n## Bundle files\n\n| File | raw | gzip | brotli |\n| --- | ---: | ---: | ---: |\n",
        );
        for (name, s) in &b.files {
            let _ = writeln!(
                out,
                "| `{name}` | {} | {} | {} |",
                bytes(s[0]),
                bytes(s[1]),
                bytes(s[2])
            );
        }
    }
    if !run.notes.is_empty() {
        out.push_str("\n## Notes from this run\n\n");
        for note in &run.notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stock(acked: usize, wall_s: f64, cpu_s: f64, p99: f64, failed: usize) -> StockRun {
        // The 99th of 100 times by rank is the second largest: `p99` twice.
        let mut ack_ms = vec![1.0; acked.saturating_sub(2)];
        ack_ms.extend([p99, p99]);
        StockRun {
            clients: 10,
            changes: acked / 10,
            acked,
            failed,
            wall_s,
            cpu_s,
            change_ack_ms: ack_ms.clone(),
            send_ms: vec![0.0; acked],
            ack_ms,
            ..StockRun::default()
        }
    }

    #[test]
    fn stock_targets() {
        // (ours, reference, met: CPU per change, p99, rate)
        let cases = [
            // A third of the CPU and the p99 exactly, same rate: all met.
            (
                stock(100, 1.0, 0.1, 30.0, 0),
                stock(100, 1.0, 0.3, 90.0, 0),
                [true, true, true],
            ),
            // More CPU per change than a third, slower, p99 well under.
            (
                stock(100, 2.0, 0.2, 10.0, 0),
                stock(100, 1.0, 0.3, 90.0, 0),
                [false, true, false],
            ),
            // A stopped client: nothing is met, whatever the figures.
            (
                stock(100, 1.0, 0.01, 1.0, 1),
                stock(100, 1.0, 0.3, 90.0, 0),
                [false, false, false],
            ),
        ];
        for (n, (ours, reference, want)) in cases.into_iter().enumerate() {
            let results = Results {
                stock_ours: Some(ours),
                stock_reference: Some(reference),
                ..Results::default()
            };
            let met: Vec<Option<bool>> = results.stock_targets().iter().map(|t| t.2).collect();
            assert_eq!(met, want.map(Some).to_vec(), "case {n}");
        }
        let one_side = Results {
            stock_ours: Some(stock(100, 1.0, 0.1, 30.0, 0)),
            ..Results::default()
        };
        assert!(one_side.stock_targets().iter().all(|t| t.2.is_none()));
    }

    #[test]
    fn single_doc_targets() {
        // (CPU s over 1,000 edits, p99 ms, failures, met: CPU ≤ 0.5 ms, p99 ≤ 50 ms)
        let cases = [
            (0.5, 50.0, 0, [true, true]),
            (0.51, 49.0, 0, [false, true]),
            (0.28, 51.0, 0, [true, false]),
            (0.1, 1.0, 1, [false, false]),
        ];
        for (cpu_s, p99, failures, want) in cases {
            // The 990th of 1,000 times by rank: 11 or more at `p99` make it the p99.
            let mut ack_ms = vec![1.0; 980];
            ack_ms.extend([p99; 20]);
            let results = Results {
                single_doc: Some(SingleDoc {
                    clients: 40,
                    edits: 25,
                    acked: 1000,
                    failures: vec!["x".to_owned(); failures],
                    wall_s: 1.0,
                    ack_ms,
                    cpu_s,
                    idle_cpu_s: 0.0,
                    applied_metric: None,
                }),
                ..Results::default()
            };
            let met: Vec<Option<bool>> = results.single_doc_targets().iter().map(|t| t.2).collect();
            assert_eq!(met, want.map(Some).to_vec(), "{cpu_s} s, p99 {p99} ms");
        }
        assert!(
            Results::default()
                .single_doc_targets()
                .iter()
                .all(|t| t.2.is_none())
        );
    }

    #[test]
    fn scale_out_rows_name_each_replica_count_and_cross_replica_delivery_only_when_several() {
        let run = |replicas: usize| {
            serde_json::json!({
                "changes_per_s": 100.0 * replicas as f64,
                "ack_ms": {"p50": 10.0, "p99": 20.0},
                "latency_same_replica_ms": {"p50": 11.0, "p99": 21.0},
                "latency_across_replicas_ms": {"p50": 12.0, "p99": 22.0},
                "reconnects": 3,
            })
        };
        let results = Results {
            scale_out: vec![(1, run(1)), (2, run(2))],
            ..Results::default()
        };
        let table = crate::table::markdown(&results.scale_out_lines(), "reference");
        assert!(
            table.contains("1 replica(s): applied changes per second"),
            "{table}"
        );
        assert!(
            table.contains("2 replica(s): applied changes per second"),
            "{table}"
        );
        assert!(table.contains("200 /s"), "{table}");
        assert_eq!(
            table.matches("sent to another replica").count(),
            1,
            "only with several replicas: {table}"
        );
        assert!(table.contains("12.0 / 22.0 ms"), "{table}");
        assert!(!table.contains("one change at a time"), "not run: {table}");
    }

    #[test]
    fn a_rows_verdict_is_its_own_targets() {
        // Only the bundle measured: its row carries its verdict, and no other row has one
        // (by position, the bundle's row once showed the connections' target).
        for (brotli, verdict) in [(719_878, "**no**"), (400_000, "yes")] {
            let results = Results {
                bundle: Some(Bundle {
                    files: Vec::new(),
                    total: [2_000_000, 900_000, brotli],
                    full: None,
                }),
                ..Results::default()
            };
            let table = crate::table::markdown(&results.lines(), "reference");
            let row = table
                .lines()
                .find(|l| l.contains("… brotli"))
                .unwrap_or_else(|| panic!("no brotli row: {table}"));
            assert!(row.ends_with(&format!("| {verdict} |")), "{row}");
            let verdicts = table
                .lines()
                .filter(|l| l.ends_with("| yes |") || l.ends_with("| **no** |"))
                .count();
            assert_eq!(verdicts, 1, "{table}");
        }
    }

    #[test]
    fn scale_out_delivery_target_needs_under_150_ms_and_at_most_twice_one_server() {
        // (across p99, same-server p99, met)
        let cases = [
            (40.0, 25.0, Some(true)),
            (50.0, 25.0, Some(true)),
            (51.0, 25.0, Some(false)),
            (150.0, 100.0, Some(false)),
            (149.0, 100.0, Some(true)),
        ];
        for (across, same, want) in cases {
            let results = Results {
                scale_out_moderate: Some(serde_json::json!({
                    "changes": 200,
                    "across_replicas_ms": {"p50": 1.0, "p99": across, "max": across},
                    "same_replica_ms": {"p50": 1.0, "p99": same, "max": same},
                })),
                ..Results::default()
            };
            assert_eq!(results.scale_out_targets()[0].2, want, "{across} vs {same}");
            let table = crate::table::markdown(&results.scale_out_lines(), "reference");
            assert!(table.contains("seen on another replica"), "{table}");
        }
        assert_eq!(Results::default().scale_out_targets()[0].2, None);
    }
}
