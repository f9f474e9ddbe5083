//! Case work from the command line: delivery receipts, a case's verified history, the
//! document types, member revocation and governance. Every read is a state proof checked
//! against the block header it came with.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use parity_scale_codec::{Decode, Encode};
use serde::Serialize;

use custos_api::pb::{GetAccountRequest, GetStateProofRequest, SubmitTxRequest, SubscribeRequest};
use custos_contracts::call::{
    Call, ProposeCall, ReceiptCall, RegisterMemberCall, RevokeCertificateCall, RevokeMemberCall, VoteCall,
};
use custos_contracts::documents::{AnchorRecord, CaseEvent, ReceiptRecord};
use custos_contracts::governance::{GovAction, Proposal, ProposalStatus};
use custos_contracts::runtime;
use custos_contracts::state::{self, CheckedAnswer};
use custos_contracts::workflow::{self, CaseRecord};
use custos_primitives::codec::decode_exact;
use custos_primitives::types::{AgencyId, CaseRef, CertFingerprint, DocHash, MemberRole, UnsignedTransaction};
use custos_primitives::x509::Certificate;

use crate::ledger::{AnchorReceipt, Session, VALIDITY_BLOCKS, connect, status_err};

/// Largest state value the CLI decodes.
const MAX_VALUE: usize = 1 << 20;

/// A transaction that committed successfully.
#[derive(Debug, Clone)]
pub struct Committed {
    /// Height.
    pub height: u64,
    /// Transaction id (hex).
    pub tx_id: String,
}

/// Signs `calls` as the home's `role` identity (registering it first if needed), submits
/// them one after another, and waits for each to commit. Fails on the first call that is
/// refused or commits with an error.
pub async fn submit_calls(s: &mut Session, role: MemberRole, calls: Vec<Call>) -> Result<Committed> {
    let ident = s.profile.identity(&s.home, role)?;
    let signer = ident.cert.fingerprint(&s.suite);
    let account = s
        .client
        .get_account(GetAccountRequest { signer: signer.0.0.to_vec() })
        .await
        .map_err(|e| status_err(&s.addr, e))?
        .into_inner();
    let mut nonce = account.next_nonce;
    let valid_until = account.height + VALIDITY_BLOCKS;
    let mut all = Vec::new();
    if !account.registered {
        let der = ident.cert.der().to_vec();
        all.push(Call::RegisterMember(RegisterMemberCall {
            certificate: der.try_into().map_err(|_| anyhow!("certificate too large"))?,
        }));
    }
    all.extend(calls);
    // Subscribe before submitting so that no commit is missed.
    let mut commits =
        s.client.subscribe_commits(SubscribeRequest {}).await.map_err(|e| status_err(&s.addr, e))?.into_inner();
    let mut last = Committed { height: 0, tx_id: String::new() };
    for call in all {
        let name = call.name();
        let tx = UnsignedTransaction { chain_id: s.profile.chain_id.clone(), signer, nonce, valid_until, call }
            .sign(&ident.key)?;
        let id = s
            .client
            .submit_tx(SubmitTxRequest { tx: tx.encode() })
            .await
            .map_err(|e| status_err(&s.addr, e))?
            .into_inner()
            .tx_id;
        nonce += 1;
        let started = Instant::now();
        let (height, ok, error) = loop {
            let left = Duration::from_secs(60).saturating_sub(started.elapsed());
            let next = tokio::time::timeout(left, commits.message())
                .await
                .map_err(|_| {
                    anyhow!("{name} not committed within 60 s; transaction {} may still commit", hex::encode(&id))
                })?
                .map_err(|e| status_err(&s.addr, e))?
                .ok_or_else(|| anyhow!("the node closed the commit stream"))?;
            if let Some(t) = next.txs.iter().find(|t| t.tx_id == id) {
                break (next.height, t.ok, t.error.clone());
            }
        };
        if !ok {
            bail!("{name} transaction {} committed at height {height} but failed: {error}", hex::encode(&id));
        }
        last = Committed { height, tx_id: hex::encode(&id) };
    }
    Ok(last)
}

