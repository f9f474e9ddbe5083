//! The e-dossier service (`service Dossier` in custos.proto): members of the node's agency
//! upload encrypted chunks and signed manifests; the issuing agency and the agencies the ledger
//! lets read a document download them; a node pulls a document from the issuer's node on
//! behalf of its agency. Every download decision is appended to the audit log.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::{info, warn};

use custos_api::pb::dossier_server::Dossier;
use custos_api::pb::{
    DossierEntry, GetChunkRequest, GetChunkResponse, GetManifestRequest, GetManifestResponse, ListRequest,
    ListResponse, PullProgress, PullRequest, PutChunkRequest, PutChunkResponse, PutManifestRequest,
    PutManifestResponse,
};
use custos_contracts::runtime::Runtime;
use custos_dossier::{ChunkStore, DossierError, SignedManifest};
use custos_primitives::types::{AgencyId, DocHash};

use crate::app::{Shared, StoreState};
use crate::grpc::Caller;

/// Largest chunk accepted by `PutChunk` (what one gRPC message of the service carries).
pub const MAX_UPLOAD_CHUNK: usize = 4 * 1024 * 1024 + 64;

/// An append-only JSON-lines log of download decisions, supervision queries and reads of
/// case and document state by non-parties, fsynced after every line.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (creates) the log for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditLog { path: path.to_path_buf(), file: Mutex::new(file) })
    }

    /// Appends one decision. A failure to log is reported to the caller: a download that
    /// cannot be logged is not served.
    pub fn record(
        &self,
        op: &str,
        caller: &Caller,
        doc: &DocHash,
        index: Option<u32>,
        allowed: bool,
        reason: &str,
    ) -> Result<(), Status> {
        let line = serde_json::json!({
            "time_ms": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
            "op": op,
            "caller_agency": caller.identity.agency.to_string(),
            "caller_role": caller.identity.role.to_string(),
            "caller_cert": caller.identity.fingerprint.to_string(),
            "remote": caller.remote.to_string(),
            "doc": doc.to_string(),
            "index": index,
            "allowed": allowed,
            "reason": reason,
        });
        self.append(&line)
    }

    /// Appends one supervision query: who asked (agency, role, certificate), the filters, how
    /// many findings were returned, and whether the caller may see other agencies' findings.
    pub fn record_supervision(&self, caller: &Caller, query: serde_json::Value) -> Result<(), Status> {
        let mut line = serde_json::json!({
            "time_ms": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
            "op": "supervise",
            "caller_agency": caller.identity.agency.to_string(),
            "caller_role": caller.identity.role.to_string(),
            "caller_cert": caller.identity.fingerprint.to_string(),
            "remote": caller.remote.to_string(),
        });
        if let (Some(obj), serde_json::Value::Object(extra)) = (line.as_object_mut(), query) {
            obj.extend(extra);
        }
        self.append(&line)
    }

    /// Appends one read of case or document state by a caller that is not a party to it (op
    /// `read_case`, see [`crate::visibility`]): who asked (agency, role, certificate), through
    /// which call, what (key kind, case, document, height), whether it was answered and on
    /// which privilege (`procuratorate`, `auditor`, `node`), or why it was refused.
    pub fn record_read(&self, caller: &Caller, read: serde_json::Value) -> Result<(), Status> {
        let mut line = serde_json::json!({
            "time_ms": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
            "op": "read_case",
            "caller_agency": caller.identity.agency.to_string(),
            "caller_role": caller.identity.role.to_string(),
            "caller_cert": caller.identity.fingerprint.to_string(),
            "remote": caller.remote.to_string(),
        });
        if let (Some(obj), serde_json::Value::Object(extra)) = (line.as_object_mut(), read) {
            obj.extend(extra);
        }
        self.append(&line)
    }

    fn append(&self, line: &serde_json::Value) -> Result<(), Status> {
        let mut f = self.file.lock().map_err(|_| Status::internal("audit log lock poisoned"))?;
        writeln!(f, "{line}")
            .and_then(|()| f.sync_data())
            .map_err(|e| Status::internal(format!("cannot write the audit log {}: {e}", self.path.display())))
    }
}

/// The e-dossier service of one node.
#[derive(Debug, Clone)]
pub struct DossierService {
    shared: Arc<Shared>,
    store: Arc<ChunkStore>,
    agency: AgencyId,
    peers: Arc<BTreeMap<AgencyId, String>>,
    node_tls: rustls::ClientConfig,
    audit: Arc<AuditLog>,
}

