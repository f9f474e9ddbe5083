//! The machine a run measured: CPU, cores, memory, kernel; and the peak resident memory of a
//! process, read from `/proc`.

use std::path::Path;

use serde::Serialize;

/// What the figures of a run were measured on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// CPU model (`/proc/cpuinfo`).
    pub cpu: String,
    /// Cores this process may use.
    pub cores: usize,
    /// Physical memory, MiB.
    pub memory_mib: u64,
    /// Kernel release.
    pub kernel: String,
    /// Build profile of the binaries (`release` or `debug`).
    pub profile: String,
    /// When the run started (UTC, RFC 3339).
    pub started: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Cores this process may use (at least 1).
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

impl Machine {
    /// Describes this machine.
    pub fn describe() -> Self {
        let cpu = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let memory_mib = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb / 1024)
            .unwrap_or(0);
        let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
        let profile = if cfg!(debug_assertions) { "debug" } else { "release" }.to_string();
        let started = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        Machine { cpu, cores: cores(), memory_mib, kernel, profile, started }
    }
}

/// Peak resident memory (`VmHWM`) of a running process, KiB; `None` once it has exited.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time (user + system) a running process has used, seconds (`/proc/PID/stat`, clock
/// ticks of 100 Hz as on every Linux build Debian ships).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")).ok()?;
    // The command name may contain spaces: fields start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}
