//! `custos dossier send | fetch | grant | revoke-grant | list`: encrypted e-dossiers between agencies (docs/cli.md).
//!
//! `send` encrypts a file for its recipient agencies (and the issuer itself), uploads the
//! chunks and the signed manifest to the home's node, and anchors the document id. `fetch`
//! asks the home's node to pull a document from the issuer's node, checks its manifest against
//! the ledger, downloads and decrypts it chunk by chunk and posts the agency's receipt.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use indicatif::{ProgressBar, ProgressStyle};
use parity_scale_codec::Encode;
use serde::Serialize;
use tonic::transport::Channel;

use custos_api::pb::dossier_client::DossierClient;
use custos_api::pb::{
    GetChunkRequest, GetManifestRequest, ListRequest, PullRequest, PutChunkRequest, PutManifestRequest,
};
use custos_contracts::call::{AnchorCall, Call, DocType, GrantAccessCall, ReceiptCall, RevokeAccessCall};
use custos_contracts::documents::{AnchorRecord, GrantRecord, ReceiptRecord, grant_key};
use custos_contracts::registry::{AgencyRecord, MemberRecord, agency_key};
use custos_contracts::runtime;
use custos_dossier::{ChunkStore, Decryptor, DocTypeCode, EncryptParams, MediaType, SignedManifest, encrypt_file};
use custos_primitives::codec::decode_exact;
use custos_primitives::crypto::EncryptionPublicKey;
use custos_primitives::types::{AgencyId, CaseRef, DocHash, MemberRole};

use crate::cases::{doc_hash_arg, read_verified, submit_calls};
use crate::ledger::{AnchorReceipt, AnchorSpec, Session, connect, parse_agencies, receipt_path, status_err};

/// Largest state record decoded here.
const MAX_VALUE: usize = 1 << 20;

/// A progress bar on a terminal, hidden otherwise.
fn bar(total: u64, what: &str) -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{msg:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    ProgressBar::new(total).with_style(style).with_message(what.to_string())
}

fn chunk_bar(total: u64, what: &str) -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} chunks eta {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    ProgressBar::new(total).with_style(style).with_message(what.to_string())
}

/// A scratch chunk store in the home, removed when dropped.
struct Scratch {
    dir: PathBuf,
    store: ChunkStore,
}

