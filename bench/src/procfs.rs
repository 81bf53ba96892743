//! What `/proc` says about a process (CPU time, memory) and about the machine.

use anyhow::{Context, Result};
use std::process::Command;

/// CPU time a process has used: user + system, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTicks {
    pub user: u64,
    pub system: u64,
}

impl CpuTicks {
    /// Reads `/proc/PID/stat`.
    pub fn of(pid: u32) -> Result<CpuTicks> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("reading /proc/{pid}/stat"))?;
        parse_stat(&stat).with_context(|| format!("parsing /proc/{pid}/stat: {stat}"))
    }

    /// Seconds of CPU from `self` to `later`.
    pub fn seconds_until(self, later: CpuTicks) -> f64 {
        let ticks = (later.user + later.system).saturating_sub(self.user + self.system);
        ticks as f64 / clock_ticks_per_second() as f64
    }
}

/// `utime` and `stime` (fields 14 and 15) of a `/proc/PID/stat` line. The command name
/// (field 2) is in parentheses and may itself hold spaces and parentheses, so the fields are
/// counted from the last `)`.
pub fn parse_stat(stat: &str) -> Option<CpuTicks> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts with field 3 (state): field N is at index N - 3.
    Some(CpuTicks {
        user: fields.get(14 - 3)?.parse().ok()?,
        system: fields.get(15 - 3)?.parse().ok()?,
    })
}

/// `sysconf(_SC_CLK_TCK)`: the unit of `/proc/PID/stat` times (100 on Linux).
pub fn clock_ticks_per_second() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

/// Raises this process's soft limit of open files to the hard limit (children inherit it).
/// Returns (soft, hard) after the change.
pub fn raise_open_files_limit() -> Result<(u64, u64)> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum;
    if limit.current != hard {
        setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit {
                current: hard,
                maximum: hard,
            },
        )
        .context("setrlimit(RLIMIT_NOFILE)")?;
    }
    let now = getrlimit(Resource::Nofile);
    Ok((
        now.current.unwrap_or(u64::MAX),
        now.maximum.unwrap_or(u64::MAX),
    ))
}

/// The machine the numbers were taken on.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub ram_gib: f64,
    pub os: String,
    pub kernel: String,
    pub rustc: String,
    pub node: String,
}

impl Machine {
    pub fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or("unknown".to_owned(), |(_, name)| name.trim().to_owned());
        let cores = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ram_kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        let os = std::fs::read_to_string("/etc/os-release")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map_or("unknown".to_owned(), |v| v.trim_matches('"').to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or("unknown".to_owned(), |v| v.trim().to_owned());
        Machine {
            cpu,
            cores,
            ram_gib: ram_kib as f64 / 1024.0 / 1024.0,
            os,
            kernel,
            rustc: command_line_output("rustc", &["--version"]),
            node: command_line_output("node", &["--version"]),
        }
    }
}

fn command_line_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .current_dir(crate::workspace_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("not found".to_owned(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        // A real line of `rectify serve`, with a command name holding a space and a `)`.
        let line = "4242 (rect ify) x) S 1 4242 4242 0 -1 4194560 9137 0 0 0 \
                    1234 567 0 0 20 0 9 0 1234567 1041793024 12345 18446744073709551615 \
                    1 1 0 0 0 0 0 4096 17664 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(
            parse_stat(line),
            Some(CpuTicks {
                user: 1234,
                system: 567
            })
        );
        assert_eq!(parse_stat("4242 (cut"), None);
        assert_eq!(parse_stat("4242 (short) S 1 2"), None);
    }

    #[test]
    fn cpu_seconds_use_the_clock_tick() {
        let before = CpuTicks {
            user: 100,
            system: 50,
        };
        let after = CpuTicks {
            user: 300,
            system: 150,
        };
        let hz = clock_ticks_per_second() as f64;
        assert!((before.seconds_until(after) - 300.0 / hz).abs() < 1e-9);
        assert!(after.seconds_until(before).abs() < 1e-9);
    }
}