/// Reads a state key with its proof and checks the proof against the returned header.
pub async fn read_verified(s: &mut Session, key: Vec<u8>, height: Option<u64>) -> Result<CheckedAnswer> {
    let r = s
        .client
        .get_state_proof(GetStateProofRequest { key: key.clone(), height })
        .await
        .map_err(|e| status_err(&s.addr, e))?
        .into_inner();
    state::check_answer(&s.suite, &key, height, &r.header, r.value.as_deref(), &r.proof)
        .map_err(|e| anyhow!("the node's answer does not verify: {e}"))
}

async fn read_value<T: Decode>(s: &mut Session, key: Vec<u8>, height: Option<u64>) -> Result<(Option<T>, u64)> {
    let a = read_verified(s, key, height).await?;
    let v = match &a.value {
        Some(b) => Some(decode_exact("state value", b, MAX_VALUE).map_err(|e| anyhow!("{e}"))?),
        None => None,
    };
    Ok((v, a.height))
}

/// A document hash from a hex string or from FILE's `FILE.anchor.json`.
pub fn doc_hash_arg(arg: &str) -> Result<DocHash> {
    let text = if Path::new(arg).exists() {
        let receipt = format!("{arg}.anchor.json");
        let text = std::fs::read_to_string(&receipt)
            .with_context(|| format!("{arg} is a file but {receipt} (written by `custos anchor`) is unreadable"))?;
        let r: AnchorReceipt =
            serde_json::from_str(&text).with_context(|| format!("{receipt} is not an anchor receipt"))?;
        r.doc_hash
    } else {
        arg.to_string()
    };
    let bytes = hex::decode(text.trim()).map_err(|_| anyhow!("{arg:?} is neither a file nor a hex document hash"))?;
    let arr: [u8; 32] = bytes.try_into().map_err(|_| anyhow!("a document hash has 64 hex digits"))?;
    Ok(DocHash(custos_primitives::crypto::Hash(arr)))
}

/// `custos receipt DOC`: acknowledge delivery (送达回执) on behalf of the home's agency.
pub async fn receipt(home: &Path, node: Option<&str>, doc: &str, json: bool) -> Result<()> {
    let doc_hash = doc_hash_arg(doc)?;
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let c = submit_calls(&mut s, MemberRole::Clerk, vec![Call::Receipt(ReceiptCall { doc_hash })]).await?;
    if json {
        println!("{}", serde_json::json!({ "doc_hash": doc_hash.to_string(), "tx_id": c.tx_id, "height": c.height }));
    } else {
        println!(
            "receipt of {doc_hash} by {} committed at height {} (transaction {})",
            s.profile.agency, c.height, c.tx_id
        );
    }
    Ok(())
}

/// One entry of a case's history: a document that changed the case, with its receipts.
#[derive(Serialize, Debug, Clone)]
pub struct StepView {
    /// Position in the history, from 0.
    pub n: u32,
    /// Height of the anchor.
    pub height: u64,
    /// Document type code.
    pub doc_type: String,
    /// Document hash (hex).
    pub doc_hash: String,
    /// Issuing agency.
    pub issuer: String,
    /// Transaction of the anchor (hex).
    pub tx_id: String,
    /// Case state before ("—" for the first document).
    pub from: String,
    /// Case state after.
    pub to: String,
    /// Effective date, if the document carries one.
    pub effective: Option<String>,
    /// Date the issuer received what it answers, if any.
    pub received: Option<String>,
    /// Addressees and their receipts.
    pub recipients: Vec<PartyView>,
    /// Agencies copied and their receipts.
    pub copies: Vec<PartyView>,
}

/// An addressee or copied agency of a document and its delivery receipt.
#[derive(Serialize, Debug, Clone)]
pub struct PartyView {
    /// The agency.
    pub agency: String,
    /// Height of its receipt; `None`: proven absent at the height read.
    pub receipt_height: Option<u64>,
    /// Transaction of its receipt (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_tx: Option<String>,
    /// Block time of its receipt (ms since the Unix epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt_time_ms: Option<u64>,
}

