//! Commands that talk to a node: `status`, `anchor`, `verify`, `prove`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};

use custos_api::pb::ledger_client::LedgerClient;
use custos_api::pb::{GetAnchorRequest, GetStateProofRequest, StatusRequest};
use custos_contracts::call::{AnchorCall, BusinessDates, Call, DocType, SubjectKind};
use custos_contracts::documents::{AnchorRecord, ReceiptRecord};
use custos_contracts::state::{self, CheckedAnswer, StateError, StateQuestion};
use custos_primitives::crypto::{AnySuite, Hash};
use custos_primitives::types::{AgencyId, CaseRef, DocHash, DocHasher, MemberRole, Salt};
use custos_testnet::consortium;
use custos_testnet::home::Profile;
use tonic::transport::Channel;

/// How many blocks a submitted transaction stays valid for.
pub const VALIDITY_BLOCKS: u64 = 100;

/// A connected client plus what it needs to sign.
#[derive(Debug, Clone)]
pub struct Session {
    pub client: LedgerClient<Channel>,
    pub profile: Profile,
    pub home: PathBuf,
    pub suite: AnySuite,
    pub addr: String,
    /// The mutual-TLS channel, for the node's other services (e-dossier).
    pub channel: Channel,
}

/// The node address: `--node`, else `[rpc] listen` of the home's `node.toml`.
fn node_addr(home: &Path, node: Option<&str>) -> Result<String> {
    if let Some(n) = node {
        return Ok(n.to_string());
    }
    let path = home.join("node.toml");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no --node given and {} is unreadable: pass --node HOST:PORT (the node's [rpc] listen address)",
            path.display()
        )
    })?;
    let v: toml::Value = toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    v.get("rpc")
        .and_then(|r| r.get("listen"))
        .and_then(|l| l.as_str())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{} has no [rpc] listen; pass --node HOST:PORT", path.display()))
}

/// Connects to the home's node with the clerk's transport certificate.
pub async fn connect(home: &Path, node: Option<&str>, role: MemberRole) -> Result<Session> {
    let profile = Profile::load(home)?;
    let genesis = consortium::load_genesis(home)?;
    let suite = genesis.suite.clone();
    let ident = profile.transport(home, role)?;
    let (_, key_der) = custos_primitives::crypto::pem_rfc7468_decode(&ident.key.to_pkcs8_pem()?)?;
    let ca = genesis.cas.get(&profile.agency).ok_or_else(|| anyhow!("agency {} is not in genesis", profile.agency))?;
    let trust = Arc::new(custos_api::tls::TrustedCas::new(genesis.suite.clone(), genesis.cas.clone()));
    let tls =
        custos_api::tls::client_config(trust, vec![ident.cert.der().to_vec(), ca.der().to_vec()], key_der.to_vec())?;
    let addr = node_addr(home, node)?;
    let channel = custos_api::client::channel(&addr, tls)
        .await
        .map_err(|e| anyhow!("{e}\n  is the node running? (local network: `custos testnet up --dir DIR`)"))?;
    let client = LedgerClient::new(channel.clone()).max_decoding_message_size(64 * 1024 * 1024);
    Ok(Session { client, profile, home: home.to_path_buf(), suite, addr, channel })
}

/// A node's refusal of a call: its gRPC code travels with the message, so a caller (the web
/// console) can tell "not allowed" from "not found" or "down".
#[derive(Debug, thiserror::Error)]
#[error("{text}")]
pub struct NodeRefusal {
    /// The gRPC status code.
    pub code: tonic::Code,
    /// The whole message, as shown to a person.
    pub text: String,
}

/// The error of a failed call to the node at `addr`, with the refusal's kind and code.
pub fn status_err(addr: &str, s: tonic::Status) -> anyhow::Error {
    let kind = s.metadata().get(custos_api::ERROR_KIND_KEY).and_then(|v| v.to_str().ok()).unwrap_or("");
    let text = if s.code() == tonic::Code::Unavailable {
        format!("node at {addr} is unavailable ({}): is it running?", s.message())
    } else if kind.is_empty() {
        format!("node at {addr} refused: {}", s.message())
    } else {
        format!("node at {addr} refused ({kind}): {}", s.message())
    };
    NodeRefusal { code: s.code(), text }.into()
}