impl DossierService {
    /// A service of the node of `agency`, storing at `store`, pulling from `peers` with the
    /// node's own TLS identity `node_tls`.
    pub fn new(
        shared: Arc<Shared>,
        store: ChunkStore,
        agency: AgencyId,
        peers: BTreeMap<AgencyId, String>,
        node_tls: rustls::ClientConfig,
        audit: Arc<AuditLog>,
    ) -> Self {
        DossierService { shared, store: Arc::new(store), agency, peers: Arc::new(peers), node_tls, audit }
    }

    fn own_member<T>(&self, req: &Request<T>, what: &str) -> Result<Caller, Status> {
        let caller = caller(req)?;
        if caller.identity.agency != self.agency {
            return Err(Status::permission_denied(format!(
                "{what} is for members of {} (this node's agency); the caller is of {}",
                self.agency, caller.identity.agency
            )));
        }
        Ok(caller)
    }

    /// Whether `agency` may download `doc` from this node, and why not.
    fn read_decision(&self, doc: &DocHash, agency: &AgencyId) -> Result<(), String> {
        let state = StoreState(&self.shared.store);
        match Runtime::anchor_record(&state, doc) {
            Some(a) if &a.issuer == agency => return Ok(()),
            Some(_) if Runtime::may_read(&state, doc, agency) => return Ok(()),
            Some(a) => {
                return Err(format!(
                    "agency {agency} may not read document {doc}: it is not a recipient or copy of {}'s document and holds no active grant",
                    a.issuer
                ));
            }
            None => {}
        }
        // Not anchored yet: only the issuing agency (uploading before anchoring) may read it.
        match self.store.manifest(doc) {
            Ok(Some(m)) if &m.manifest.issuer == agency => Ok(()),
            _ => Err(format!("agency {agency} may not read document {doc}: it is not anchored on the ledger")),
        }
    }

    fn check_read<T>(&self, req: &Request<T>, op: &str, doc: &DocHash, index: Option<u32>) -> Result<(), Status> {
        let caller = caller(req)?;
        match self.read_decision(doc, &caller.identity.agency) {
            Ok(()) => self.audit.record(op, &caller, doc, index, true, "issuer, recipient, copy or grantee"),
            Err(why) => {
                self.audit.record(op, &caller, doc, index, false, &why)?;
                warn!(agency = %caller.identity.agency, %doc, op, "dossier download refused");
                Err(Status::permission_denied(why))
            }
        }
    }
}

/// The authenticated caller of a request (from its mutual-TLS connection).
pub fn caller<T>(req: &Request<T>) -> Result<Caller, Status> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no authenticated caller on this connection"))
}

fn doc_id(bytes: &[u8]) -> Result<DocHash, Status> {
    bytes
        .try_into()
        .map(|b| DocHash(custos_primitives::Hash(b)))
        .map_err(|_| Status::invalid_argument(format!("doc_id must be 32 bytes, got {}", bytes.len())))
}