/// A case's state and history, every part read with a state proof at one height.
#[derive(Serialize, Debug, Clone)]
pub struct CaseView {
    /// The keyed case reference (hex); the case number itself is not on the ledger.
    pub case_ref: String,
    /// Height read at.
    pub height: u64,
    /// State root of that height, against which every proof was checked.
    pub state_root: String,
    /// Whether the case exists at that height (else proven absent).
    pub found: bool,
    /// The case record.
    pub case: Option<CaseRecord>,
    /// Its documents in order.
    pub history: Vec<StepView>,
}

/// Each agency of `list` with the height of its receipt of `doc`, or proven absent, at `at`.
async fn parties(s: &mut Session, doc: &DocHash, list: &[AgencyId], at: Option<u64>) -> Result<Vec<PartyView>> {
    let mut out = Vec::new();
    for a in list {
        let (r, _) = read_value::<ReceiptRecord>(s, runtime::receipt_key(doc, a), at).await?;
        out.push(PartyView {
            agency: a.to_string(),
            receipt_height: r.as_ref().map(|r| r.height),
            receipt_tx: r.as_ref().map(|r| r.tx_id.to_string()),
            receipt_time_ms: r.as_ref().map(|r| r.time_ms),
        });
    }
    Ok(out)
}

fn marks(ps: &[PartyView]) -> String {
    ps.iter()
        .map(|p| match p.receipt_height {
            Some(h) => format!("{} ✓h{h}", p.agency),
            None => format!("{} ✗", p.agency),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A document's anchor and the receipts of its addressees and copies, read at one height.
#[derive(Serialize, Debug, Clone)]
pub struct DocView {
    /// Document hash (hex).
    pub doc_hash: String,
    /// Height read at.
    pub height: u64,
    /// State root of that height.
    pub state_root: String,
    /// Whether the document is anchored at that height (else proven absent).
    pub found: bool,
    /// Document type code.
    pub doc_type: Option<String>,
    /// Issuing agency.
    pub issuer: Option<String>,
    /// Fingerprint of the signing member certificate.
    pub signer: Option<String>,
    /// Height of the anchor.
    pub anchored_at: Option<u64>,
    /// Transaction id of the anchor.
    pub tx_id: Option<String>,
    /// Case reference.
    pub case_ref: Option<String>,
    /// Case state the document moved the case to.
    pub case_state_after: Option<String>,
    /// Kind of community correction.
    pub subject_kind: Option<String>,
    /// Business dates.
    pub dates: Option<custos_contracts::call::BusinessDates>,
    /// E-seal reference.
    pub eseal_ref: Option<String>,
    /// Addressees and their receipts.
    pub recipients: Vec<PartyView>,
    /// Agencies copied and their receipts.
    pub copies: Vec<PartyView>,
}

/// A document's history — its anchor and the receipts of every agency it was addressed or
/// copied to — read with state proofs at one height (`None`: the latest).
pub async fn doc_view(s: &mut Session, doc_hash: &DocHash, height: Option<u64>) -> Result<DocView> {
    let first = read_verified(s, runtime::doc_key(doc_hash), height).await?;
    let at = Some(first.height);
    let anchor: Option<AnchorRecord> = match &first.value {
        Some(b) => Some(decode_exact("anchor", b, MAX_VALUE).map_err(|e| anyhow!("{e}"))?),
        None => None,
    };
    let (recipients, copies) = match &anchor {
        Some(a) => (parties(s, doc_hash, &a.recipients, at).await?, parties(s, doc_hash, &a.copies, at).await?),
        None => (vec![], vec![]),
    };
    Ok(DocView {
        doc_hash: doc_hash.to_string(),
        height: first.height,
        state_root: first.state_root.to_string(),
        found: anchor.is_some(),
        doc_type: anchor.as_ref().map(|a| a.doc_type.to_string()),
        issuer: anchor.as_ref().map(|a| a.issuer.to_string()),
        signer: anchor.as_ref().map(|a| a.signer.to_string()),
        anchored_at: anchor.as_ref().map(|a| a.height),
        tx_id: anchor.as_ref().map(|a| a.tx_id.to_string()),
        case_ref: anchor.as_ref().map(|a| a.case_ref.to_string()),
        case_state_after: anchor.as_ref().and_then(|a| a.case_state.map(|c| c.to_string())),
        subject_kind: anchor.as_ref().and_then(|a| a.subject_kind.map(|k| k.to_string())),
        dates: anchor.as_ref().map(|a| a.dates),
        eseal_ref: anchor.as_ref().and_then(|a| a.eseal_ref.map(|h| h.to_string())),
        recipients,
        copies,
    })
}

/// `custos doc show DOC`: [`doc_view`], printed.
pub async fn doc_show(home: &Path, node: Option<&str>, doc: &str, height: Option<u64>, json: bool) -> Result<bool> {
    let doc_hash = doc_hash_arg(doc)?;
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let view = doc_view(&mut s, &doc_hash, height).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(view.found);
    }
    println!(
        "document {} read at height {} (state root {}, proofs verified)",
        view.doc_hash, view.height, view.state_root
    );
    let (Some(doc_type), Some(issuer), Some(signer), Some(anchored_at), Some(tx_id), Some(case_ref), Some(dates)) =
        (&view.doc_type, &view.issuer, &view.signer, view.anchored_at, &view.tx_id, &view.case_ref, &view.dates)
    else {
        println!("not anchored at this height (proven absent)");
        return Ok(false);
    };
    println!("  type        {doc_type}");
    println!("  issuer      {issuer} (member {signer})");
    println!("  anchored    height {anchored_at}, transaction {tx_id}");
    println!("  case        {case_ref} → {}", view.case_state_after.as_deref().unwrap_or("(no case)"));
    if let Some(k) = &view.subject_kind {
        println!("  kind        {k}");
    }
    for (label, d) in [
        ("effective", dates.effective),
        ("received", dates.received),
        ("period from", dates.period_start),
        ("period to", dates.period_end),
    ] {
        if let Some(d) = d {
            println!("  {label:<11} {d}");
        }
    }
    if let Some(e) = &view.eseal_ref {
        println!("  e-seal      {e}");
    }
    println!("  to          {}", marks(&view.recipients));
    if !view.copies.is_empty() {
        println!("  copy        {}", marks(&view.copies));
    }
    Ok(true)
}

/// The case reference named by `case`: 64 hex digits as they are, else a case number hashed
/// with the home's consortium case key ([`case_ref_of`]).
pub fn case_ref_arg(s: &Session, case: &str) -> Result<CaseRef> {
    let t = case.trim();
    if t.len() == 64
        && let Ok(h) = custos_primitives::crypto::Hash::from_hex(t)
    {
        return Ok(CaseRef(h));
    }
    case_ref_of(s, t)
}

/// The case reference of a case number: its keyed hash with the home's consortium case key.
pub fn case_ref_of(s: &Session, case: &str) -> Result<CaseRef> {
    let path = s.home.join("case.key");
    let key = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the consortium case key {}", path.display()))?;
    Ok(CaseRef::derive(&s.suite, key.trim().as_bytes(), case))
}

/// A case's state and its documents with their receipts, each read with a state proof at one
/// height (`None`: the latest) and checked against that height's header.
pub async fn case_view(s: &mut Session, case_ref: &CaseRef, height: Option<u64>) -> Result<CaseView> {
    let first = read_verified(s, runtime::case_key(case_ref), height).await?;
    // Everything else is read at the same height as the case record.
    let at = Some(first.height);
    let record: Option<CaseRecord> = match &first.value {
        Some(b) => Some(decode_exact("case", b, MAX_VALUE).map_err(|e| anyhow!("{e}"))?),
        None => None,
    };
    let mut history = Vec::new();
    for n in 0..record.as_ref().map(|c| c.events).unwrap_or(0) {
        let (ev, _) = read_value::<CaseEvent>(s, runtime::case_event_key(case_ref, n), at).await?;
        let ev = ev.ok_or_else(|| anyhow!("history entry {n} is missing"))?;
        let (anchor, _) = read_value::<AnchorRecord>(s, runtime::doc_key(&ev.doc_hash), at).await?;
        let anchor = anchor.ok_or_else(|| anyhow!("document {} of the history is not anchored", ev.doc_hash))?;
        let rv = parties(s, &ev.doc_hash, &anchor.recipients, at).await?;
        let cv = parties(s, &ev.doc_hash, &anchor.copies, at).await?;
        history.push(StepView {
            n,
            height: ev.height,
            doc_type: ev.doc_type.to_string(),
            doc_hash: ev.doc_hash.to_string(),
            issuer: ev.issuer.to_string(),
            tx_id: anchor.tx_id.to_string(),
            from: ev.from.map(|p| p.to_string()).unwrap_or_else(|| "—".into()),
            to: ev.to.to_string(),
            effective: anchor.dates.effective.map(|d| d.to_string()),
            received: anchor.dates.received.map(|d| d.to_string()),
            recipients: rv,
            copies: cv,
        });
    }
    Ok(CaseView {
        case_ref: case_ref.to_string(),
        height: first.height,
        state_root: first.state_root.to_string(),
        found: record.is_some(),
        case: record,
        history,
    })
}

/// `custos case show --case N`: [`case_view`], printed.
pub async fn show(home: &Path, node: Option<&str>, case: &str, height: Option<u64>, json: bool) -> Result<bool> {
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let case_ref = case_ref_of(&s, case)?;
    let view = case_view(&mut s, &case_ref, height).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(view.found);
    }
    println!("case {case} → {} (keyed hash; the number itself is not on the ledger)", view.case_ref);
    println!("read at height {} and verified against its state root {}", view.height, view.state_root);
    let Some(c) = &view.case else {
        println!("no such case at this height (proven absent)");
        return Ok(false);
    };
    println!(
        "kind {}   state {}   CCA {}   deciding body {}",
        c.kind.map(|k| k.to_string()).unwrap_or_else(|| "—".into()),
        c.state,
        c.cca.as_ref().map(|a| a.to_string()).unwrap_or_else(|| "—".into()),
        c.deciding_body.as_ref().map(|a| a.to_string()).unwrap_or_else(|| "—".into()),
    );
    if let (Some(d), Some(e)) = (c.decision_effective, c.correction_end) {
        println!("decision effective {d}   correction ends {e}");
    }
    println!();
    for st in &view.history {
        println!("{:>2}. h{:<5} {:<17} by {:<13} {} → {}", st.n + 1, st.height, st.doc_type, st.issuer, st.from, st.to);
        let mut dates = Vec::new();
        if let Some(e) = &st.effective {
            dates.push(format!("effective {e}"));
        }
        if let Some(r) = &st.received {
            dates.push(format!("received {r}"));
        }
        if !dates.is_empty() {
            println!("      {}", dates.join(", "));
        }
        if !st.recipients.is_empty() {
            println!("      to   {}", marks(&st.recipients));
        }
        if !st.copies.is_empty() {
            println!("      copy {}", marks(&st.copies));
        }
    }
    println!("\n✓ = delivery receipt (proven present), ✗ = no receipt (proven absent) at height {}", view.height);
    Ok(true)
}

/// `custos console sign-in --url URL`: a sign-in link for the web console at `url`, signed by
/// the home's `role` member key and valid for `ttl` (at most five minutes). The member is
/// registered on the ledger first if it is not yet, since the console checks the token against
/// the member's record.
pub async fn console_sign_in(
    home: &Path,
    node: Option<&str>,
    url: &str,
    role: MemberRole,
    ttl: Duration,
) -> Result<String> {
    use crate::sign_in::{MAX_TTL_MS, SignInClaims, SignInToken};
    let url = url.trim().trim_end_matches('/');
    if !url.starts_with("https://") {
        bail!("--url must be the console's https:// address (it is the token's audience), got {url:?}");
    }
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    if ttl_ms == 0 || ttl_ms > MAX_TTL_MS {
        bail!("--ttl must be between 1 s and {} s", MAX_TTL_MS / 1000);
    }
    let mut s = connect(home, node, role).await?;
    let ident = s.profile.identity(&s.home, role)?;
    let member = ident.cert.fingerprint(&s.suite);
    let account = s
        .client
        .get_account(GetAccountRequest { signer: member.0.0.to_vec() })
        .await
        .map_err(|e| status_err(&s.addr, e))?
        .into_inner();
    if !account.registered {
        submit_calls(&mut s, role, vec![]).await.context("registering the member before sign-in")?;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?;
    let issued_ms = u64::try_from(now.as_millis()).unwrap_or(u64::MAX);
    let mut nonce = [0u8; 16];
    rand::fill(&mut nonce);
    let claims = SignInClaims {
        chain_id: s.profile.chain_id.clone(),
        audience: url.to_string(),
        member,
        issued_ms,
        expires_ms: issued_ms.saturating_add(ttl_ms),
        nonce,
    };
    let token = SignInToken::sign(claims, &ident.key)?;
    Ok(format!("{url}/sign-in?token={}", token.to_text()))
}

/// `custos doc-types`.
pub fn doc_types() {
    println!("Document type codes the case workflow accepts (see docs/cli.md for who may anchor each, when):");
    for code in workflow::DOC_TYPES {
        println!("  {code}");
    }
}

/// `custos member revoke FINGERPRINT`: as the home's admin.
pub async fn revoke(home: &Path, node: Option<&str>, member: &str) -> Result<()> {
    let bytes = hex::decode(member.trim()).map_err(|_| anyhow!("a member fingerprint is 64 hex digits"))?;
    let arr: [u8; 32] = bytes.try_into().map_err(|_| anyhow!("a member fingerprint is 64 hex digits"))?;
    let member = CertFingerprint(custos_primitives::crypto::Hash(arr));
    let mut s = connect(home, node, MemberRole::Admin).await?;
    let c = submit_calls(&mut s, MemberRole::Admin, vec![Call::RevokeMember(RevokeMemberCall { member })]).await?;
    println!("member {member} revoked at height {} (transaction {})", c.height, c.tx_id);
    Ok(())
}

/// `custos member revoke-cert FILE`: as the home's admin.
pub async fn revoke_certificate(home: &Path, node: Option<&str>, cert: &Certificate) -> Result<()> {
    let mut s = connect(home, node, MemberRole::Admin).await?;
    let fingerprint = cert.fingerprint(&s.suite);
    let certificate = cert.der().to_vec().try_into().map_err(|_| anyhow!("the certificate is too large"))?;
    let c =
        submit_calls(&mut s, MemberRole::Admin, vec![Call::RevokeCertificate(RevokeCertificateCall { certificate })])
            .await?;
    println!("certificate {fingerprint} revoked at height {} (transaction {})", c.height, c.tx_id);
    Ok(())
}

/// `custos gov propose`: as the home's admin; prints the proposal id.
pub async fn propose(home: &Path, node: Option<&str>, action: GovAction) -> Result<()> {
    let mut s = connect(home, node, MemberRole::Admin).await?;
    let (next, _) = read_value::<u64>(&mut s, custos_contracts::governance::NEXT_PROPOSAL_KEY.to_vec(), None).await?;
    let name = action.name();
    let c = submit_calls(&mut s, MemberRole::Admin, vec![Call::Propose(ProposeCall { action })]).await?;
    // The id is the counter before the commit, unless another proposal got in first.
    let mut id = next.unwrap_or(0);
    while let (Some(p), _) =
        read_value::<Proposal>(&mut s, custos_contracts::governance::proposal_key(id), None).await?
    {
        if p.opened_at == c.height && p.action.name() == name && p.proposer == s.profile.agency {
            println!("proposal {id} ({name}) opened at height {}; status {:?}", c.height, p.status);
            return Ok(());
        }
        id += 1;
    }
    println!("{name} proposed at height {} (transaction {})", c.height, c.tx_id);
    Ok(())
}

/// `custos gov vote ID --approve|--reject`: as the home's admin.
pub async fn vote(home: &Path, node: Option<&str>, proposal: u64, approve: bool) -> Result<()> {
    let mut s = connect(home, node, MemberRole::Admin).await?;
    let c = submit_calls(&mut s, MemberRole::Admin, vec![Call::Vote(VoteCall { proposal, approve })]).await?;
    let (p, _) = read_value::<Proposal>(&mut s, custos_contracts::governance::proposal_key(proposal), None).await?;
    let status = p.map(|p| p.status);
    println!(
        "voted to {} proposal {proposal} (committed at height {}); proposal status: {}",
        if approve { "approve" } else { "reject" },
        c.height,
        match status {
            Some(ProposalStatus::Open) => "open".to_string(),
            Some(ProposalStatus::Approved(h)) => format!("approved and carried out at height {h}"),
            Some(ProposalStatus::Rejected(h)) => format!("rejected at height {h}"),
            None => "unknown".to_string(),
        }
    );
    Ok(())
}

/// `custos gov show ID`.
pub async fn show_proposal(home: &Path, node: Option<&str>, proposal: u64) -> Result<bool> {
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let (p, h) = read_value::<Proposal>(&mut s, custos_contracts::governance::proposal_key(proposal), None).await?;
    let Some(p) = p else {
        println!("no proposal {proposal} at height {h} (proven absent)");
        return Ok(false);
    };
    println!(
        "proposal {} ({}) by {}, opened at height {}, votes until {}",
        p.id,
        p.action.name(),
        p.proposer,
        p.opened_at,
        p.expires_at
    );
    println!("  approvals  {}", p.approvals.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "));
    println!("  rejections {}", p.rejections.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", "));
    println!("  status     {:?} (read at height {h}, verified)", p.status);
    Ok(true)
}

/// `custos gov params`.
pub async fn params(home: &Path, node: Option<&str>) -> Result<()> {
    use custos_contracts::governance::{CHAIN_PARAMS_KEY, ChainParams, DEADLINES_KEY, DeadlineParams};
    let mut s = connect(home, node, MemberRole::Clerk).await?;
    let (chain, h) = read_value::<ChainParams>(&mut s, CHAIN_PARAMS_KEY.to_vec(), None).await?;
    let (deadlines, _) = read_value::<DeadlineParams>(&mut s, DEADLINES_KEY.to_vec(), Some(h)).await?;
    let chain = chain.ok_or_else(|| anyhow!("no chain parameters at height {h}"))?;
    let deadlines = deadlines.ok_or_else(|| anyhow!("no deadline table at height {h}"))?;
    println!("# parameters in force at height {h} (read with state proofs).");
    println!("# To change them, copy ONE section into its own file, edit it, and propose it.");
    println!("\n# chain parameters: gov propose set-chain-params --file FILE");
    print!("{}", toml::to_string(&chain)?);
    println!("\n# deadline table (domain.md §4): gov propose set-deadlines --file FILE");
    print!("{}", toml::to_string(&deadlines)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use custos_contracts::calendar::{Period, Unit};
    use custos_contracts::governance::DeadlineParams;

    /// `gov params` prints the deadline table as TOML that `gov propose set-deadlines --file`
    /// reads back unchanged, periods included.
    #[test]
    fn the_deadline_table_round_trips_through_toml() {
        let table = DeadlineParams { receipt_back: Period::working_days(3), ..DeadlineParams::default() };
        let text = toml::to_string(&table).unwrap();
        assert!(text.contains("[receipt_back]") || text.contains("receipt_back ="), "{text}");
        let back: DeadlineParams = toml::from_str(&text).unwrap();
        assert_eq!(back, table);
        assert_eq!(back.receipt_back.unit, Unit::WorkingDays);
    }
}