/// A node's view of the network.
#[derive(Serialize, Debug, Clone)]
pub struct StatusView {
    /// The node's API address.
    pub node: String,
    /// The node's agency.
    pub agency: String,
    /// Chain id.
    pub chain_id: String,
    /// Cryptographic suite.
    pub suite: String,
    /// Last committed height.
    pub height: u64,
    /// Current consensus round.
    pub round: u32,
    /// Hash of the last committed block (hex).
    pub last_block: String,
    /// Its proposer's timestamp (ms since the Unix epoch).
    pub last_block_time_ms: u64,
    /// Validators: (agency, node id).
    pub validators: Vec<(String, String)>,
    /// Connected peers.
    pub peers: u32,
    /// Transactions waiting in the mempool.
    pub mempool_txs: u64,
    /// Equivocation evidence this node recorded, in all.
    pub misbehaviour_total: u64,
    /// The oldest records (at most 100), with both signed messages in hex.
    pub misbehaviour: Vec<MisbehaviourView>,
}

/// One equivocation, as `custos status` shows it.
#[derive(Serialize, Debug, Clone)]
pub struct MisbehaviourView {
    /// Height.
    pub height: u64,
    /// Round.
    pub round: u32,
    /// Validator node id (hex).
    pub validator: String,
    /// Its agency, if known.
    pub agency: String,
    /// What it signed twice.
    pub kind: String,
    /// First signed message (hex).
    pub first: String,
    /// Second signed message (hex).
    pub second: String,
}

/// The node's status.
pub async fn status_view(s: &mut Session) -> Result<StatusView> {
    let st = s.client.status(StatusRequest {}).await.map_err(|e| status_err(&s.addr, e))?.into_inner();
    Ok(StatusView {
        node: s.addr.clone(),
        agency: st.agency.clone(),
        chain_id: st.chain_id.clone(),
        suite: st.suite.clone(),
        height: st.height,
        round: st.round,
        last_block: hex::encode(&st.last_block_hash),
        last_block_time_ms: st.last_block_time_ms,
        validators: st.validators.iter().map(|v| (v.agency.clone(), hex::encode(&v.node_id))).collect(),
        peers: st.peers,
        mempool_txs: st.mempool_txs,
        misbehaviour_total: st.misbehaviour_total,
        misbehaviour: st
            .misbehaviour
            .iter()
            .map(|m| MisbehaviourView {
                height: m.height,
                round: m.round,
                validator: hex::encode(&m.validator),
                agency: m.agency.clone(),
                kind: m.kind.clone(),
                first: hex::encode(&m.first),
                second: hex::encode(&m.second),
            })
            .collect(),
    })
}

/// `custos status`.
pub async fn status(home: &Path, node: Option<&str>, json: bool) -> Result<()> {
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let view = status_view(&mut s).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(());
    }
    println!("node        {} ({})", view.node, view.agency);
    println!("chain       {} ({} suite)", view.chain_id, view.suite);
    println!("height      {} (round {})", view.height, view.round);
    println!("last block  {}", view.last_block);
    println!("peers       {}", view.peers);
    println!("mempool     {} transactions", view.mempool_txs);
    println!("validators  {}", view.validators.len());
    for (agency, id) in &view.validators {
        println!("  {agency:<14} {id}");
    }
    if view.misbehaviour_total == 0 {
        println!("misbehaviour none recorded");
    } else {
        println!("misbehaviour {} equivocation(s) recorded (evidence: --json)", view.misbehaviour_total);
        for m in &view.misbehaviour {
            let who = if m.agency.is_empty() { &m.validator } else { &m.agency };
            println!("  height {} round {}: {who} sent a {}", m.height, m.round, m.kind);
        }
    }
    Ok(())
}

/// What `anchor` writes beside the document: the salt travels with it, so anyone holding the
/// document and this file can recompute the anchored hash.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct AnchorReceipt {
    pub doc_hash: String,
    pub salt: String,
    pub tx_id: String,
    pub height: u64,
    pub chain_id: String,
    pub doc_type: String,
    pub issuer: String,
}

pub fn receipt_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".anchor.json");
    file.with_file_name(name)
}

pub fn hash_file(suite: &AnySuite, salt: &Salt, file: &Path) -> Result<DocHash> {
    use std::io::Read;
    let mut f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut h = DocHasher::new(suite, salt);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).with_context(|| format!("cannot read {}", file.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize())
}

pub fn parse_agencies(list: &[String]) -> Result<Vec<AgencyId>> {
    list.iter().filter(|s| !s.is_empty()).map(|s| AgencyId::new(s.trim()).map_err(|e| anyhow!("{e}"))).collect()
}

