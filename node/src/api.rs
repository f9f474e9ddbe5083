//! The gRPC API (`node/api/proto/custos.proto`), served over mutual TLS: every caller is an
//! authenticated member of a genesis agency (see `custos_api::tls`). State proofs of a case's
//! or a document's keys and evidence exports are for the parties to the case, the procuratorate
//! and auditors ([`crate::visibility`]).

use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio_stream::Stream;
use tokio_stream::wrappers::BroadcastStream;
use tonic::{Request, Response, Status};
use tracing::debug;

use custos_api::pb::ledger_server::Ledger;
use custos_api::pb::{
    CommitEvent as PbCommitEvent, ExportEvidenceRequest, ExportEvidenceResponse, ForwardTxsRequest, ForwardTxsResponse,
    GetAccountRequest, GetAccountResponse, GetAnchorRequest, GetAnchorResponse, GetBlockRequest, GetBlockResponse,
    GetStateProofRequest, GetStateProofResponse, GetTxRequest, GetTxResponse, Misbehaviour as PbMisbehaviour,
    StatusRequest, StatusResponse, SubmitTxRequest, SubmitTxResponse, SubscribeRequest, SuperviseRequest,
    SuperviseResponse, TxResult, Validator as PbValidator,
};
use custos_consensus::block::Block;
use custos_contracts::evidence::{self, EvidenceError};
use custos_contracts::runtime::{CheckedTx, Runtime, TxError};
use custos_contracts::state;
use custos_primitives::genesis::ValidatedGenesis;
use custos_primitives::types::{AgencyId, CaseRef, CertFingerprint, DocHash, MemberRole, NodeId, TxId};
use parity_scale_codec::Encode;

use crate::app::{Shared, StoreState};
use crate::checks::{CheckPool, CheckPoolError};
use crate::dossier::{AuditLog, caller};
use crate::evidence::StoreSource;
use crate::gossip::Gossip;
use crate::grpc::Caller;
use crate::mempool::MempoolError;
use crate::supervise::{self, Access, Query};
use crate::visibility::{self, Privilege, Reader, Refusal, Verdict};

/// The ledger service.
#[derive(Debug, Clone)]
pub struct LedgerService {
    shared: Arc<Shared>,
    node_id: NodeId,
    genesis: Arc<ValidatedGenesis>,
    audit: Arc<AuditLog>,
    gossip: Option<Gossip>,
    /// Signature checks of admission, on low-priority threads (one per core), so a flood of
    /// submissions cannot starve the consensus loop of CPU.
    checks: CheckPool,
}

