//! E-dossier exchange on five real nodes, driven through the `custos` binary (and, for the
//! refusal of a direct download, the gRPC API).

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use custos_dossier::{ChunkStore, DEFAULT_CHUNK_SIZE, SignedManifest};
use custos_primitives::types::MemberRole;
use custos_testnet::consortium::{self, AGENCIES, InitOptions};
use custos_testnet::home::Profile;
use custos_testnet::net::{self, NodeProcess};

use super::{ok, p, stderr, stdout};

pub(super) struct Net {
    _tmp: tempfile::TempDir,
    pub(super) dir: PathBuf,
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

pub(super) fn custos_at(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_custos"))
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("CUSTOS_HOME")
        .output()
        .unwrap()
}

pub(super) fn start(base_port: u16) -> Net {
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
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_custos")).with_file_name("custos-node");
    assert!(bin.exists(), "{} is missing: build the workspace first", bin.display());
    let nodes = net::start_all(&dir, &bin).unwrap();
    let net = Net { _tmp: tmp, dir, nodes };
    // Wait for the first blocks: the registry (with the encryption keys) is in state from then.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let o = custos_at(&net.dir.join("court"), &["status", "--json"]);
        if o.status.success() {
            let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
            if v["height"].as_u64().unwrap_or(0) >= 2 {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "the network did not start: {}", stderr(&o));
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    net
}

/// Writes a deterministic pseudo-random document of `len` bytes to `path`, streamed (a
/// xorshift64 generator from a fixed seed: incompressible, no two chunks alike).
fn write_document(path: &Path, len: u64) {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut left = len;
    while left > 0 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = left.min(8) as usize;
        w.write_all(&x.to_le_bytes()[..n]).unwrap();
        left -= n as u64;
    }
    w.into_inner().unwrap().sync_all().unwrap();
}

/// Whether two files have the same bytes, compared 1 MiB at a time (documents here are too
/// large to hold twice in memory).
fn same_file(a: &Path, b: &Path) -> bool {
    const BLOCK: usize = 1 << 20;
    let (mut fa, mut fb) = (File::open(a).unwrap(), File::open(b).unwrap());
    let len = fa.metadata().unwrap().len();
    if fb.metadata().unwrap().len() != len {
        return false;
    }
    let (mut x, mut y) = (vec![0u8; BLOCK], vec![0u8; BLOCK]);
    let mut left = len;
    while left > 0 {
        let n = left.min(BLOCK as u64) as usize;
        fa.read_exact(&mut x[..n]).unwrap();
        fb.read_exact(&mut y[..n]).unwrap();
        if x[..n] != y[..n] {
            return false;
        }
        left -= n as u64;
    }
    true
}

/// The size of test (h)'s document in MiB: 300 unless `CUSTOS_DOSSIER_TEST_MB` says otherwise
/// (e.g. `CUSTOS_DOSSIER_TEST_MB=20` for a quick local run; at least 3, so that the chunk indices
/// the test picks are distinct). The unit is the MiB (2^20 bytes, one chunk), so the default
/// document of 300 MiB + 12345 bytes is 314,585,145 bytes: over 300 MB in either unit.
fn dossier_test_mib() -> u64 {
    match std::env::var("CUSTOS_DOSSIER_TEST_MB") {
        Ok(v) => {
            let mib: u64 = v.trim().parse().unwrap_or_else(|_| panic!("CUSTOS_DOSSIER_TEST_MB={v:?} is not a number"));
            assert!(mib >= 3, "CUSTOS_DOSSIER_TEST_MB must be at least 3, got {mib}");
            mib
        }
        Err(_) => 300,
    }
}

fn store_of(dir: &Path, agency: &str) -> ChunkStore {
    let g = consortium::load_genesis(dir).unwrap();
    ChunkStore::open(dir.join(agency).join("data/dossier"), g.suite.clone()).unwrap()
}

pub(super) fn audit_lines(dir: &Path, agency: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(agency).join("data/audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Chunk files in a store's `chunks` folder (temporary files excluded).
fn chunk_files(dir: &Path) -> usize {
    let Ok(subs) = std::fs::read_dir(dir) else { return 0 };
    subs.flatten()
        .filter_map(|d| std::fs::read_dir(d.path()).ok())
        .flat_map(|f| f.flatten())
        .filter(|f| !f.file_name().to_string_lossy().starts_with(".tmp"))
        .count()
}

fn flip(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    b[100] ^= 1;
    std::fs::write(path, b).unwrap();
}

/// Prison's clerk asks the court's node for a chunk directly.
fn direct_get_chunk(dir: &Path, agency: &str, addr: &str, doc: &[u8]) -> tonic::Status {
    let home = dir.join(agency);
    let profile = Profile::load(&home).unwrap();
    let g = consortium::load_genesis(&home).unwrap();
    let ident = profile.transport(&home, MemberRole::Clerk).unwrap();
    let pem = ident.key.to_pkcs8_pem().unwrap();
    let (_, der) = custos_primitives::crypto::pem_rfc7468_decode(&pem).unwrap();
    let trust = Arc::new(custos_api::tls::TrustedCas::new(g.suite.clone(), g.cas.clone()));
    let tls = custos_api::tls::client_config(
        trust,
        vec![ident.cert.der().to_vec(), g.cas[&profile.agency].der().to_vec()],
        der.to_vec(),
    )
    .unwrap();
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let ch = custos_api::client::channel(addr, tls).await.unwrap();
        let mut c = custos_api::client::dossier_client(ch);
        let m = c.get_manifest(custos_api::pb::GetManifestRequest { doc_id: doc.to_vec() }).await;
        assert_eq!(m.unwrap_err().code(), tonic::Code::PermissionDenied);
        c.get_chunk(custos_api::pb::GetChunkRequest { doc_id: doc.to_vec(), index: 0 }).await.unwrap_err()
    })
}

/// Issue 5: the court sends a 300 MiB judgment bundle (see [`dossier_test_mib`]) to justice with
/// copies to the procuratorate and the police; the three fetch byte-identical copies and post
/// receipts; the prison gets nothing; a chunk damaged on the court's disk fails the fetch naming
/// the chunk; justice's node killed half-way through its pull resumes with the missing chunks
/// only; a fetch whose local copy lost chunks re-fetches only those.
#[test]
fn h_dossier_court_to_justice() {
    let t0 = Instant::now();
    let lap = |what: &str| println!("[{:>6.1}s] {what}", t0.elapsed().as_secs_f64());
    let chunk = u64::from(DEFAULT_CHUNK_SIZE);
    let size = dossier_test_mib() * chunk + 12345;
    // The chunk count, and the chunks the test damages and removes, follow from the size.
    let n = size.div_ceil(chunk) as u32;
    let damaged_index = n / 3;
    let lost = [damaged_index / 2, (damaged_index + n) / 2];

    let mut net = start(29700);
    lap("network started");
    let dir = net.dir.clone();
    let court = dir.join("court");
    let docs = tempfile::tempdir().unwrap();
    let file = docs.path().join("bundle.pdf");
    write_document(&file, size);
    lap(&format!("document written: {size} bytes, {n} chunks"));

    let o = custos_at(
        &court,
        &[
            "dossier",
            "send",
            p(&file),
            "--case",
            "(2026)黑0103刑初77号",
            "--type",
            "LETTER",
            "--to",
            "justice",
            "--copy",
            "procuratorate,police",
            "--json",
        ],
    );
    ok(&o);
    lap("sent");
    let sent: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let doc = sent["doc_id"].as_str().unwrap().to_string();
    assert_eq!(sent["chunks"], n);
    assert_eq!(sent["size"], size);
    // `custos verify` works on the sent file, as after `custos anchor`.
    ok(&custos_at(&dir.join("police"), &["verify", p(&file)]));

    // Prison: neither its node's pull nor a direct download from the court gets any bytes.
    let out = docs.path().join("prison.pdf");
    let o = custos_at(&dir.join("prison"), &["dossier", "fetch", &doc, "-o", p(&out)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("may not read"), "{}", stderr(&o));
    assert!(!out.exists());
    let s = direct_get_chunk(&dir, "prison", &net.nodes[0].rpc, &hex::decode(&doc).unwrap());
    assert_eq!(s.code(), tonic::Code::PermissionDenied, "{s:?}");
    assert!(store_of(&dir, "prison").list().unwrap().is_empty());
    let denied = audit_lines(&dir, "court")
        .into_iter()
        .filter(|l| l["caller_agency"] == "prison" && l["allowed"] == false)
        .count();
    assert!(denied >= 2, "the court's audit log records the prison's refused downloads");

    let court_store = store_of(&dir, "court");
    let manifest: SignedManifest = court_store.manifest(&custos_dossier_doc(&doc)).unwrap().unwrap();
    assert_eq!(manifest.manifest.chunk_count(), n);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_custos")).with_file_name("custos-node");

    // Justice: its node is killed half-way through the pull (once it holds half the chunks);
    // restarted, the fetch resumes with only the chunks it did not have.
    let out = docs.path().join("justice-first.pdf");
    let mut first = Command::new(env!("CARGO_BIN_EXE_custos"))
        .arg("--home")
        .arg(dir.join("justice"))
        .args(["dossier", "fetch", &doc, "-o", p(&out)])
        .env_remove("CUSTOS_HOME")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let half = (n / 2) as usize;
    let deadline = Instant::now() + Duration::from_secs(180);
    while chunk_files(&dir.join("justice/data/dossier/chunks")) < half {
        assert!(Instant::now() < deadline, "justice's node did not pull {half} chunks in time");
        std::thread::sleep(Duration::from_millis(5));
    }
    net::crash(&mut net.nodes[4]);
    let _ = first.wait();
    lap("justice's node killed");
    assert!(!out.exists());
    let missing = store_of(&dir, "justice").missing(&manifest.manifest).unwrap();
    assert!(
        !missing.is_empty() && missing.len() <= n as usize - half,
        "killed half-way: {} of {n} chunks missing",
        missing.len()
    );
    net.nodes[4] = net::start_node(&dir, "justice", &bin).unwrap();
    let before = audit_lines(&dir, "court").len();
    let out = docs.path().join("justice.pdf");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let o = custos_at(&dir.join("justice"), &["dossier", "fetch", &doc, "-o", p(&out), "--json"]);
        if o.status.success() {
            let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
            assert!(v["receipt_height"].as_u64().is_some(), "justice posted a receipt");
            break;
        }
        // The restarted node may not be listening yet.
        assert!(Instant::now() < deadline, "justice's fetch after restart: {}", stderr(&o));
        assert!(stderr(&o).contains("unavailable") || stderr(&o).contains("cannot reach"), "{}", stderr(&o));
        std::thread::sleep(Duration::from_millis(500));
    }
    lap("justice fetched after the restart");
    assert!(same_file(&out, &file), "justice's copy differs");
    std::fs::remove_file(&out).unwrap();
    let fetched: Vec<u32> = audit_lines(&dir, "court")[before..]
        .iter()
        .filter(|l| l["caller_agency"] == "justice" && l["op"] == "get_chunk")
        .map(|l| l["index"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(fetched, missing, "after the restart only the missing chunks are pulled");

    // The procuratorate fetches a byte-identical copy and posts its receipt.
    let agency = "procuratorate";
    let out = docs.path().join(format!("{agency}.pdf"));
    let o = custos_at(&dir.join(agency), &["dossier", "fetch", &doc, "-o", p(&out), "--json"]);
    ok(&o);
    lap("procuratorate fetched");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["receipt_height"].as_u64().is_some(), "{agency} posted a receipt");
    assert!(same_file(&out, &file), "{agency}'s copy differs");
    // Fetching again refuses to overwrite.
    let o = custos_at(&dir.join(agency), &["dossier", "fetch", &doc, "-o", p(&out)]);
    assert!(!o.status.success() && stderr(&o).contains("never overwrites"), "{}", stderr(&o));
    std::fs::remove_file(&out).unwrap();

    // A chunk damaged on the court's disk: the police's fetch fails naming it.
    let damaged = court_store.chunk_path(&manifest.manifest.chunks[damaged_index as usize]);
    flip(&damaged);
    let out = docs.path().join("police.pdf");
    let o = custos_at(&dir.join("police"), &["dossier", "fetch", &doc, "-o", p(&out)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains(&format!("chunk {damaged_index} ")), "{}", stderr(&o));
    assert!(!out.exists());
    lap("police's fetch failed on the damaged chunk");
    // Repaired, the fetch resumes: the chunks before the damaged one, which the police's node
    // already has, are not fetched again.
    flip(&damaged);
    let before = audit_lines(&dir, "court").len();
    let o = custos_at(&dir.join("police"), &["dossier", "fetch", &doc, "-o", p(&out)]);
    ok(&o);
    lap("police fetched");
    assert!(same_file(&out, &file), "the police's copy differs");
    std::fs::remove_file(&out).unwrap();
    let fetched: Vec<u32> = audit_lines(&dir, "court")[before..]
        .iter()
        .filter(|l| l["caller_agency"] == "police" && l["op"] == "get_chunk")
        .map(|l| l["index"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(fetched, (damaged_index..n).collect::<Vec<u32>>(), "only the missing chunks are pulled again");

    // Chunks lost from the police's node: a new fetch pulls only those two.
    let police_store = store_of(&dir, "police");
    for i in lost {
        assert!(police_store.remove(&manifest.manifest.chunks[i as usize]).unwrap());
    }
    let o = custos_at(&dir.join("police"), &["dossier", "list", "--json"]);
    ok(&o);
    let list: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(list[0]["chunks"], n);
    assert_eq!(list[0]["present"], n - 2);
    let before = audit_lines(&dir, "court").len();
    let again = docs.path().join("police-again.pdf");
    ok(&custos_at(&dir.join("police"), &["dossier", "fetch", &doc, "-o", p(&again)]));
    lap("police fetched again");
    assert!(same_file(&again, &file), "the police's second copy differs");
    let fetched: Vec<u32> = audit_lines(&dir, "court")[before..]
        .iter()
        .filter(|l| l["caller_agency"] == "police" && l["op"] == "get_chunk")
        .map(|l| l["index"].as_u64().unwrap() as u32)
        .collect();
    assert_eq!(fetched, lost);

    // The receipts are on the ledger.
    let o = custos_at(&court, &["doc", "show", &doc, "--json"]);
    ok(&o);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    for party in v["recipients"].as_array().unwrap().iter().chain(v["copies"].as_array().unwrap()) {
        assert!(party["receipt_height"].as_u64().is_some(), "no receipt of {}", party["agency"]);
    }
    lap("done");
}

/// Issue 5, grants: a document sent court → justice only; the prison's fetch is refused; the
/// court grants the prison, which then fetches a byte-identical copy and posts its receipt;
/// justice's node, holding the older manifest, takes the extended one on its next pull; the
/// court revokes the grant and the prison is refused again, by its own node and by the court's.
#[test]
fn i_dossier_grant_and_revoke() {
    let net = start(30100);
    let dir = net.dir.clone();
    let court = dir.join("court");
    let prison = dir.join("prison");
    let docs = tempfile::tempdir().unwrap();
    let file = docs.path().join("judgment.pdf");
    write_document(&file, 3 * 1024 * 1024 + 777);

    let o = custos_at(
        &court,
        &[
            "dossier",
            "send",
            p(&file),
            "--case",
            "(2026)黑0103刑初78号",
            "--type",
            "LETTER",
            "--to",
            "justice",
            "--json",
        ],
    );
    ok(&o);
    let sent: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let doc = sent["doc_id"].as_str().unwrap().to_string();
    let doc_id = custos_dossier_doc(&doc);

    // Justice fetches before any grant: its node keeps the two-recipient manifest.
    let out = docs.path().join("justice.pdf");
    ok(&custos_at(&dir.join("justice"), &["dossier", "fetch", &doc, "-o", p(&out)]));
    assert!(same_file(&out, &file));
    assert_eq!(store_of(&dir, "justice").manifest(&doc_id).unwrap().unwrap().manifest.recipients.len(), 2);

    // The prison is refused.
    let out = docs.path().join("prison-refused.pdf");
    let o = custos_at(&prison, &["dossier", "fetch", &doc, "-o", p(&out)]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("may not read"), "{}", stderr(&o));
    assert!(!out.exists());

    // Errors of grant: a recipient, an unknown agency, someone else's document.
    let o = custos_at(&court, &["dossier", "grant", &doc, "--agency", "justice"]);
    assert!(!o.status.success() && stderr(&o).contains("already read it"), "{}", stderr(&o));
    let o = custos_at(&court, &["dossier", "grant", &doc, "--agency", "nowhere"]);
    assert!(!o.status.success() && stderr(&o).contains("not in the ledger's registry"), "{}", stderr(&o));
    let o = custos_at(&dir.join("justice"), &["dossier", "grant", &doc, "--agency", "prison"]);
    assert!(!o.status.success() && stderr(&o).contains("only its issuing agency"), "{}", stderr(&o));
    let o = custos_at(&court, &["dossier", "revoke-grant", &doc, "--agency", "prison"]);
    assert!(!o.status.success() && stderr(&o).contains("no active grant"), "{}", stderr(&o));

    // The court grants the prison.
    let o = custos_at(&court, &["dossier", "grant", &doc, "--agency", "prison", "--json"]);
    ok(&o);
    let g: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(g["manifest_extended"], true);
    let extended = store_of(&dir, "court").manifest(&doc_id).unwrap().unwrap();
    let agencies: Vec<String> = extended.manifest.recipients.iter().map(|r| r.agency.to_string()).collect();
    assert_eq!(agencies, ["court", "justice", "prison"]);
    let o = custos_at(&court, &["dossier", "grant", &doc, "--agency", "prison"]);
    assert!(!o.status.success() && stderr(&o).contains("already holds an active grant"), "{}", stderr(&o));

    // The prison fetches a byte-identical copy and posts its receipt (its node may be a block
    // behind the court's: retry while it still refuses).
    let out = docs.path().join("prison.pdf");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let v: serde_json::Value = loop {
        let o = custos_at(&prison, &["dossier", "fetch", &doc, "-o", p(&out), "--json"]);
        if o.status.success() {
            break serde_json::from_str(&stdout(&o)).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "the prison's fetch after the grant: {}", stderr(&o));
        assert!(stderr(&o).contains("may not read"), "{}", stderr(&o));
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert!(v["receipt_height"].as_u64().is_some(), "the prison posted a receipt");
    assert!(same_file(&out, &file), "the prison's copy differs");

    // Justice's next pull replaces its older manifest with the extension.
    let out = docs.path().join("justice-again.pdf");
    ok(&custos_at(&dir.join("justice"), &["dossier", "fetch", &doc, "-o", p(&out)]));
    assert_eq!(store_of(&dir, "justice").manifest(&doc_id).unwrap().unwrap(), extended);

    // The court revokes the grant; the prison's node loses its chunks; a new fetch is refused.
    let o = custos_at(&court, &["dossier", "revoke-grant", &doc, "--agency", "prison", "--json"]);
    ok(&o);
    let prison_store = store_of(&dir, "prison");
    for h in extended.manifest.chunks.iter() {
        prison_store.remove(h).unwrap();
    }
    let before = audit_lines(&dir, "court").len();
    let out = docs.path().join("prison-after-revoke.pdf");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let o = custos_at(&prison, &["dossier", "fetch", &doc, "-o", p(&out)]);
        if !o.status.success() {
            assert!(stderr(&o).contains("may not read"), "{}", stderr(&o));
            break;
        }
        // The prison's node was a block behind and pulled once more: try again.
        assert!(std::time::Instant::now() < deadline, "the prison could still fetch after the revocation");
        std::fs::remove_file(&out).unwrap();
        for h in extended.manifest.chunks.iter() {
            prison_store.remove(h).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert!(!out.exists());
    // The court's node refuses the prison's direct download too, and logs it.
    let s = direct_get_chunk(&dir, "prison", &net.nodes[0].rpc, &doc_id.0.0);
    assert_eq!(s.code(), tonic::Code::PermissionDenied, "{s:?}");
    assert!(
        audit_lines(&dir, "court")[before..].iter().any(|l| l["caller_agency"] == "prison" && l["allowed"] == false),
        "the court's audit log records the refusal after the revocation"
    );
    let o = custos_at(&court, &["doc", "show", &doc, "--json"]);
    ok(&o);
}

fn custos_dossier_doc(hex_id: &str) -> custos_primitives::types::DocHash {
    let b: [u8; 32] = hex::decode(hex_id).unwrap().try_into().unwrap();
    custos_primitives::types::DocHash(custos_primitives::crypto::Hash(b))
}