/// What `custos anchor` anchors besides the file.
#[derive(Debug, Clone)]
pub struct AnchorSpec {
    /// The case number (案号); only its keyed hash goes on the ledger.
    pub case: String,
    /// Document type code.
    pub doc_type: String,
    /// Recipients (送达).
    pub to: Vec<String>,
    /// Copies (抄送).
    pub copy: Vec<String>,
    /// Business dates.
    pub dates: BusinessDates,
    /// Subject kind (deciding documents).
    pub kind: Option<SubjectKind>,
    /// E-seal reference.
    pub eseal: Option<Hash>,
}

/// `custos anchor`.
pub async fn anchor(home: &Path, node: Option<&str>, file: &Path, spec: &AnchorSpec, json: bool) -> Result<()> {
    let case = spec.case.as_str();
    let doc_type = DocType::new(&spec.doc_type).map_err(|e| anyhow!(e))?;
    let recipients = parse_agencies(&spec.to)?;
    let copies = parse_agencies(&spec.copy)?;
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let case_key_path = home.join("case.key");
    let case_key = std::fs::read_to_string(&case_key_path)
        .with_context(|| format!("cannot read the consortium case key {}", case_key_path.display()))?;
    let case_ref = CaseRef::derive(&s.suite, case_key.trim().as_bytes(), case);
    let salt = Salt::random()?;
    let doc_hash = hash_file(&s.suite, &salt, file)?;
    let anchor = Call::Anchor(AnchorCall {
        doc_hash,
        doc_type: doc_type.clone(),
        case_ref,
        recipients: recipients.try_into().map_err(|_| anyhow!("at most 16 recipients"))?,
        copies: copies.try_into().map_err(|_| anyhow!("at most 16 copies"))?,
        dates: spec.dates,
        subject_kind: spec.kind,
        eseal_ref: spec.eseal,
    });
    let committed = crate::cases::submit_calls(&mut s, MemberRole::Clerk, vec![anchor]).await?;
    let height = committed.height;
    let receipt = AnchorReceipt {
        doc_hash: doc_hash.to_string(),
        salt: hex::encode(salt.0),
        tx_id: committed.tx_id,
        height,
        chain_id: s.profile.chain_id.to_string(),
        doc_type: doc_type.to_string(),
        issuer: s.profile.agency.to_string(),
    };
    let rpath = receipt_path(file);
    std::fs::write(&rpath, serde_json::to_string_pretty(&receipt)?)
        .with_context(|| format!("cannot write {}", rpath.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&receipt)?);
    } else {
        println!("anchored {} ({doc_type})", file.display());
        println!("  document hash  {}", receipt.doc_hash);
        println!("  transaction    {}", receipt.tx_id);
        println!("  height         {height}");
        println!("  salt saved in  {} (keep it with the document)", rpath.display());
    }
    Ok(())
}

#[derive(Serialize)]
struct VerifyView {
    file: PathBuf,
    doc_hash: String,
    anchored: bool,
    height: Option<u64>,
    tx_id: Option<String>,
    issuer: Option<String>,
    doc_type: Option<String>,
    time_ms: Option<u64>,
    recipients: Vec<String>,
    copies: Vec<String>,
}

/// The salt of FILE's document hash, from its anchor receipt (`--receipt`, default
/// `FILE.anchor.json`).
pub fn read_salt(file: &Path, receipt: Option<&Path>) -> Result<Salt> {
    let rpath = receipt.map(Path::to_path_buf).unwrap_or_else(|| receipt_path(file));
    let text = std::fs::read_to_string(&rpath).with_context(|| {
        format!("cannot read {}: the salt of the document is needed (pass --receipt FILE)", rpath.display())
    })?;
    let r: AnchorReceipt =
        serde_json::from_str(&text).with_context(|| format!("{} is not an anchor receipt", rpath.display()))?;
    let mut salt = [0u8; 32];
    hex::decode_to_slice(r.salt.trim(), &mut salt).map_err(|_| anyhow!("{}: bad salt", rpath.display()))?;
    Ok(Salt(salt))
}