impl LedgerService {
    /// A service over the node's shared state; supervision queries and reads of case and
    /// document state by non-parties are appended to `audit`;
    /// transactions clients submit are forwarded to the other nodes through `gossip`.
    pub fn new(
        shared: Arc<Shared>,
        node_id: NodeId,
        genesis: Arc<ValidatedGenesis>,
        audit: Arc<AuditLog>,
        gossip: Option<Gossip>,
    ) -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        LedgerService { shared, node_id, genesis, audit, gossip, checks: CheckPool::start(cores) }
    }

    /// The cheap refusals, before any signature is checked: too large, already pending, pool
    /// full. Returns the transaction id.
    fn precheck(&self, bytes: &[u8]) -> Result<TxId, Status> {
        if bytes.len() > custos_primitives::types::MAX_TX_BYTES {
            return Err(refused(
                tonic::Code::InvalidArgument,
                "too_large",
                format!("transaction of {} bytes exceeds {}", bytes.len(), custos_primitives::types::MAX_TX_BYTES),
            ));
        }
        let id = custos_contracts::runtime::tx_id(self.shared.runtime.suite(), bytes);
        let pool = self.shared.mempool.lock().map_err(|_| Status::internal("mempool lock poisoned"))?;
        if pool.contains(&id) {
            return Err(refused(
                tonic::Code::AlreadyExists,
                "duplicate",
                format!("transaction {id} is already pending"),
            ));
        }
        if !pool.has_room(bytes.len()) {
            self.shared.metrics.busy();
            return Err(refused(
                tonic::Code::ResourceExhausted,
                "busy",
                format!("node busy: {} transactions pending; retry later", pool.len()),
            ));
        }
        Ok(id)
    }

    /// Envelope and signature checks of `txs` (each after its precheck), on one low-priority
    /// check thread, so that a gossiped batch is checked in one go instead of queueing per
    /// transaction behind clients' submissions.
    async fn check(&self, txs: Vec<(TxId, Vec<u8>)>) -> Result<Vec<Result<(CheckedTx, Vec<u8>), TxError>>, Status> {
        let shared = self.shared.clone();
        self.checks
            .run(move || {
                let height = shared.store.last_committed_height().ok().flatten().unwrap_or(0) + 1;
                let now = now_s();
                txs.into_iter()
                    .map(|(id, bytes)| {
                        let known = shared.sig_cache.lock().map(|c| c.contains(&id)).unwrap_or(false);
                        let checked =
                            shared.runtime.check_tx(&StoreState(&shared.store), &bytes, height, now, known)?;
                        if let Ok(mut c) = shared.sig_cache.lock() {
                            c.insert(checked.id);
                        }
                        Ok((checked, bytes))
                    })
                    .collect()
            })
            .await
            .map_err(|e| match e {
                CheckPoolError::Busy => {
                    self.shared.metrics.busy();
                    refused(tonic::Code::ResourceExhausted, "busy", format!("node busy: {e}; retry later"))
                }
                CheckPoolError::Stopped => Status::internal(e.to_string()),
            })
    }

    /// Puts a checked transaction into the pool.
    fn insert(&self, checked: CheckedTx, bytes: Vec<u8>) -> Result<TxId, Status> {
        let id = checked.id;
        let mut pool = self.shared.mempool.lock().map_err(|_| Status::internal("mempool lock poisoned"))?;
        match pool.insert(id, checked.tx.signer, checked.tx.nonce, checked.tx.valid_until, bytes) {
            Ok(()) => {}
            Err(MempoolError::Busy { .. }) => {
                self.shared.metrics.busy();
                return Err(refused(
                    tonic::Code::ResourceExhausted,
                    "busy",
                    format!("node busy: {} transactions pending; retry later", pool.len()),
                ));
            }
            Err(MempoolError::Duplicate(_)) => {
                return Err(refused(
                    tonic::Code::AlreadyExists,
                    "duplicate",
                    format!("transaction {id} is already pending"),
                ));
            }
            Err(e @ MempoolError::NonceTaken { .. }) => {
                return Err(refused(tonic::Code::FailedPrecondition, "bad_nonce", e.to_string()));
            }
            Err(e) => return Err(refused(tonic::Code::InvalidArgument, "too_large", e.to_string())),
        }
        self.shared.metrics.set_mempool(pool.len(), pool.bytes());
        Ok(id)
    }

    /// Admission of one transaction a client submitted: the cheap refusals first, then the
    /// envelope and signature checks (at most one per core at a time, off the async workers),
    /// then the pool; then it is forwarded to the other nodes.
    async fn admit(&self, bytes: Vec<u8>) -> Result<TxId, Status> {
        let id = self.precheck(&bytes)?;
        let Some(result) = self.check(vec![(id, bytes)]).await?.pop() else {
            return Err(Status::internal("check task returned nothing"));
        };
        let (checked, bytes) = result.map_err(tx_error_status)?;
        let forward = self.gossip.as_ref().map(|_| bytes.clone());
        let id = self.insert(checked, bytes)?;
        if let (Some(g), Some(b)) = (&self.gossip, forward) {
            g.forward(b);
        }
        Ok(id)
    }
}

/// Findings returned by `Supervise` when the request sets no limit.
pub const SUPERVISE_DEFAULT_LIMIT: usize = 1_000;
/// Most findings one `Supervise` answer carries (about 1 KiB each: well under the client's
/// message limit).
pub const SUPERVISE_MAX_LIMIT: usize = 10_000;

