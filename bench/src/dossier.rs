//! An e-dossier sent and fetched between two agencies' nodes: the court's clerk sends a file
//! to the justice bureau (`custos dossier send`: hash, encrypt, upload, anchor), whose clerk
//! fetches it (`custos dossier fetch`: the bureau's node pulls the ciphertext from the court's,
//! the CLI downloads, verifies, decrypts and acknowledges). Whole processes of the real
//! binaries; peak resident memory of each CLI process and of both nodes is read from `/proc`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::machine::peak_rss_kib;
use crate::net::Network;
use crate::{BenchError, Result};

/// E-dossier figures.
#[derive(Clone, Debug, Serialize)]
pub struct Dossier {
    /// File size, MiB.
    pub size_mib: f64,
    /// `dossier send`, seconds.
    pub send_s: f64,
    /// `dossier fetch`, seconds.
    pub fetch_s: f64,
    /// End to end (send + fetch), MiB/s.
    pub end_to_end_mib_s: f64,
    /// Peak resident memory of the sending CLI process, MiB.
    pub send_rss_mib: f64,
    /// Peak resident memory of the fetching CLI process, MiB.
    pub fetch_rss_mib: f64,
    /// Peak resident memory of the sender's node over its whole life, MiB.
    pub sender_node_rss_mib: f64,
    /// Peak resident memory of the recipient's node over its whole life, MiB.
    pub recipient_node_rss_mib: f64,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> BenchError + '_ {
    move |e| BenchError::Io { path: path.to_path_buf(), reason: e.to_string() }
}

/// Writes `bytes` of pseudo-random content (xorshift, so nothing compresses it away).
fn write_file(path: &Path, bytes: u64) -> Result<()> {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).map_err(io(path))?);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = bytes;
    while left > 0 {
        for c in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = x.to_le_bytes();
            c.copy_from_slice(&b[..c.len()]);
        }
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).map_err(io(path))?;
        left -= n as u64;
    }
    f.flush().map_err(io(path))
}

fn same_content(a: &Path, b: &Path) -> Result<bool> {
    let mut fa = std::io::BufReader::new(std::fs::File::open(a).map_err(io(a))?);
    let mut fb = std::io::BufReader::new(std::fs::File::open(b).map_err(io(b))?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = read_full(&mut fa, &mut ba).map_err(io(a))?;
        let nb = read_full(&mut fb, &mut bb).map_err(io(b))?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Runs `cli args…`, polling its peak RSS; returns (seconds, peak RSS KiB, stdout).
fn run_measured(cli: &Path, args: &[&std::ffi::OsStr]) -> Result<(f64, u64, String)> {
    let what =
        || format!("{} {}", cli.display(), args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "));
    let start = Instant::now();
    let mut child = Command::new(cli)
        .args(args)
        .env_remove("CUSTOS_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| BenchError::Process { what: what(), reason: e.to_string() })?;
    let mut peak = 0u64;
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let status = loop {
        if let Some(kib) = peak_rss_kib(child.id()) {
            peak = peak.max(kib);
        }
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(BenchError::Process { what: what(), reason: e.to_string() }),
        }
    };
    let secs = start.elapsed().as_secs_f64();
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    if !status.success() {
        return Err(BenchError::Process { what: what(), reason: format!("{status}: {}", stderr.trim()) });
    }
    Ok((secs, peak, stdout))
}

/// Sends a file of `size_bytes` from the court to the justice bureau and fetches it there,
/// in `scratch` (which gets the file, its copy and the receipt).
pub fn run(net: &Network, cli: &Path, scratch: &Path, size_bytes: u64) -> Result<Dossier> {
    std::fs::create_dir_all(scratch).map_err(io(scratch))?;
    let file = scratch.join("dossier.bin");
    let out: PathBuf = scratch.join("dossier.fetched");
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(scratch.join("dossier.bin.anchor.json"));
    write_file(&file, size_bytes)?;
    let court = net.dir.join("court");
    let justice = net.dir.join("justice");
    let (send_s, send_kib, _) = run_measured(
        cli,
        &[
            "dossier".as_ref(),
            "send".as_ref(),
            "--home".as_ref(),
            court.as_os_str(),
            "--case".as_ref(),
            "(2026)BENCH-1".as_ref(),
            "--type".as_ref(),
            "LETTER".as_ref(),
            "--to".as_ref(),
            "justice".as_ref(),
            file.as_os_str(),
        ],
    )?;
    let receipt_path = scratch.join("dossier.bin.anchor.json");
    let receipt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&receipt_path).map_err(io(&receipt_path))?)
            .map_err(|e| BenchError::Io { path: receipt_path.clone(), reason: e.to_string() })?;
    let doc = receipt["doc_hash"].as_str().unwrap_or_default().to_string();
    let (fetch_s, fetch_kib, _) = run_measured(
        cli,
        &[
            "dossier".as_ref(),
            "fetch".as_ref(),
            "--home".as_ref(),
            justice.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            doc.as_ref(),
        ],
    )?;
    if !same_content(&file, &out)? {
        return Err(BenchError::Other(format!("{} differs from {}", out.display(), file.display())));
    }
    let node_rss = |agency: &str| {
        net.nodes.iter().find(|n| n.agency == agency).and_then(|n| peak_rss_kib(n.child.id())).unwrap_or(0)
    };
    let mib = |kib: u64| kib as f64 / 1024.0;
    let size_mib = size_bytes as f64 / (1024.0 * 1024.0);
    let result = Dossier {
        size_mib,
        send_s,
        fetch_s,
        end_to_end_mib_s: size_mib / (send_s + fetch_s),
        send_rss_mib: mib(send_kib),
        fetch_rss_mib: mib(fetch_kib),
        sender_node_rss_mib: mib(node_rss("court")),
        recipient_node_rss_mib: mib(node_rss("justice")),
    };
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&out);
    Ok(result)
}
