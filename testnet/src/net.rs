//! Running a local consortium: one `custos-node` process per agency, on loopback.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TestnetError;
use crate::consortium::{AGENCIES, NODE_CONFIG_FILE};

/// One node process.
#[derive(Debug)]
pub struct NodeProcess {
    /// Agency.
    pub agency: String,
    /// Home folder.
    pub home: PathBuf,
    /// The child process.
    pub child: Child,
    /// gRPC address.
    pub rpc: String,
    /// Metrics address.
    pub metrics: String,
    /// Log file.
    pub log: PathBuf,
}

impl Drop for NodeProcess {
    /// A node process never outlives its handle (e.g. a test that panics): killed if still
    /// running. [`stop`] is the clean way to end it.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Finds the `custos-node` binary: `CUSTOS_NODE_BIN`, else next to the running executable,
/// else on `PATH`.
pub fn node_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("CUSTOS_NODE_BIN") {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        for candidate in [dir.join("custos-node"), dir.join("../custos-node")] {
            if candidate.exists() {
                return candidate;
            }
        }
    }
    PathBuf::from("custos-node")
}

fn rpc_and_metrics(config: &Path) -> Result<(String, String), TestnetError> {
    let text = std::fs::read_to_string(config).map_err(|e| TestnetError::io(config, e))?;
    let v: toml::Value = toml::from_str(&text)
        .map_err(|e| TestnetError::Format { path: config.to_path_buf(), reason: e.to_string() })?;
    let get = |section: &str| {
        v.get(section).and_then(|s| s.get("listen")).and_then(|l| l.as_str()).map(str::to_string).ok_or_else(|| {
            TestnetError::Format { path: config.to_path_buf(), reason: format!("missing [{section}] listen") }
        })
    };
    Ok((get("rpc")?, get("metrics")?))
}

/// Starts the node of `agency` (its home is `dir/<agency>`), logging to `dir/<agency>/node.log`.
pub fn start_node(dir: &Path, agency: &str, bin: &Path) -> Result<NodeProcess, TestnetError> {
    let home = dir.join(agency);
    let config = home.join(NODE_CONFIG_FILE);
    let (rpc, metrics) = rpc_and_metrics(&config)?;
    let log = home.join("node.log");
    let out =
        std::fs::OpenOptions::new().create(true).append(true).open(&log).map_err(|e| TestnetError::io(&log, e))?;
    let err = out.try_clone().map_err(|e| TestnetError::io(&log, e))?;
    let child = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| {
            TestnetError::Invalid(format!(
                "cannot start {}: {e} (build it with `cargo build --bin custos-node`)",
                bin.display()
            ))
        })?;
    Ok(NodeProcess { agency: agency.to_string(), home, child, rpc, metrics, log })
}

/// Starts every agency's node.
pub fn start_all(dir: &Path, bin: &Path) -> Result<Vec<NodeProcess>, TestnetError> {
    let mut out = Vec::new();
    for a in AGENCIES {
        match start_node(dir, a.id, bin) {
            Ok(p) => out.push(p),
            Err(e) => {
                stop_all(&mut out);
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// Sends SIGTERM to a node and waits up to 10 s, then kills it.
pub fn stop(p: &mut NodeProcess) {
    if let Ok(pid) = i32::try_from(p.child.id()) {
        // SAFETY-free: `kill` through the command line keeps this crate free of unsafe code.
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = p.child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = p.child.kill();
    let _ = p.child.wait();
}

/// Kills a node at once (`kill -9`), as a crash would.
pub fn crash(p: &mut NodeProcess) {
    let _ = p.child.kill();
    let _ = p.child.wait();
}

/// Stops every node.
pub fn stop_all(nodes: &mut [NodeProcess]) {
    for p in nodes.iter_mut() {
        stop(p);
    }
}