impl Scratch {
    fn new(home: &Path, kind: &str, s: &Session) -> Result<Self> {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let dir = home.join(kind).join(format!("{}-{nanos}", std::process::id()));
        let store = ChunkStore::open(&dir, s.suite.clone())
            .with_context(|| format!("cannot create the scratch store {}", dir.display()))?;
        Ok(Scratch { dir, store })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn dossier_client(s: &Session) -> DossierClient<Channel> {
    custos_api::client::dossier_client(s.channel.clone())
}

async fn read_record<T: parity_scale_codec::Decode>(s: &mut Session, key: Vec<u8>) -> Result<Option<T>> {
    let a = read_verified(s, key, None).await?;
    match &a.value {
        Some(b) => Ok(Some(decode_exact("state value", b, MAX_VALUE).map_err(|e| anyhow!("{e}"))?)),
        None => Ok(None),
    }
}

async fn encryption_key(s: &mut Session, agency: &AgencyId) -> Result<EncryptionPublicKey> {
    let rec: AgencyRecord = read_record(s, agency_key(agency))
        .await?
        .ok_or_else(|| anyhow!("agency {agency} is not in the ledger's registry"))?;
    if !rec.active {
        bail!("agency {agency} has been removed from the consortium");
    }
    rec.encryption_key.ok_or_else(|| {
        anyhow!("agency {agency} has no encryption key on the ledger: its admin must set one before it can receive e-dossiers")
    })
}

fn media_type_of(file: &Path) -> &'static str {
    custos_dossier::media_type_of_name(&file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
}

/// An e-dossier sent and anchored.
#[derive(Serialize, Debug, Clone)]
pub struct SendView {
    /// Document id (the anchored hash, hex).
    pub doc_id: String,
    /// Anchor transaction id (hex).
    pub tx_id: String,
    /// Height it committed at.
    pub height: u64,
    /// Encrypted chunks.
    pub chunks: u32,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Agencies that can decrypt it.
    pub recipients: Vec<String>,
}

/// `custos dossier send FILE …`.
pub async fn send(home: &Path, node: Option<&str>, file: &Path, spec: &AnchorSpec, json: bool) -> Result<()> {
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let (view, receipt) = send_file(&mut s, MemberRole::Clerk, file, spec).await?;
    let rpath = receipt_path(file);
    std::fs::write(&rpath, serde_json::to_string_pretty(&receipt)?)
        .with_context(|| format!("cannot write {}", rpath.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        println!("sent {} ({}, {} bytes in {} chunks)", file.display(), receipt.doc_type, view.size, view.chunks);
        println!("  document id    {}", view.doc_id);
        println!("  readable by    {}", view.recipients.join(", "));
        println!("  anchored at    height {} (transaction {})", view.height, view.tx_id);
        println!("  salt saved in  {}", rpath.display());
    }
    Ok(())
}

/// Encrypts `file` to its recipients, copies and the issuer, uploads it to the session's node,
/// signs its manifest and anchors it as the home's `signer` member (clerk or adapter); returns
/// what was sent and the anchor receipt (with the salt) for the caller to keep.
pub async fn send_file(
    s: &mut Session,
    signer: MemberRole,
    file: &Path,
    spec: &AnchorSpec,
) -> Result<(SendView, AnchorReceipt)> {
    let home = s.home.clone();
    let doc_type = DocType::new(&spec.doc_type).map_err(|e| anyhow!(e))?;
    let doc_type_code = DocTypeCode::new(&spec.doc_type)?;
    let recipients = parse_agencies(&spec.to)?;
    let copies = parse_agencies(&spec.copy)?;
    if recipients.is_empty() {
        bail!("--to names no agency: an e-dossier needs at least one recipient");
    }
    let case_key_path = home.join("case.key");
    let case_key = std::fs::read_to_string(&case_key_path)
        .with_context(|| format!("cannot read the consortium case key {}", case_key_path.display()))?;
    let case_ref = CaseRef::derive(&s.suite, case_key.trim().as_bytes(), &spec.case);

    // The content key is wrapped to every recipient and copy, and to the issuer itself.
    let me = s.profile.agency.clone();
    let mut readers: Vec<AgencyId> = recipients.iter().chain(copies.iter()).cloned().collect();
    readers.push(me.clone());
    readers.sort();
    readers.dedup();
    let mut keys = Vec::new();
    for a in &readers {
        keys.push((a.clone(), encryption_key(s, a).await?));
    }

    // The signer must be registered for the node to accept the manifest it signs.
    submit_calls(s, signer, Vec::new()).await?;
    let clerk = s.profile.identity(&home, signer)?;
    let params = EncryptParams::new(
        MediaType::new(media_type_of(file))?,
        doc_type_code,
        case_ref,
        me.clone(),
        clerk.cert.fingerprint(&s.suite),
        keys,
    )?;
    let scratch = Scratch::new(&home, ".dossier-out", s)?;
    let pb = bar(std::fs::metadata(file).map(|m| m.len()).unwrap_or(0), "encrypt");
    let enc = tokio::task::block_in_place(|| {
        encrypt_file(&scratch.store, &params, file, &mut |done, total| {
            pb.set_length(total);
            pb.set_position(done);
        })
    })
    .with_context(|| format!("cannot encrypt {}", file.display()))?;
    pb.finish_and_clear();
    let signed = enc.manifest.sign(&clerk.key)?;
    let doc_id = signed.doc_id();

    // Upload one chunk at a time: memory stays bounded by the chunk size.
    let mut dc = dossier_client(s);
    let pb = chunk_bar(u64::from(signed.manifest.chunk_count()), "upload");
    for (i, hash) in signed.manifest.chunks.iter().enumerate() {
        let data = scratch.store.get(hash)?;
        let got = dc.put_chunk(PutChunkRequest { data }).await.map_err(|e| status_err(&s.addr, e))?.into_inner().hash;
        if got != hash.0.to_vec() {
            bail!("the node stored chunk {i} under {}, expected {hash}", hex::encode(&got));
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    dc.put_manifest(PutManifestRequest { signed_manifest: signed.encode() })
        .await
        .map_err(|e| status_err(&s.addr, e))?;

    let anchor = Call::Anchor(AnchorCall {
        doc_hash: doc_id,
        doc_type: doc_type.clone(),
        case_ref,
        recipients: recipients.clone().try_into().map_err(|_| anyhow!("at most 16 recipients"))?,
        copies: copies.clone().try_into().map_err(|_| anyhow!("at most 16 copies"))?,
        dates: spec.dates,
        subject_kind: spec.kind,
        eseal_ref: spec.eseal,
    });
    let committed = submit_calls(s, signer, vec![anchor]).await?;
    let receipt = AnchorReceipt {
        doc_hash: doc_id.to_string(),
        salt: hex::encode(signed.manifest.salt.0),
        tx_id: committed.tx_id.clone(),
        height: committed.height,
        chain_id: s.profile.chain_id.to_string(),
        doc_type: doc_type.to_string(),
        issuer: me.to_string(),
    };
    let view = SendView {
        doc_id: doc_id.to_string(),
        tx_id: committed.tx_id,
        height: committed.height,
        chunks: signed.manifest.chunk_count(),
        size: signed.manifest.size,
        recipients: readers.iter().map(ToString::to_string).collect(),
    };
    Ok((view, receipt))
}

#[derive(Serialize)]
struct FetchView {
    doc_id: String,
    out: PathBuf,
    size: u64,
    issuer: String,
    doc_type: String,
    receipt_height: Option<u64>,
    receipt_tx: Option<String>,
}

/// `custos dossier fetch DOC -o OUT`.
pub async fn fetch(home: &Path, node: Option<&str>, doc: &str, out: &Path, json: bool) -> Result<()> {
    let doc_id: DocHash = doc_hash_arg(doc)?;
    if out.exists() {
        bail!("{} exists: choose another output path (fetch never overwrites)", out.display());
    }
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let mut dc = dossier_client(&s);

    // 1. The node pulls what it is missing from the issuer's node.
    let mut stream =
        dc.pull(PullRequest { doc_id: doc_id.0.0.to_vec() }).await.map_err(|e| status_err(&s.addr, e))?.into_inner();
    let pb = chunk_bar(0, "pull");
    while let Some(p) = stream.message().await.map_err(|e| status_err(&s.addr, e))? {
        pb.set_length(u64::from(p.total_chunks));
        pb.set_position(u64::from(p.done_chunks));
    }
    pb.finish_and_clear();

    // 2. The manifest, checked against the ledger: anchored, issued and signed by the issuer.
    let bytes = dc
        .get_manifest(GetManifestRequest { doc_id: doc_id.0.0.to_vec() })
        .await
        .map_err(|e| status_err(&s.addr, e))?
        .into_inner()
        .signed_manifest;
    let (signed, anchor) = check_manifest(&mut s, &doc_id, &bytes).await?;
    let m = &signed.manifest;

    // 3. The chunks, downloaded in order and each checked against the manifest as it arrives,
    //    decrypted with the agency's key and appended to a temporary file next to OUT: one
    //    chunk in memory and no ciphertext copy on this side. OUT appears (fsynced, renamed)
    //    only once the whole document hashes to its id; on any failure the temporary file goes.
    let agency = s.profile.agency.clone();
    let key = s.profile.decryption_key(home)?;
    let content_key = m.unwrap_content_key(&s.suite, &agency, &key)?;
    let mut dec = Decryptor::new(&s.suite, m, &content_key, out)
        .with_context(|| format!("cannot write the output next to {}", out.display()))?;
    let pb = bar(m.size, "download");
    for index in 0..m.chunk_count() {
        let data = dc
            .get_chunk(GetChunkRequest { doc_id: doc_id.0.0.to_vec(), index })
            .await
            .map_err(|e| status_err(&s.addr, e))?
            .into_inner()
            .data;
        tokio::task::block_in_place(|| dec.push(&data))
            .with_context(|| format!("chunk {index} of document {doc_id} failed verification"))?;
        pb.set_position(dec.stats().bytes);
    }
    tokio::task::block_in_place(|| dec.finish()).with_context(|| format!("cannot decrypt document {doc_id}"))?;
    pb.finish_and_clear();

    // 5. The receipt, unless this agency issued the document or already acknowledged it.
    let mut receipt = None;
    if agency != anchor.issuer {
        let existing: Option<ReceiptRecord> = read_record(&mut s, runtime::receipt_key(&doc_id, &agency)).await?;
        if existing.is_none() {
            let c = submit_calls(&mut s, MemberRole::Clerk, vec![Call::Receipt(ReceiptCall { doc_hash: doc_id })])
                .await
                .with_context(|| format!("{} was written, but the receipt failed", out.display()))?;
            receipt = Some((c.height, c.tx_id));
        }
    }
    let view = FetchView {
        doc_id: doc_id.to_string(),
        out: out.to_path_buf(),
        size: m.size,
        issuer: m.issuer.to_string(),
        doc_type: m.doc_type.as_str().to_string(),
        receipt_height: receipt.as_ref().map(|r| r.0),
        receipt_tx: receipt.map(|r| r.1),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        println!("fetched {} ({}, {} bytes from {})", view.out.display(), view.doc_type, view.size, view.issuer);
        match (&view.receipt_height, &view.receipt_tx) {
            (Some(h), Some(tx)) => println!("  receipt by {agency} committed at height {h} (transaction {tx})"),
            _ => println!("  no receipt posted (already acknowledged, or {agency} issued it)"),
        }
    }
    Ok(())
}

/// Decodes a manifest from a node and checks it against the ledger: the document is
/// anchored, the manifest names the anchoring agency as issuer, and its signer is a member of
/// that agency whose key verifies the signature.
async fn check_manifest(s: &mut Session, doc_id: &DocHash, bytes: &[u8]) -> Result<(SignedManifest, AnchorRecord)> {
    let signed = SignedManifest::decode_untrusted(bytes).context("the node's manifest is invalid")?;
    if signed.doc_id() != *doc_id {
        bail!("the node returned the manifest of {}, not of {doc_id}", signed.doc_id());
    }
    let anchor: AnchorRecord = read_record(s, runtime::doc_key(doc_id))
        .await?
        .ok_or_else(|| anyhow!("document {doc_id} is not anchored on the ledger"))?;
    let m = &signed.manifest;
    if anchor.issuer != m.issuer {
        bail!("the manifest names {} as issuer, the ledger {}", m.issuer, anchor.issuer);
    }
    let member: MemberRecord = read_record(s, runtime::member_key(&m.clerk))
        .await?
        .ok_or_else(|| anyhow!("the manifest's signer {} is not a registered member", m.clerk))?;
    if member.agency != m.issuer {
        bail!("the manifest's signer {} is a member of {}, not of the issuer {}", m.clerk, member.agency, m.issuer);
    }
    signed.verify(&s.suite, &member.public_key).context("the manifest's signature does not verify")?;
    Ok((signed, anchor))
}

#[derive(Serialize)]
struct GrantView {
    doc_id: String,
    agency: String,
    granted: bool,
    manifest_extended: bool,
    tx_id: String,
    height: u64,
}

/// The anchor of `doc_id`, which must have been issued by the home's agency, and the state of
/// `agency`'s access: `Err` naming why if it can already read the document.
async fn own_anchor(s: &mut Session, doc_id: &DocHash, what: &str) -> Result<AnchorRecord> {
    let anchor: AnchorRecord = read_record(s, runtime::doc_key(doc_id))
        .await?
        .ok_or_else(|| anyhow!("document {doc_id} is not anchored on the ledger"))?;
    if anchor.issuer != s.profile.agency {
        bail!("document {doc_id} was issued by {}: only its issuing agency can {what}", anchor.issuer);
    }
    Ok(anchor)
}

async fn active_grant(s: &mut Session, doc_id: &DocHash, agency: &AgencyId) -> Result<bool> {
    let g: Option<GrantRecord> = read_record(s, grant_key(doc_id, agency)).await?;
    Ok(g.is_some_and(|g| g.revoked_at.is_none()))
}

/// `custos dossier grant DOC --agency A`.
pub async fn grant(home: &Path, node: Option<&str>, doc: &str, agency: &str, json: bool) -> Result<()> {
    let doc_id: DocHash = doc_hash_arg(doc)?;
    let agency = AgencyId::new(agency).map_err(|e| anyhow!("invalid agency {agency:?}: {e}"))?;
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let me = s.profile.agency.clone();
    let anchor = own_anchor(&mut s, &doc_id, "grant access to it").await?;
    if agency == me {
        bail!("{agency} issued document {doc_id}: it can already read it");
    }
    if anchor.recipients.contains(&agency) {
        bail!("{agency} is a recipient of document {doc_id}: it can already read it");
    }
    if anchor.copies.contains(&agency) {
        bail!("{agency} receives a copy of document {doc_id}: it can already read it");
    }
    if active_grant(&mut s, &doc_id, &agency).await? {
        bail!("{agency} already holds an active grant to document {doc_id}");
    }
    // Active, with an encryption key: otherwise the content key cannot be wrapped to it.
    let to = encryption_key(&mut s, &agency).await?;

    // The clerk must be registered for the node to accept the manifest it signs.
    submit_calls(&mut s, MemberRole::Clerk, Vec::new()).await?;
    let mut dc = dossier_client(&s);
    let bytes = dc
        .get_manifest(GetManifestRequest { doc_id: doc_id.0.0.to_vec() })
        .await
        .map_err(|e| status_err(&s.addr, e))?
        .into_inner()
        .signed_manifest;
    let (signed, _) = check_manifest(&mut s, &doc_id, &bytes).await?;
    // An agency granted before (and revoked since) already has its wrapped key.
    let extend = signed.manifest.recipient(&agency).is_none();
    if extend {
        let own = s.profile.decryption_key(home)?;
        let content_key = signed
            .manifest
            .unwrap_content_key(&s.suite, &me, &own)
            .with_context(|| format!("cannot unwrap the content key with {me}'s decryption key"))?;
        let clerk = s.profile.identity(home, MemberRole::Clerk)?;
        let mut m = signed.manifest.clone();
        m.add_recipient(&s.suite, agency.clone(), &to, &content_key)?;
        m.clerk = clerk.cert.fingerprint(&s.suite);
        let extended = m.sign(&clerk.key)?;
        extended.manifest.extends(&signed.manifest)?;
        dc.put_manifest(PutManifestRequest { signed_manifest: extended.encode() })
            .await
            .map_err(|e| status_err(&s.addr, e))?;
    }
    let call = Call::GrantAccess(GrantAccessCall { doc_hash: doc_id, agency: agency.clone() });
    let committed = submit_calls(&mut s, MemberRole::Clerk, vec![call])
        .await
        .with_context(|| format!("the grant of {doc_id} to {agency} was not committed"))?;
    let view = GrantView {
        doc_id: doc_id.to_string(),
        agency: agency.to_string(),
        granted: true,
        manifest_extended: extend,
        tx_id: committed.tx_id,
        height: committed.height,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        println!("granted {agency} access to document {doc_id}");
        if extend {
            println!("  content key    wrapped to {agency}'s encryption key (manifest extended on this node)");
        } else {
            println!("  content key    already wrapped to {agency} by an earlier grant");
        }
        println!("  committed at   height {} (transaction {})", view.height, view.tx_id);
        println!("  {agency} can now run `custos dossier fetch {doc_id} -o FILE`");
    }
    Ok(())
}

/// `custos dossier revoke-grant DOC --agency A`.
pub async fn revoke_grant(home: &Path, node: Option<&str>, doc: &str, agency: &str, json: bool) -> Result<()> {
    let doc_id: DocHash = doc_hash_arg(doc)?;
    let agency = AgencyId::new(agency).map_err(|e| anyhow!("invalid agency {agency:?}: {e}"))?;
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    own_anchor(&mut s, &doc_id, "revoke a grant to it").await?;
    if !active_grant(&mut s, &doc_id, &agency).await? {
        bail!("{agency} holds no active grant to document {doc_id}");
    }
    let call = Call::RevokeAccess(RevokeAccessCall { doc_hash: doc_id, agency: agency.clone() });
    let committed = submit_calls(&mut s, MemberRole::Clerk, vec![call])
        .await
        .with_context(|| format!("the revocation of {agency}'s grant to {doc_id} was not committed"))?;
    let view = GrantView {
        doc_id: doc_id.to_string(),
        agency: agency.to_string(),
        granted: false,
        manifest_extended: false,
        tx_id: committed.tx_id,
        height: committed.height,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        println!("revoked {agency}'s grant to document {doc_id}");
        println!("  committed at   height {} (transaction {})", view.height, view.tx_id);
        println!("  this agency's node no longer serves the document to {agency}; a copy it already");
        println!("  fetched stays readable to it");
    }
    Ok(())
}

#[derive(Serialize)]
struct ListView {
    doc_id: String,
    doc_type: String,
    issuer: String,
    chunks: u32,
    present: u32,
    size: u64,
}

/// `custos dossier list`.
pub async fn list(home: &Path, node: Option<&str>, json: bool) -> Result<()> {
    let s = connect(home, node, MemberRole::Clerk).await?;
    let mut dc = dossier_client(&s);
    let docs = dc.list(ListRequest {}).await.map_err(|e| status_err(&s.addr, e))?.into_inner().documents;
    let views: Vec<ListView> = docs
        .into_iter()
        .map(|d| ListView {
            doc_id: hex::encode(&d.doc_id),
            doc_type: d.doc_type,
            issuer: d.issuer,
            chunks: d.chunks,
            present: d.present,
            size: d.size,
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&views)?);
    } else if views.is_empty() {
        println!("no e-dossiers in the node's store");
    } else {
        for v in &views {
            let state = if v.present == v.chunks { "complete" } else { "partial" };
            println!(
                "{}  {:<16} from {:<16} {:>4}/{:<4} chunks  {:>12} bytes  {state}",
                v.doc_id, v.doc_type, v.issuer, v.present, v.chunks, v.size
            );
        }
    }
    Ok(())
}