/// `custos verify FILE`: exit 0 when anchored, 1 when not.
pub async fn verify(home: &Path, node: Option<&str>, file: &Path, receipt: Option<&Path>, json: bool) -> Result<bool> {
    let salt = read_salt(file, receipt)?;
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let doc_hash = hash_file(&s.suite, &salt, file)?;
    let a = s
        .client
        .get_anchor(GetAnchorRequest { doc_hash: doc_hash.0.0.to_vec() })
        .await
        .map_err(|e| status_err(&s.addr, e))?
        .into_inner();
    let view = VerifyView {
        file: file.to_path_buf(),
        doc_hash: doc_hash.to_string(),
        anchored: a.found,
        height: a.found.then_some(a.height),
        tx_id: a.found.then(|| hex::encode(&a.tx_id)),
        issuer: a.found.then(|| a.issuer.clone()),
        doc_type: a.found.then(|| a.doc_type.clone()),
        time_ms: a.found.then_some(a.time_ms),
        recipients: a.recipients.clone(),
        copies: a.copies.clone(),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else if a.found {
        println!("ANCHORED: {} ({})", file.display(), view.doc_hash);
        println!("  height       {}", a.height);
        println!("  transaction  {}", hex::encode(&a.tx_id));
        println!("  issuer       {} ({})", a.issuer, a.doc_type);
        println!("  to           {}", a.recipients.join(", "));
        if !a.copies.is_empty() {
            println!("  copies       {}", a.copies.join(", "));
        }
    } else {
        println!("NOT ANCHORED: {} (hash {}) is not on the ledger", file.display(), view.doc_hash);
    }
    Ok(a.found)
}

#[derive(Serialize)]
struct ProveView {
    question: &'static str,
    doc_hash: String,
    agency: Option<String>,
    key_hex: String,
    included: bool,
    height: u64,
    state_root: String,
    block: String,
    value_bytes: Option<usize>,
    detail: Option<String>,
}

/// What `custos prove` found: the node answered and the proof verified (`Ok`), or the proof
/// (or the header sent with it) did not check (`Err`: exit 1).
pub type ProveOutcome = std::result::Result<CheckedAnswer, StateError>;

/// `custos prove anchor|receipt`: asks the node for a state proof of the question's key at
/// `height` (default: latest), checks it against the returned header's state root, and prints
/// INCLUDED or ABSENT. The header's commit certificate is not checked here.
pub async fn prove(
    home: &Path,
    node: Option<&str>,
    question: &StateQuestion,
    height: Option<u64>,
    json: bool,
) -> Result<ProveOutcome> {
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let key = question.key();
    let resp = s
        .client
        .get_state_proof(GetStateProofRequest { key: key.clone(), height })
        .await
        .map_err(|e| status_err(&s.addr, e))?
        .into_inner();
    let checked = match state::check_answer(&s.suite, &key, height, &resp.header, resp.value.as_deref(), &resp.proof) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    if checked.height != resp.height {
        return Ok(Err(StateError::WrongHeight { asked: resp.height, header: checked.height }));
    }
    let (name, doc, agency) = match question {
        StateQuestion::Anchor(doc) => ("anchor", doc, None),
        StateQuestion::Receipt { doc, agency } => ("receipt", doc, Some(agency.to_string())),
    };
    let detail = checked.value.as_deref().map(|v| describe_value(question, v));
    let view = ProveView {
        question: name,
        doc_hash: doc.to_string(),
        agency,
        key_hex: hex::encode(&key),
        included: checked.included(),
        height: checked.height,
        state_root: checked.state_root.to_hex(),
        block: checked.block.to_string(),
        value_bytes: checked.value.as_ref().map(Vec::len),
        detail,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        let what = match &view.agency {
            None => format!("anchor of document {}", view.doc_hash),
            Some(a) => format!("receipt from {a} for document {}", view.doc_hash),
        };
        if view.included {
            println!("INCLUDED at height {}: {what}", view.height);
        } else {
            println!("ABSENT at height {}: {what}", view.height);
        }
        println!("  state root  {}", view.state_root);
        println!("  block       {}", view.block);
        if let Some(d) = &view.detail {
            println!("  record      {d}");
        }
        println!("  proof       verified against the header's state root (commit certificate not checked)");
    }
    Ok(Ok(checked))
}

/// A one-line summary of a proven record.
fn describe_value(question: &StateQuestion, v: &[u8]) -> String {
    const MAX: usize = 64 * 1024;
    let decoded = match question {
        StateQuestion::Anchor(_) => custos_primitives::codec::decode_exact::<AnchorRecord>("anchor record", v, MAX)
            .map(|r| format!("anchored by {} ({}) at height {}, tx {}", r.issuer, r.doc_type, r.height, r.tx_id)),
        StateQuestion::Receipt { .. } => {
            custos_primitives::codec::decode_exact::<ReceiptRecord>("receipt record", v, MAX)
                .map(|r| format!("received by {} at height {}, tx {}", r.agency, r.height, r.tx_id))
        }
    };
    decoded.unwrap_or_else(|e| format!("{} bytes (not decodable: {e})", v.len()))
}
