//! What the report says about the machine and the process: CPU, memory, OS, versions,
//! peak RSS, bytes on disk.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// Where and how a run happened.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// The CPU model, from /proc/cpuinfo.
    pub cpu: String,
    /// Cores this process may use.
    pub cores: usize,
    /// Total memory in bytes, from /proc/meminfo.
    pub memory_bytes: u64,
    /// The OS, from /etc/os-release.
    pub os: String,
    /// The kernel release.
    pub kernel: String,
    /// The 1-minute load average when the run started (other work on the machine).
    pub load_at_start: Option<f64>,
    /// `rustc --version`, when rustc is on the PATH.
    pub rustc: String,
    /// The git commit of the working tree, with `-dirty` when it has changes.
    pub commit: String,
    /// Crate and library versions.
    pub versions: Vec<(String, String)>,
    /// The command line, as given.
    pub command: String,
    /// The directory the databases were written to.
    pub work_dir: String,
    /// When the run started (RFC 3339, UTC).
    pub started: String,
    /// Wall time of the whole run, in seconds.
    pub wall_secs: f64,
    /// Whether this was a `--quick` smoke run (its figures mean nothing).
    pub quick: bool,
    /// Runs of each (engine, size), alternating; each figure is the best of their medians.
    #[serde(default = "one")]
    pub repeat: usize,
}

fn one() -> usize {
    1
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn field<'a>(text: &'a str, key: &str, sep: char) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(sep)?;
        (k.trim() == key).then(|| v.trim())
    })
}

fn command_output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Fills in everything but the command, times and work directory.
pub fn machine() -> Meta {
    let cpuinfo = read("/proc/cpuinfo");
    let meminfo = read("/proc/meminfo");
    let os_release = read("/etc/os-release");
    let commit = command_output("git", &["rev-parse", "--short", "HEAD"])
        .map(|c| {
            let dirty =
                command_output("git", &["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
            if dirty { format!("{c}-dirty") } else { c }
        })
        .unwrap_or_else(|| "unknown".into());
    Meta {
        cpu: field(&cpuinfo, "model name", ':')
            .unwrap_or("unknown")
            .to_string(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes: field(&meminfo, "MemTotal", ':')
            .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024),
        os: field(&os_release, "PRETTY_NAME", '=')
            .unwrap_or("unknown")
            .trim_matches('"')
            .to_string(),
        kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        load_at_start: read("/proc/loadavg")
            .split_whitespace()
            .next()
            .and_then(|l| l.parse().ok()),
        rustc: command_output("rustc", &["--version"]).unwrap_or_else(|| "unknown".into()),
        commit,
        versions: super::engines::peer_versions(),
        ..Meta::default()
    }
}

/// This process's peak resident set (VmHWM) in bytes; `None` where /proc has no such line.
pub fn peak_rss_bytes() -> Option<u64> {
    field(&read("/proc/self/status"), "VmHWM", ':')
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
}

/// Bytes of every file under `dir` (the database and its side files: WAL, shm, ...).
pub fn dir_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        total += if m.is_dir() {
            dir_bytes(&e.path())?
        } else {
            m.len()
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_by_key() {
        let t = "model name\t: Some CPU\nMemTotal:  2048 kB\nPRETTY_NAME=\"Debian\"";
        assert_eq!(field(t, "model name", ':'), Some("Some CPU"));
        assert_eq!(field(t, "MemTotal", ':'), Some("2048 kB"));
        assert_eq!(field(t, "PRETTY_NAME", '='), Some("\"Debian\""));
        assert_eq!(field(t, "missing", ':'), None);
    }

    #[test]
    fn dir_bytes_adds_up_nested_files() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), [0u8; 10]).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/b"), [0u8; 32]).unwrap();
        assert_eq!(dir_bytes(d.path()).unwrap(), 42);
    }
}