fn pb_finding(f: custos_contracts::supervision::Finding) -> custos_api::pb::Finding {
    use custos_api::pb::{self, missing::Kind};
    use custos_contracts::supervision::{Basis, Missing};
    pb::Finding {
        rule: f.rule.to_owned(),
        title: f.title.to_owned(),
        basis: match f.basis {
            Basis::Statutory => "statutory",
            Basis::Configurable => "configurable",
        }
        .to_owned(),
        case_ref: f.case_ref.0.0.to_vec(),
        agency: f.agency,
        duty: f.duty,
        start: f.start.to_string(),
        deadline: f.deadline.to_string(),
        done: f.done.map(|d| d.to_string()),
        days_overdue: f.days_overdue,
        proofs: f
            .proofs
            .into_iter()
            .map(|p| pb::Proof { what: p.what, doc: p.doc.0.0.to_vec(), height: p.height, tx_id: p.tx_id.0.0.to_vec() })
            .collect(),
        missing: f.missing.map(|m| pb::Missing {
            kind: Some(match m {
                Missing::Receipt { doc, agency } => Kind::Receipt(pb::MissingReceipt { doc: doc.0.0.to_vec(), agency }),
                Missing::Document { types, from } => Kind::Document(pb::MissingDocument { types, from }),
                Missing::Addressee { doc, role } => {
                    Kind::Addressee(pb::MissingAddressee { doc: doc.0.0.to_vec(), role })
                }
            }),
        }),
    }
}

fn hash32(bytes: &[u8], what: &str) -> Result<custos_primitives::Hash, Status> {
    bytes
        .try_into()
        .map(custos_primitives::Hash)
        .map_err(|_| Status::invalid_argument(format!("{what} must be 32 bytes, got {}", bytes.len())))
}

fn refused(code: tonic::Code, kind: &'static str, message: String) -> Status {
    let mut s = Status::new(code, message);
    if let Ok(v) = kind.parse() {
        s.metadata_mut().insert(custos_api::ERROR_KIND_KEY, v);
    }
    s
}

/// A refused read of case or document state: logged (op `read_case`, `allowed: false`), then
/// the caller's error. A refusal that cannot be logged is still a refusal (the logging error).
fn refuse_read(audit: &AuditLog, who: &Caller, rpc: &str, asked: Option<u64>, r: Refusal) -> Status {
    let mut line = r.subject.fields();
    line.insert("rpc".into(), rpc.into());
    line.insert("height".into(), asked.into());
    line.insert("allowed".into(), false.into());
    line.insert("reason".into(), r.kind.into());
    if let Err(e) = audit.record_read(who, line.into()) {
        return e;
    }
    debug!(agency = %who.identity.agency, role = %who.identity.role, rpc, kind = r.subject.kind, "read refused");
    refused(r.code, r.kind, r.message)
}

fn tx_error_status(e: TxError) -> Status {
    use tonic::Code;
    let (code, kind) = match &e {
        TxError::Malformed(_) => (Code::InvalidArgument, "malformed"),
        TxError::WrongChain { .. } => (Code::InvalidArgument, "wrong_chain"),
        TxError::Expired { .. } => (Code::FailedPrecondition, "expired"),
        TxError::UnknownSigner(_) => (Code::PermissionDenied, "unknown_signer"),
        TxError::Revoked { .. } => (Code::PermissionDenied, "revoked"),
        TxError::CertificateExpired { .. } => (Code::PermissionDenied, "certificate_expired"),
        TxError::AgencyRemoved { .. } => (Code::PermissionDenied, "agency_removed"),
        TxError::BadSignature(_) => (Code::Unauthenticated, "bad_signature"),
        TxError::BadNonce { .. } => (Code::FailedPrecondition, "bad_nonce"),
        TxError::Certificate(_) => (Code::PermissionDenied, "certificate"),
    };
    refused(code, kind, e.to_string())
}

/// Longest state key a proof is asked for (state keys are a prefix and a few ids).
pub const MAX_STATE_KEY_BYTES: usize = 1024;

/// Equivocation records a status reply carries (the oldest; the total is given besides).
pub const MAX_STATUS_MISBEHAVIOUR: usize = 100;

fn now_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