fn store_status(e: DossierError) -> Status {
    match e {
        DossierError::Corrupt { .. } | DossierError::ChunkTooLarge { .. } => Status::data_loss(e.to_string()),
        DossierError::NotFound { .. } => Status::not_found(e.to_string()),
        DossierError::ManifestConflict { .. } | DossierError::NotAnExtension { .. } => {
            Status::already_exists(e.to_string())
        }
        DossierError::NoManifest { .. } => Status::not_found(e.to_string()),
        DossierError::Codec(_)
        | DossierError::InvalidManifest { .. }
        | DossierError::HashMismatch { .. }
        | DossierError::UnsupportedVersion { .. } => Status::invalid_argument(e.to_string()),
        _ => Status::internal(e.to_string()),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Status> + Send + 'static) -> Result<T, Status> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Status::internal(format!("dossier task failed: {e}")))?
}

type PullStream = Pin<Box<dyn Stream<Item = Result<PullProgress, Status>> + Send>>;

#[tonic::async_trait]
impl Dossier for DossierService {
    async fn put_chunk(&self, req: Request<PutChunkRequest>) -> Result<Response<PutChunkResponse>, Status> {
        self.own_member(&req, "uploading e-dossier chunks")?;
        let data = req.into_inner().data;
        if data.len() > MAX_UPLOAD_CHUNK {
            return Err(Status::invalid_argument(format!("chunk of {} bytes exceeds {MAX_UPLOAD_CHUNK}", data.len())));
        }
        let store = self.store.clone();
        let hash = blocking(move || store.put(&data).map_err(store_status)).await?;
        Ok(Response::new(PutChunkResponse { hash: hash.0.to_vec() }))
    }

    async fn put_manifest(&self, req: Request<PutManifestRequest>) -> Result<Response<PutManifestResponse>, Status> {
        self.own_member(&req, "uploading e-dossier manifests")?;
        let bytes = req.into_inner().signed_manifest;
        let signed = SignedManifest::decode_untrusted(&bytes).map_err(store_status)?;
        let m = &signed.manifest;
        if m.issuer != self.agency {
            return Err(Status::permission_denied(format!(
                "the manifest is issued by {}, but this node keeps the documents of {}",
                m.issuer, self.agency
            )));
        }
        let member = Runtime::member(&StoreState(&self.shared.store), &m.clerk).ok_or_else(|| {
            Status::permission_denied(format!("the manifest's signer {} is not a registered member", m.clerk))
        })?;
        if member.agency != self.agency || member.revoked.is_some() {
            return Err(Status::permission_denied(format!(
                "the manifest's signer {} is not an active member of {}",
                m.clerk, self.agency
            )));
        }
        signed
            .verify(self.shared.runtime.suite(), &member.public_key)
            .map_err(|e| Status::invalid_argument(format!("manifest signature: {e}")))?;
        let store = self.store.clone();
        let doc = signed.doc_id();
        blocking(move || {
            let missing = store.missing(&signed.manifest).map_err(store_status)?;
            if let Some(first) = missing.first() {
                return Err(Status::failed_precondition(format!(
                    "{} of the manifest's chunks are not uploaded (first: chunk {first})",
                    missing.len()
                )));
            }
            // A manifest already stored may be replaced only by an extension of it (the same
            // document with more recipients: a grant).
            match store.manifest(&signed.manifest.doc_id).map_err(store_status)? {
                Some(_) => store.replace_manifest(&signed).map(|_| ()).map_err(store_status),
                None => store.put_manifest(&signed).map_err(store_status),
            }
        })
        .await?;
        info!(%doc, "e-dossier manifest stored");
        Ok(Response::new(PutManifestResponse { doc_id: doc.0.0.to_vec() }))
    }

    async fn get_manifest(&self, req: Request<GetManifestRequest>) -> Result<Response<GetManifestResponse>, Status> {
        let doc = doc_id(&req.get_ref().doc_id)?;
        self.check_read(&req, "get_manifest", &doc, None)?;
        let store = self.store.clone();
        let m = blocking(move || store.manifest(&doc).map_err(store_status)).await?;
        match m {
            Some(m) => {
                Ok(Response::new(GetManifestResponse { signed_manifest: parity_scale_codec::Encode::encode(&m) }))
            }
            None => Err(Status::not_found(format!("document {doc} is not in this node's store"))),
        }
    }

    async fn get_chunk(&self, req: Request<GetChunkRequest>) -> Result<Response<GetChunkResponse>, Status> {
        let doc = doc_id(&req.get_ref().doc_id)?;
        let index = req.get_ref().index;
        self.check_read(&req, "get_chunk", &doc, Some(index))?;
        let store = self.store.clone();
        let data = blocking(move || {
            let m = store
                .manifest(&doc)
                .map_err(store_status)?
                .ok_or_else(|| Status::not_found(format!("document {doc} is not in this node's store")))?;
            let hash = m.manifest.chunks.get(index as usize).ok_or_else(|| {
                Status::out_of_range(format!(
                    "document {doc} has {} chunks, not {}",
                    m.manifest.chunks.len(),
                    index + 1
                ))
            })?;
            store.get(hash).map_err(|e| match e {
                // The path stays in this node's log, not in the answer to another agency.
                DossierError::Corrupt { .. } => {
                    warn!(%doc, index, error = %e, "e-dossier chunk corrupt on disk");
                    Status::data_loss(format!(
                        "chunk {index} of document {doc} is corrupt in this node's store (it does not hash to {hash})"
                    ))
                }
                DossierError::NotFound { .. } => {
                    Status::not_found(format!("chunk {index} of document {doc} is not in this node's store"))
                }
                e => store_status(e),
            })
        })
        .await?;
        Ok(Response::new(GetChunkResponse { data }))
    }

    type PullStream = PullStream;

    async fn pull(&self, req: Request<PullRequest>) -> Result<Response<Self::PullStream>, Status> {
        let caller = self.own_member(&req, "pulling e-dossiers")?;
        let doc = doc_id(&req.get_ref().doc_id)?;
        // This node pulls as its agency: the ledger must let the agency read the document.
        if let Err(why) = self.read_decision(&doc, &self.agency) {
            self.audit.record("pull", &caller, &doc, None, false, &why)?;
            return Err(Status::permission_denied(why));
        }
        let issuer = Runtime::anchor_record(&StoreState(&self.shared.store), &doc)
            .map(|a| a.issuer)
            .unwrap_or_else(|| self.agency.clone());
        self.audit.record("pull", &caller, &doc, None, true, &format!("from {issuer}"))?;
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let this = self.clone();
        tokio::spawn(async move {
            if let Err(e) = this.pull_from(&issuer, doc, &tx).await {
                warn!(%doc, %issuer, error = %e.message(), "e-dossier pull failed");
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn list(&self, req: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        self.own_member(&req, "listing the e-dossier store")?;
        let store = self.store.clone();
        let documents = blocking(move || {
            let mut out = Vec::new();
            for doc in store.list().map_err(store_status)? {
                let Some(m) = store.manifest(&doc).map_err(store_status)? else { continue };
                let missing = store.missing(&m.manifest).map_err(store_status)?;
                let chunks = m.manifest.chunk_count();
                out.push(DossierEntry {
                    doc_id: doc.0.0.to_vec(),
                    doc_type: m.manifest.doc_type.as_str().to_string(),
                    issuer: m.manifest.issuer.to_string(),
                    chunks,
                    present: chunks.saturating_sub(missing.len() as u32),
                    size: m.manifest.size,
                });
            }
            Ok(out)
        })
        .await?;
        Ok(Response::new(ListResponse { documents }))
    }
}

impl DossierService {
    /// Fetches `doc`'s current manifest from `issuer`'s node (replacing the local one if the
    /// issuer has since extended it to more recipients) and the missing chunks, verifying each
    /// against the manifest, and reports progress on `tx`.
    async fn pull_from(
        &self,
        issuer: &AgencyId,
        doc: DocHash,
        tx: &tokio::sync::mpsc::Sender<Result<PullProgress, Status>>,
    ) -> Result<(), Status> {
        let store = self.store.clone();
        let local = blocking(move || store.manifest(&doc).map_err(store_status)).await?;
        let mut remote = None;
        let signed = if issuer == &self.agency {
            // This node keeps its own agency's documents: there is nobody to pull from.
            local.ok_or_else(|| Status::not_found(format!("document {doc} is not in this node's store")))?
        } else {
            // The issuer's current manifest first: a grant made since the last pull adds this
            // agency's wrapped key to it.
            let fetched = match self.connect(issuer).await {
                Ok(c) => {
                    let client = remote.insert(c);
                    client
                        .get_manifest(GetManifestRequest { doc_id: doc.0.0.to_vec() })
                        .await
                        .map(|r| r.into_inner().signed_manifest)
                        .map_err(|s| relay(issuer, s))
                }
                Err(e) => Err(e),
            };
            match (fetched, local) {
                (Ok(bytes), local) => {
                    let signed = SignedManifest::decode_untrusted(&bytes)
                        .map_err(|e| Status::data_loss(format!("the manifest from {issuer}'s node is invalid: {e}")))?;
                    self.check_manifest(issuer, &doc, &signed)?;
                    self.keep_manifest(issuer, &doc, signed, local).await?
                }
                // The issuer refused: its word stands even if a copy is kept here.
                (Err(e), _) if e.code() == tonic::Code::PermissionDenied => return Err(e),
                (Err(e), None) => return Err(e),
                (Err(e), Some(l)) => {
                    warn!(%doc, %issuer, error = %e.message(), "cannot refresh the e-dossier manifest; using the stored one");
                    remote = None;
                    l
                }
            }
        };
        let store = self.store.clone();
        let manifest = signed.manifest.clone();
        let missing = blocking(move || store.missing(&manifest).map_err(store_status)).await?;
        let total = signed.manifest.chunk_count();
        let mut done = total - missing.len() as u32;
        let _ = tx.send(Ok(PullProgress { done_chunks: done, total_chunks: total })).await;
        if !missing.is_empty() {
            info!(%doc, %issuer, missing = missing.len(), total, "pulling e-dossier chunks");
        }
        for index in missing {
            let client = match remote.as_mut() {
                Some(c) => c,
                None => remote.insert(self.connect(issuer).await?),
            };
            let data = client
                .get_chunk(GetChunkRequest { doc_id: doc.0.0.to_vec(), index })
                .await
                .map_err(|s| relay(issuer, s))?
                .into_inner()
                .data;
            let expected = signed
                .manifest
                .chunks
                .get(index as usize)
                .copied()
                .ok_or_else(|| Status::internal(format!("chunk index {index} out of range")))?;
            let store = self.store.clone();
            let who = issuer.clone();
            blocking(move || {
                store.put_expected(&expected, &data).map_err(|e| {
                    Status::data_loss(format!(
                        "chunk {index} of document {doc} from {who}'s node failed verification: {e}"
                    ))
                })
            })
            .await?;
            done += 1;
            let _ = tx.send(Ok(PullProgress { done_chunks: done, total_chunks: total })).await;
        }
        info!(%doc, %issuer, "e-dossier complete");
        Ok(())
    }

    /// Keeps the (verified) manifest from `issuer`'s node and returns the one to pull by:
    /// stored if there was none (before the chunks, so that `List` shows a partial document
    /// and a resumed pull needs only the missing chunks); replacing the stored one if it
    /// extends it; the stored one if that already extends the fetched one.
    async fn keep_manifest(
        &self,
        issuer: &AgencyId,
        doc: &DocHash,
        fetched: SignedManifest,
        local: Option<SignedManifest>,
    ) -> Result<SignedManifest, Status> {
        let store = self.store.clone();
        match local {
            None => {
                let keep = fetched.clone();
                blocking(move || store.put_manifest(&keep).map_err(store_status)).await?;
                Ok(fetched)
            }
            Some(l) if l == fetched => Ok(l),
            Some(l) if fetched.manifest.extends(&l.manifest).is_ok() => {
                let keep = fetched.clone();
                blocking(move || store.replace_manifest(&keep).map_err(store_status)).await?;
                info!(%doc, %issuer, recipients = fetched.manifest.recipients.len(), "e-dossier manifest extended by its issuer");
                Ok(fetched)
            }
            Some(l) if l.manifest.extends(&fetched.manifest).is_ok() => Ok(l),
            Some(l) => {
                let why = fetched.manifest.extends(&l.manifest).err().map(|e| e.to_string()).unwrap_or_default();
                Err(Status::data_loss(format!(
                    "{issuer}'s node sent a manifest of document {doc} that conflicts with the one stored here: {why}"
                )))
            }
        }
    }

    /// A manifest pulled from elsewhere must be the anchored document, issued by the anchoring
    /// agency and signed by a registered member of it.
    fn check_manifest(&self, issuer: &AgencyId, doc: &DocHash, signed: &SignedManifest) -> Result<(), Status> {
        let m = &signed.manifest;
        if &signed.doc_id() != doc || &m.issuer != issuer {
            return Err(Status::data_loss(format!(
                "{issuer}'s node sent the manifest of document {} issued by {}, not of {doc}",
                signed.doc_id(),
                m.issuer
            )));
        }
        let member = Runtime::member(&StoreState(&self.shared.store), &m.clerk).ok_or_else(|| {
            Status::data_loss(format!("the manifest's signer {} is not a registered member", m.clerk))
        })?;
        if &member.agency != issuer {
            return Err(Status::data_loss(format!("the manifest's signer {} is not a member of {issuer}", m.clerk)));
        }
        signed
            .verify(self.shared.runtime.suite(), &member.public_key)
            .map_err(|e| Status::data_loss(format!("the manifest from {issuer}'s node: {e}")))
    }

    async fn connect(
        &self,
        issuer: &AgencyId,
    ) -> Result<custos_api::pb::dossier_client::DossierClient<tonic::transport::Channel>, Status> {
        let addr = self.peers.get(issuer).ok_or_else(|| {
            Status::failed_precondition(format!(
                "this node has no address for {issuer}'s node: add it to [dossier] peers in the node config"
            ))
        })?;
        let channel = custos_api::client::channel(addr, self.node_tls.clone())
            .await
            .map_err(|e| Status::unavailable(format!("{issuer}'s node: {e}")))?;
        Ok(custos_api::client::dossier_client(channel))
    }
}

/// An error from the issuer's node, passed on with its code and the issuer named.
fn relay(issuer: &AgencyId, s: Status) -> Status {
    Status::new(s.code(), format!("{issuer}'s node: {}", s.message()))
}
