//! Processes for the browser test: a five-node network, consoles, chromedriver.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use custos_testnet::consortium::{self, AGENCIES, InitOptions};
use custos_testnet::net::{self, NodeProcess};

pub fn custos_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_custos-console")).with_file_name("custos")
}

pub fn custos_at(home: &Path, args: &[&str]) -> Output {
    let bin = custos_bin();
    assert!(bin.exists(), "{} is missing: build the workspace first (cargo build -p custos-cli)", bin.display());
    Command::new(bin).arg("--home").arg(home).args(args).env_remove("CUSTOS_HOME").output().unwrap()
}

pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "command failed ({}):\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A child process killed on drop.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Net {
    pub _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    nodes: Vec<NodeProcess>,
}

impl Drop for Net {
    fn drop(&mut self) {
        net::stop_all(&mut self.nodes);
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Five SM2 agencies on loopback from `base_port`, running until dropped.
pub fn start_network(base_port: u16) -> Net {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("net");
    let mut opts = InitOptions::new(custos_primitives::crypto::SuiteId::Sm, now() - 3600).unwrap();
    opts.base_port = base_port;
    consortium::init(&dir, &opts).unwrap();
    for a in AGENCIES {
        let f = dir.join(a.id).join("node.toml");
        let text = std::fs::read_to_string(&f).unwrap().replace("timeout_propose = 2000", "timeout_propose = 1000");
        std::fs::write(&f, text).unwrap();
    }
    let bin = custos_bin().with_file_name("custos-node");
    assert!(bin.exists(), "{} is missing: build the workspace first", bin.display());
    let nodes = net::start_all(&dir, &bin).unwrap();
    let net = Net { _tmp: tmp, dir, nodes };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = custos_at(&net.dir.join("court"), &["status", "--json"]);
        if o.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            if v["height"].as_u64().unwrap_or(0) >= 2 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the network did not start: {}", String::from_utf8_lossy(&o.stderr));
        std::thread::sleep(Duration::from_millis(300));
    }
    net
}

pub fn wait_port(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening on {port}: {status}");
        }
        assert!(Instant::now() < deadline, "{what} is not listening on {port} after 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A self-signed ECDSA P-256 certificate for 127.0.0.1 (as an agency's web PKI would issue).
pub fn https_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("console.crt.pem"), dir.join("console.key.pem"));
    let o = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed to make the test's HTTPS certificate (scripts/install-deps.sh installs it)");
    ok(&o);
    (cert, key)
}

/// Starts the console of `agency` on `port`.
pub fn start_console(net: &Net, agency: &str, port: u16, cert: &Path, key: &Path, extra: &[&str]) -> Proc {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_custos-console"));
    let log = std::fs::File::create(net.dir.join(format!("console-{agency}.log"))).unwrap();
    let mut child = Command::new(bin)
        .arg("--home")
        .arg(net.dir.join(agency))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--tls-cert")
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .args(extra)
        .env_remove("CUSTOS_HOME")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    wait_port(port, "custos-console", &mut child);
    Proc(child)
}

/// Starts Debian's chromedriver on `port`.
pub fn start_chromedriver(port: u16, log: &Path) -> Proc {
    let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "chromedriver is not installed: run scripts/install-deps.sh (Debian packages chromium, chromium-driver)"
            )
        });
    let mut child = Command::new(driver)
        .arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(port, "chromedriver", &mut child);
    Proc(child)
}