type CommitStream = Pin<Box<dyn Stream<Item = Result<PbCommitEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Ledger for LedgerService {
    async fn submit_tx(&self, req: Request<SubmitTxRequest>) -> Result<Response<SubmitTxResponse>, Status> {
        let id = self.admit(req.into_inner().tx).await?;
        debug!(tx = %id, "accepted into the pool");
        Ok(Response::new(SubmitTxResponse { tx_id: id.0.0.to_vec() }))
    }

    async fn forward_txs(&self, req: Request<ForwardTxsRequest>) -> Result<Response<ForwardTxsResponse>, Status> {
        let who = caller(&req)?;
        if who.identity.role != MemberRole::Node {
            return Err(Status::permission_denied("ForwardTxs is for other agencies' nodes only"));
        }
        let txs = req.into_inner().txs;
        if txs.len() > crate::gossip::MAX_BATCH_TXS {
            return Err(Status::invalid_argument(format!(
                "{} transactions in one batch; at most {}",
                txs.len(),
                crate::gossip::MAX_BATCH_TXS
            )));
        }
        // Forwarded transactions are admitted as submitted ones are (the batch checked in one
        // go), but not forwarded again.
        let prechecked: Vec<(TxId, Vec<u8>)> =
            txs.into_iter().filter_map(|tx| self.precheck(&tx).ok().map(|id| (id, tx))).collect();
        let mut admitted = 0u32;
        for (checked, bytes) in self.check(prechecked).await?.into_iter().flatten() {
            if self.insert(checked, bytes).is_ok() {
                admitted += 1;
            }
        }
        Ok(Response::new(ForwardTxsResponse { admitted }))
    }

    async fn get_tx(&self, req: Request<GetTxRequest>) -> Result<Response<GetTxResponse>, Status> {
        let id = TxId(hash32(&req.into_inner().tx_id, "tx_id")?);
        let store = &self.shared.store;
        let Some(rec) = store.tx(&id).map_err(|e| Status::internal(e.to_string()))? else {
            return Ok(Response::new(GetTxResponse::default()));
        };
        let outcome = Runtime::tx_outcome(&StoreState(store), &id);
        let time = store
            .block(rec.height)
            .ok()
            .flatten()
            .and_then(|b| Block::decode_untrusted(&b).ok())
            .map(|b| b.header.time_ms)
            .unwrap_or(0);
        let (ok, error) = match outcome.map(|o| o.result) {
            Some(Ok(_)) => (true, String::new()),
            Some(Err(e)) => (false, e.to_string()),
            None => (false, "no recorded outcome".to_string()),
        };
        Ok(Response::new(GetTxResponse {
            found: true,
            height: rec.height,
            index: rec.index,
            tx: rec.bytes,
            ok,
            error,
            block_time_ms: time,
        }))
    }

    async fn get_block(&self, req: Request<GetBlockRequest>) -> Result<Response<GetBlockResponse>, Status> {
        let h = req.into_inner().height;
        let store = &self.shared.store;
        let block = store.block(h).map_err(|e| Status::internal(e.to_string()))?;
        let cert = store.certificate(h).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(match (block, cert) {
            (Some(block), Some(certificate)) => GetBlockResponse { found: true, block, certificate },
            _ => GetBlockResponse::default(),
        }))
    }

    async fn get_anchor(&self, req: Request<GetAnchorRequest>) -> Result<Response<GetAnchorResponse>, Status> {
        let doc = DocHash(hash32(&req.into_inner().doc_hash, "doc_hash")?);
        let Some(r) = Runtime::anchor_record(&StoreState(&self.shared.store), &doc) else {
            return Ok(Response::new(GetAnchorResponse::default()));
        };
        Ok(Response::new(GetAnchorResponse {
            found: true,
            height: r.height,
            tx_id: r.tx_id.0.0.to_vec(),
            issuer: r.issuer.to_string(),
            doc_type: r.doc_type.to_string(),
            case_ref: r.case_ref.0.0.to_vec(),
            time_ms: r.time_ms,
            recipients: r.recipients.iter().map(|a| a.to_string()).collect(),
            copies: r.copies.iter().map(|a| a.to_string()).collect(),
            signer: r.signer.0.0.to_vec(),
        }))
    }

    async fn get_account(&self, req: Request<GetAccountRequest>) -> Result<Response<GetAccountResponse>, Status> {
        let signer = CertFingerprint(hash32(&req.into_inner().signer, "signer")?);
        let state = StoreState(&self.shared.store);
        let member = Runtime::member(&state, &signer);
        Ok(Response::new(GetAccountResponse {
            registered: member.is_some(),
            next_nonce: Runtime::next_nonce(&state, &signer),
            height: self.shared.store.last_committed_height().ok().flatten().unwrap_or(0),
            agency: member.as_ref().map(|m| m.agency.to_string()).unwrap_or_default(),
            role: member.as_ref().map(|m| m.role.to_string()).unwrap_or_default(),
        }))
    }

    async fn status(&self, _req: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let store = &self.shared.store;
        let height = store.last_committed_height().map_err(|e| Status::internal(e.to_string()))?.unwrap_or(0);
        let (last_hash, last_time) =
            match store.block(height).ok().flatten().and_then(|b| Block::decode_untrusted(&b).ok()) {
                Some(b) => (b.hash(&self.genesis.suite).0.0.to_vec(), b.header.time_ms),
                None => (Vec::new(), 0),
            };
        let (_, round) = self.shared.progress.lock().map(|p| *p).unwrap_or((0, 0));
        let (mtxs, mbytes) = self.shared.mempool.lock().map(|p| (p.len(), p.bytes())).unwrap_or((0, 0));
        // The agency of a genesis validator, by node id ("" for a node genesis does not list).
        let agency_of = |id: &NodeId| {
            self.genesis.validators.iter().find(|v| &v.node_id == id).map(|v| v.agency.to_string()).unwrap_or_default()
        };
        let agency = agency_of(&self.node_id);
        let (misbehaviour, misbehaviour_total) =
            store.misbehaviour(MAX_STATUS_MISBEHAVIOUR).map_err(|e| Status::internal(e.to_string()))?;
        let misbehaviour = misbehaviour
            .into_iter()
            .map(|m| PbMisbehaviour {
                height: m.height,
                round: m.round,
                validator: m.validator.0.0.to_vec(),
                agency: agency_of(&m.validator),
                kind: m.kind.name().to_string(),
                first: m.first,
                second: m.second,
            })
            .collect();
        Ok(Response::new(StatusResponse {
            chain_id: self.genesis.genesis.chain_id.to_string(),
            suite: self.genesis.genesis.suite.to_string(),
            height,
            round,
            last_block_hash: last_hash,
            last_block_time_ms: last_time,
            node_id: self.node_id.0.0.to_vec(),
            agency,
            // The set in force after the last committed block (governance may have changed it).
            validators: self
                .shared
                .runtime
                .validators(&StoreState(store))
                .iter()
                .map(|v| PbValidator { node_id: v.node_id.0.0.to_vec(), agency: v.agency.to_string(), power: v.power })
                .collect(),
            peers: self.shared.metrics.peers() as u32,
            mempool_txs: mtxs as u64,
            mempool_bytes: mbytes as u64,
            genesis_hash: self.genesis.hash.0.to_vec(),
            misbehaviour,
            misbehaviour_total: misbehaviour_total as u64,
        }))
    }

    async fn get_state_proof(
        &self,
        req: Request<GetStateProofRequest>,
    ) -> Result<Response<GetStateProofResponse>, Status> {
        let who = caller(&req)?;
        let GetStateProofRequest { key, height } = req.into_inner();
        if key.is_empty() || key.len() > MAX_STATE_KEY_BYTES {
            return Err(Status::invalid_argument(format!(
                "state key must be 1 to {MAX_STATE_KEY_BYTES} bytes, got {}",
                key.len()
            )));
        }
        let shared = self.shared.clone();
        let audit = self.audit.clone();
        // RocksDB reads and hashing: off the async workers.
        tokio::task::spawn_blocking(move || {
            let store = &shared.store;
            // Case and document keys: parties only, judged on the latest committed state
            // (decision 0017).
            let state = StoreState(store);
            let reader = Reader::new(&shared.runtime, &state, &who.identity.agency, who.identity.role);
            let audited = match visibility::decide_key(&state, &reader, &key) {
                Verdict::Answer => None,
                Verdict::Audited { privilege, subject } => Some((privilege, subject)),
                Verdict::Refuse(r) => return Err(refuse_read(&audit, &who, "get_state_proof", height, r)),
            };
            let last = store.last_committed_height().map_err(|e| Status::internal(e.to_string()))?;
            let height = match (height, last) {
                (Some(h), Some(l)) if (1..=l).contains(&h) => h,
                (None, Some(l)) => l,
                (asked, _) => {
                    return Err(Status::not_found(format!(
                        "height {} is not committed (last committed: {})",
                        asked.map_or_else(|| "latest".to_owned(), |h| h.to_string()),
                        last.map_or_else(|| "none".to_owned(), |h| h.to_string()),
                    )));
                }
            };
            let block = store
                .block(height)
                .map_err(|e| Status::internal(e.to_string()))?
                .ok_or_else(|| Status::internal(format!("no block stored at committed height {height}")))?;
            let header = Block::decode_untrusted(&block).map_err(|e| Status::internal(e.to_string()))?.header;
            let (value, proof) = state::prove(shared.runtime.suite(), &**store, &key, height)
                .map_err(|e| Status::internal(e.to_string()))?;
            if let Some((privilege, subject)) = audited {
                // Not answered unless logged.
                let mut line = subject.fields();
                line.insert("rpc".into(), "get_state_proof".into());
                line.insert("height".into(), height.into());
                line.insert("found".into(), value.is_some().into());
                line.insert("allowed".into(), true.into());
                line.insert("privilege".into(), privilege.as_str().into());
                audit.record_read(&who, line.into())?;
            }
            Ok(Response::new(GetStateProofResponse { height, header: header.encode(), value, proof: proof.encode() }))
        })
        .await
        .map_err(|e| Status::internal(format!("proof task failed: {e}")))?
    }

    async fn export_evidence(
        &self,
        req: Request<ExportEvidenceRequest>,
    ) -> Result<Response<ExportEvidenceResponse>, Status> {
        let who = caller(&req)?;
        let ExportEvidenceRequest { doc_hash, height, absent_receipt_from } = req.into_inner();
        let doc = DocHash(hash32(&doc_hash, "doc_hash")?);
        let agency = absent_receipt_from
            .map(|a| AgencyId::new(a.trim()).map_err(|e| Status::invalid_argument(format!("absent_receipt_from: {e}"))))
            .transpose()?;
        if height == Some(0) {
            return Err(Status::invalid_argument("height 0 is the empty state before the first block"));
        }
        let shared = self.shared.clone();
        let genesis = self.genesis.clone();
        let audit = self.audit.clone();
        // Proofs and block reads: off the async workers.
        tokio::task::spawn_blocking(move || {
            // Parties to the document's case only (decision 0017).
            let state = StoreState(&shared.store);
            let reader = Reader::new(&shared.runtime, &state, &who.identity.agency, who.identity.role);
            let audited = match visibility::decide_evidence(&state, &reader, &doc) {
                Verdict::Answer => None,
                Verdict::Audited { privilege, subject } => Some((privilege, subject)),
                Verdict::Refuse(r) => return Err(refuse_read(&audit, &who, "export_evidence", height, r)),
            };
            let source = StoreSource { store: &shared.store, genesis: &genesis };
            let bundle = match &agency {
                Some(a) => evidence::export_absence(&source, &doc, a, height),
                None => evidence::export_document(&source, &doc, height, None),
            };
            match bundle {
                Ok(b) => {
                    if let Some((privilege, subject)) = audited {
                        // Not answered unless logged.
                        let mut line = subject.fields();
                        line.insert("rpc".into(), "export_evidence".into());
                        line.insert("height".into(), b.subject.at().into());
                        line.insert("absent_receipt_from".into(), agency.as_ref().map(|a| a.to_string()).into());
                        line.insert("allowed".into(), true.into());
                        line.insert("privilege".into(), privilege.as_str().into());
                        audit.record_read(&who, line.into())?;
                    }
                    Ok(Response::new(ExportEvidenceResponse { height: b.subject.at(), bundle: b.to_bytes() }))
                }
                Err(e @ (EvidenceError::NotAnchored { .. } | EvidenceError::NotCommitted { .. })) => {
                    Err(Status::not_found(e.to_string()))
                }
                Err(e) => Err(Status::internal(e.to_string())),
            }
        })
        .await
        .map_err(|e| Status::internal(format!("evidence task failed: {e}")))?
    }

    async fn supervise(&self, req: Request<SuperviseRequest>) -> Result<Response<SuperviseResponse>, Status> {
        use custos_contracts::call::Date;
        use custos_contracts::supervision::RULES;
        let who = caller(&req)?;
        let SuperviseRequest { as_of, rule, agency, case_ref, limit } = req.into_inner();
        let as_of = match as_of.as_deref().map(str::trim) {
            Some(s) => Date::parse(s).map_err(|e| Status::invalid_argument(format!("as_of: {e}")))?,
            // A query default, not protocol: today in China Standard Time by this node's clock.
            None => Date::from_unix_seconds_cst(now_s()),
        };
        let rule = rule.map(|r| r.trim().to_ascii_uppercase());
        if let Some(r) = &rule
            && !RULES.iter().any(|(id, _)| id == r)
        {
            let known: Vec<&str> = RULES.iter().map(|(id, _)| *id).collect();
            return Err(Status::invalid_argument(format!("rule {r:?} is not one of {}", known.join(", "))));
        }
        let agency = agency
            .map(|a| AgencyId::new(a.trim()).map_err(|e| Status::invalid_argument(format!("agency: {e}"))))
            .transpose()?;
        let case = case_ref.map(|c| hash32(&c, "case_ref").map(CaseRef)).transpose()?;
        let limit = limit.map_or(SUPERVISE_DEFAULT_LIMIT, |l| l as usize);
        if limit > SUPERVISE_MAX_LIMIT {
            return Err(Status::invalid_argument(format!("limit {limit} exceeds {SUPERVISE_MAX_LIMIT}")));
        }
        let shared = self.shared.clone();
        let audit = self.audit.clone();
        // A scan of the whole index and the rules over every case: off the async workers.
        tokio::task::spawn_blocking(move || {
            let store = &shared.store;
            let started = std::time::Instant::now();
            let height = store.last_committed_height().map_err(|e| Status::internal(e.to_string()))?.unwrap_or(0);
            let state = StoreState(store);
            // The same privileges as the case-state reads (decision 0017): the caller's agency
            // kind comes from the registry (active agencies only), its member role from its
            // certificate. Node identities see only their own agency's findings here.
            let reader = Reader::new(&shared.runtime, &state, &who.identity.agency, who.identity.role);
            let access = if matches!(reader.privilege(), Some(Privilege::Auditor | Privilege::Procuratorate)) {
                Access::All
            } else {
                Access::Only(who.identity.agency.clone())
            };
            let cross_agency = access == Access::All && agency.as_ref().is_none_or(|a| a != &who.identity.agency);
            let inputs = supervise::inputs(store, &shared.runtime).map_err(|e| Status::internal(e.to_string()))?;
            let q = Query { as_of, rule, agency, case, limit };
            let answer = supervise::query(store, &inputs, &q, &access).map_err(|e| Status::internal(e.to_string()))?;
            let truncated = answer.matched > answer.findings.len() as u64;
            audit.record_supervision(
                &who,
                serde_json::json!({
                    "height": height,
                    "as_of": as_of.to_string(),
                    "rule": q.rule,
                    "agency": q.agency.as_ref().map(|a| a.to_string()),
                    "case_ref": q.case.map(|c| c.0.to_string()),
                    "limit": limit,
                    "returned": answer.findings.len(),
                    "truncated": truncated,
                    "cross_agency": cross_agency,
                }),
            )?;
            debug!(
                agency = %who.identity.agency,
                cases = answer.cases,
                returned = answer.findings.len(),
                ms = started.elapsed().as_millis() as u64,
                "supervision query"
            );
            Ok(Response::new(SuperviseResponse {
                height,
                as_of: as_of.to_string(),
                truncated,
                matched: answer.matched,
                cross_agency: access == Access::All,
                findings: answer.findings.into_iter().map(pb_finding).collect(),
            }))
        })
        .await
        .map_err(|e| Status::internal(format!("supervision task failed: {e}")))?
    }

    type SubscribeCommitsStream = CommitStream;

    async fn subscribe_commits(
        &self,
        _req: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeCommitsStream>, Status> {
        use tokio_stream::StreamExt;
        let rx = self.shared.commits.subscribe();
        let stream = BroadcastStream::new(rx).filter_map(|ev| match ev {
            Ok(ev) => Some(Ok(PbCommitEvent {
                height: ev.height,
                block_hash: ev.block.0.0.to_vec(),
                time_ms: ev.time_ms,
                txs: ev
                    .txs
                    .iter()
                    .map(|(id, o)| TxResult {
                        tx_id: id.0.0.to_vec(),
                        ok: o.result.is_ok(),
                        error: o.result.as_ref().err().map(|e| e.to_string()).unwrap_or_default(),
                    })
                    .collect(),
            })),
            // A slow subscriber that lagged behind: tell it, rather than silently skipping.
            Err(e) => Some(Err(Status::data_loss(format!("subscriber lagged: {e}")))),
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
