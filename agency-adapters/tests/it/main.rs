//! Tests of the real `custos-adapter` binary against a real PostgreSQL server and five real
//! nodes on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use custos_testnet::consortium::{self, AGENCIES, InitOptions};
use custos_testnet::net::{self, NodeProcess};

mod folder;
mod pg;
mod postgres;
mod webhook;

/// Five nodes in a temporary folder, stopped when dropped.
#[derive(Debug)]
pub struct Net {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub nodes: Vec<NodeProcess>,
}

impl Drop for Net {
    fn drop(&mut self) {
        net::stop_all(&mut self.nodes);
    }
}

pub fn node_bin() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_custos-adapter")).with_file_name("custos-node");
    assert!(bin.exists(), "{} is missing: build the workspace first (cargo build --workspace)", bin.display());
    bin
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

/// Starts a five-agency network (SM suite) on ports from `base_port` and waits for height 2.
pub fn start_net(base_port: u16) -> Net {
    start_net_with(base_port, |_, toml| toml)
}

/// [`start_net`], with each agency's `node.toml` passed through `tweak` first.
pub fn start_net_with(base_port: u16, tweak: impl Fn(&str, String) -> String) -> Net {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut opts = InitOptions::new(custos_primitives::crypto::SuiteId::Sm, now - 3600).unwrap();
    opts.base_port = base_port;
    consortium::init(&dir, &opts).unwrap();
    for a in AGENCIES {
        let f = dir.join(a.id).join("node.toml");
        let text = std::fs::read_to_string(&f).unwrap().replace("timeout_propose = 2000", "timeout_propose = 1000");
        std::fs::write(&f, tweak(a.id, text)).unwrap();
    }
    let nodes = net::start_all(&dir, &node_bin()).unwrap();
    let net = Net { _tmp: tmp, dir, nodes };
    let home = net.dir.join("court");
    let deadline = Instant::now() + Duration::from_secs(60);
    rt().block_on(async {
        loop {
            if let Ok(c) = custos_adapters::client::NodeClient::connect(&home, None).await
                && c.height().await.unwrap_or(0) >= 2
            {
                break;
            }
            assert!(Instant::now() < deadline, "the network did not start");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    net
}

/// `custos-adapter ARGS`, waited for.
pub fn adapter(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_custos-adapter")).args(args).output().unwrap()
}

/// A running `custos-adapter run`, killed when dropped (also when a test fails).
#[derive(Debug)]
pub struct AdapterProcess(pub Child);

impl AdapterProcess {
    /// `kill -9`, and wait for it.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for AdapterProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `custos-adapter run`, logging to `log`.
pub fn spawn_adapter(config: &Path, log: &Path) -> AdapterProcess {
    let out = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let err = out.try_clone().unwrap();
    Command::new(env!("CARGO_BIN_EXE_custos-adapter"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "info,custos_adapters=debug")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .map(AdapterProcess)
        .unwrap()
}

#[test]
fn help_explains_the_adapter() {
    let o = adapter(&["--help"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    for word in ["run", "migrate", "reconcile", "source id", "[postgres]", "[folder]", "[webhook]"] {
        assert!(text.contains(word), "--help should mention {word}:\n{text}");
    }
}

#[test]
fn a_bad_configuration_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("a.toml");
    std::fs::write(&f, "home = \"h\"\nstate_dir = \"s\"\n").unwrap();
    let o = adapter(&["run", "--config", f.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("configure one adapter"), "{o:?}");
    let o = adapter(&["run", "--config", dir.path().join("missing.toml").to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.toml"), "{o:?}");
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The text of `http://addr/path` (a plain HTTP/1.0 GET).
pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}
