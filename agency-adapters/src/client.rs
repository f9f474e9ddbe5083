//! The adapter's side of its node: connecting with the adapter identity of an agency home,
//! verified state reads, blocks, and the e-dossier upload and download.
//!
//! Transactions are not submitted here but by the [`crate::submit::Submitter`], which owns the
//! signer's nonces.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parity_scale_codec::{Decode, Encode};
use tonic::transport::Channel;

use custos_api::pb::dossier_client::DossierClient;
use custos_api::pb::ledger_client::LedgerClient;
use custos_api::pb::{
    GetAccountRequest, GetAnchorRequest, GetBlockRequest, GetChunkRequest, GetManifestRequest, GetStateProofRequest,
    GetTxRequest, PullRequest, PutChunkRequest, PutManifestRequest, StatusRequest, SuperviseRequest, SuperviseResponse,
};
use custos_contracts::documents::{AnchorRecord, doc_key};
use custos_contracts::registry::{AgencyRecord, agency_key};
use custos_contracts::state;
use custos_dossier::{ChunkStore, Decryptor, Encrypted, SignedManifest};
use custos_primitives::block::Block;
use custos_primitives::codec::decode_exact;
use custos_primitives::crypto::{AnySuite, DecryptionKey, EncryptionPublicKey, SigningKey};
use custos_primitives::types::{AgencyId, CaseRef, CertFingerprint, ChainId, DocHash, MemberRole, TxId};
use custos_testnet::consortium;
use custos_testnet::home::Profile;

use crate::error::{AdapterError, Result};

/// Largest state value decoded.
const MAX_VALUE: usize = 1 << 20;

/// The identity the adapter signs with, and the network it belongs to.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The network.
    pub chain_id: ChainId,
    /// The network's suite.
    pub suite: AnySuite,
    /// The adapter's agency.
    pub agency: AgencyId,
    /// Fingerprint of the adapter certificate.
    pub fingerprint: CertFingerprint,
    /// The adapter certificate (DER), registered on first use.
    pub cert_der: Vec<u8>,
    /// The signing key.
    pub key: Arc<SigningKey>,
}

/// What a committed transaction came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxOutcome {
    /// Height it committed at.
    pub height: u64,
    /// Whether the call succeeded.
    pub ok: bool,
    /// The contracts' error when it did not.
    pub error: String,
    /// Block time (ms since the epoch).
    pub time_ms: u64,
}

/// A connection to the agency's node with everything the adapter needs from its home.
#[derive(Clone)]
pub struct NodeClient {
    /// The node's address.
    pub addr: String,
    /// The agency home.
    pub home: PathBuf,
    /// Who signs.
    pub signer: Signer,
    /// The consortium's case key (HMAC key of case references).
    case_key: Arc<Vec<u8>>,
    /// The agency's e-dossier decryption key, if the home has one.
    decryption: Option<Arc<DecryptionKey>>,
    ledger: LedgerClient<Channel>,
    dossier: DossierClient<Channel>,
}

impl std::fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeClient").field("addr", &self.addr).field("agency", &self.signer.agency).finish()
    }
}

fn home_err(home: &Path, e: impl std::fmt::Display) -> AdapterError {
    AdapterError::Home { home: home.to_path_buf(), reason: e.to_string() }
}

/// The node address: `node` if given, else `[rpc] listen` of the home's `node.toml`.
pub fn node_addr(home: &Path, node: Option<&str>) -> Result<String> {
    if let Some(n) = node {
        return Ok(n.to_string());
    }
    let path = home.join("node.toml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| home_err(home, format!("no node address configured and {} is unreadable: {e}", path.display())))?;
    let v: toml::Value = toml::from_str(&text).map_err(|e| home_err(home, format!("{}: {e}", path.display())))?;
    v.get("rpc")
        .and_then(|r| r.get("listen"))
        .and_then(|l| l.as_str())
        .map(str::to_string)
        .ok_or_else(|| home_err(home, format!("{} has no [rpc] listen; set `node` in the config", path.display())))
}

impl NodeClient {
    /// Connects to the node as the home's adapter identity (certificate of role `adapter`
    /// and its TLS transport certificate).
    pub async fn connect(home: &Path, node: Option<&str>) -> Result<Self> {
        let profile = Profile::load(home).map_err(|e| home_err(home, e))?;
        let genesis = consortium::load_genesis(home).map_err(|e| home_err(home, e))?;
        let suite = genesis.suite.clone();
        let ident = profile.identity(home, MemberRole::Adapter).map_err(|e| home_err(home, e))?;
        let transport = profile.transport(home, MemberRole::Adapter).map_err(|e| home_err(home, e))?;
        let pem = transport.key.to_pkcs8_pem().map_err(|e| home_err(home, e))?;
        let (_, key_der) = custos_primitives::crypto::pem_rfc7468_decode(&pem).map_err(|e| home_err(home, e))?;
        let ca = genesis
            .cas
            .get(&profile.agency)
            .ok_or_else(|| home_err(home, format!("agency {} is not in genesis", profile.agency)))?;
        let trust = Arc::new(custos_api::tls::TrustedCas::new(suite.clone(), genesis.cas.clone()));
        let tls = custos_api::tls::client_config(
            trust,
            vec![transport.cert.der().to_vec(), ca.der().to_vec()],
            key_der.to_vec(),
        )
        .map_err(|e| home_err(home, e))?;
        let addr = node_addr(home, node)?;
        let channel = custos_api::client::channel(&addr, tls)
            .await
            .map_err(|e| AdapterError::Node { addr: addr.clone(), reason: e.to_string() })?;
        let case_key_path = home.join("case.key");
        let case_key = std::fs::read_to_string(&case_key_path).map_err(|e| {
            home_err(home, format!("cannot read the consortium case key {}: {e}", case_key_path.display()))
        })?;
        let decryption = match profile.encryption_key {
            Some(_) => Some(Arc::new(profile.decryption_key(home).map_err(|e| home_err(home, e))?)),
            None => None,
        };
        let signer = Signer {
            chain_id: profile.chain_id.clone(),
            fingerprint: ident.cert.fingerprint(&suite),
            cert_der: ident.cert.der().to_vec(),
            key: Arc::new(ident.key),
            agency: profile.agency.clone(),
            suite,
        };
        Ok(NodeClient {
            ledger: LedgerClient::new(channel.clone()).max_decoding_message_size(64 * 1024 * 1024),
            dossier: custos_api::client::dossier_client(channel),
            addr,
            home: home.to_path_buf(),
            signer,
            case_key: Arc::new(case_key.trim().as_bytes().to_vec()),
            decryption,
        })
    }

    /// The network's suite.
    pub fn suite(&self) -> &AnySuite {
        &self.signer.suite
    }

    /// The adapter's agency.
    pub fn agency(&self) -> &AgencyId {
        &self.signer.agency
    }

    /// The keyed reference of a case number.
    pub fn case_ref(&self, case_number: &str) -> CaseRef {
        CaseRef::derive(self.suite(), &self.case_key, case_number)
    }

    /// The ledger client, for the submitter.
    pub fn ledger(&self) -> LedgerClient<Channel> {
        self.ledger.clone()
    }

    /// Maps a gRPC refusal: unavailable or busy nodes are transient, everything else is too
    /// unless the caller knows better.
    pub fn node_err(&self, s: &tonic::Status) -> AdapterError {
        let kind = s.metadata().get(custos_api::ERROR_KIND_KEY).and_then(|v| v.to_str().ok()).unwrap_or("");
        let reason = if kind.is_empty() {
            format!("{:?}: {}", s.code(), s.message())
        } else {
            format!("{kind}: {}", s.message())
        };
        AdapterError::Node { addr: self.addr.clone(), reason }
    }

    fn bad(&self, reason: impl std::fmt::Display) -> AdapterError {
        AdapterError::BadAnswer { addr: self.addr.clone(), reason: reason.to_string() }
    }

    /// The last committed height.
    pub async fn height(&self) -> Result<u64> {
        let st = self.ledger.clone().status(StatusRequest {}).await.map_err(|e| self.node_err(&e))?.into_inner();
        Ok(st.height)
    }

    /// The adapter signer's account: (registered, next nonce, height read at).
    pub async fn account(&self) -> Result<(bool, u64, u64)> {
        let a = self
            .ledger
            .clone()
            .get_account(GetAccountRequest { signer: self.signer.fingerprint.0.0.to_vec() })
            .await
            .map_err(|e| self.node_err(&e))?
            .into_inner();
        Ok((a.registered, a.next_nonce, a.height))
    }

    /// The agency of a registered member (by certificate fingerprint), as the node says.
    pub async fn member_agency(&self, fp: &CertFingerprint) -> Result<Option<AgencyId>> {
        let a = self
            .ledger
            .clone()
            .get_account(GetAccountRequest { signer: fp.0.0.to_vec() })
            .await
            .map_err(|e| self.node_err(&e))?
            .into_inner();
        if !a.registered || a.agency.is_empty() {
            return Ok(None);
        }
        AgencyId::new(&a.agency).map(Some).map_err(|e| self.bad(e))
    }

    /// Reads a state key with its proof, checked against the header it came with.
    pub async fn read<T: Decode>(&self, key: Vec<u8>) -> Result<Option<T>> {
        let r = self
            .ledger
            .clone()
            .get_state_proof(GetStateProofRequest { key: key.clone(), height: None })
            .await
            .map_err(|e| self.node_err(&e))?
            .into_inner();
        let a = state::check_answer(self.suite(), &key, None, &r.header, r.value.as_deref(), &r.proof)
            .map_err(|e| self.bad(format!("state proof: {e}")))?;
        match &a.value {
            Some(b) => Ok(Some(decode_exact("state value", b, MAX_VALUE).map_err(|e| self.bad(e))?)),
            None => Ok(None),
        }
    }

    /// The anchor record of a document, read with its proof.
    pub async fn anchor(&self, doc: &DocHash) -> Result<Option<AnchorRecord>> {
        self.read(doc_key(doc)).await
    }

    /// The anchor's issuer as the node indexes it (no proof; for filtering only).
    pub async fn anchor_issuer(&self, doc: &DocHash) -> Result<Option<AgencyId>> {
        let r = self
            .ledger
            .clone()
            .get_anchor(GetAnchorRequest { doc_hash: doc.0.0.to_vec() })
            .await
            .map_err(|e| self.node_err(&e))?
            .into_inner();
        if !r.found {
            return Ok(None);
        }
        AgencyId::new(&r.issuer).map(Some).map_err(|e| self.bad(e))
    }

    /// The encryption key of an agency that is to read a document. A record naming an agency
    /// the registry does not know, or one without an encryption key, fails for good.
    pub async fn encryption_key(&self, agency: &AgencyId) -> Result<EncryptionPublicKey> {
        let rec: AgencyRecord = self
            .read(agency_key(agency))
            .await?
            .ok_or_else(|| AdapterError::Record(format!("agency {agency} is not in the ledger's registry")))?;
        if !rec.active {
            return Err(AdapterError::Record(format!("agency {agency} has been removed from the consortium")));
        }
        rec.encryption_key
            .ok_or_else(|| AdapterError::Record(format!("agency {agency} has no encryption key on the ledger")))
    }

    /// A committed transaction's outcome, if committed.
    pub async fn tx(&self, id: &TxId) -> Result<Option<TxOutcome>> {
        let r = self
            .ledger
            .clone()
            .get_tx(GetTxRequest { tx_id: id.0.0.to_vec() })
            .await
            .map_err(|e| self.node_err(&e))?
            .into_inner();
        Ok(r.found.then_some(TxOutcome { height: r.height, ok: r.ok, error: r.error, time_ms: r.block_time_ms }))
    }

    /// A committed block.
    pub async fn block(&self, height: u64) -> Result<Option<Block>> {
        let r = self
            .ledger
            .clone()
            .get_block(GetBlockRequest { height })
            .await
            .map_err(|e| self.node_err(&e))?
            .into_inner();
        if !r.found {
            return Ok(None);
        }
        let b = Block::decode_untrusted(&r.block).map_err(|e| self.bad(e))?;
        if b.header.height != height {
            return Err(self.bad(format!("asked for block {height}, got {}", b.header.height)));
        }
        Ok(Some(b))
    }

    /// The supervision findings against the adapter's own agency.
    pub async fn findings(&self) -> Result<SuperviseResponse> {
        let req =
            SuperviseRequest { agency: Some(self.agency().to_string()), limit: Some(10_000), ..Default::default() };
        Ok(self.ledger.clone().supervise(req).await.map_err(|e| self.node_err(&e))?.into_inner())
    }

    /// Uploads an encrypted document: its chunks from `store`, then the manifest signed with
    /// the adapter's key. If the node already keeps a manifest of this document (an earlier
    /// attempt uploaded it before a crash), that one stays and serves: it describes the same
    /// document id and its chunks are complete, or the node would not have stored it.
    pub async fn upload(&self, store: &ChunkStore, enc: Encrypted) -> Result<SignedManifest> {
        let signed = enc.manifest.sign(&self.signer.key).map_err(|e| AdapterError::Record(e.to_string()))?;
        let mut dc = self.dossier.clone();
        for (i, hash) in signed.manifest.chunks.iter().enumerate() {
            let data = store.get(hash).map_err(|e| AdapterError::Database(format!("scratch store: {e}")))?;
            let got = dc.put_chunk(PutChunkRequest { data }).await.map_err(|e| self.node_err(&e))?.into_inner().hash;
            if got != hash.0.to_vec() {
                return Err(self.bad(format!("stored chunk {i} under {}, expected {hash}", hex::encode(&got))));
            }
        }
        match dc.put_manifest(PutManifestRequest { signed_manifest: signed.encode() }).await {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::AlreadyExists => {
                tracing::debug!(doc = %signed.doc_id(), "the node keeps the manifest of an earlier attempt");
            }
            Err(s) => return Err(self.node_err(&s)),
        }
        Ok(signed)
    }

    /// Fetches an e-dossier addressed to this agency into `out` (written whole or not at
    /// all): the node pulls it from the issuer's node, then every chunk is checked, decrypted
    /// and appended, and `out` appears only once the document hashes to its anchored id.
    pub async fn fetch(&self, doc: &DocHash, out: &Path) -> Result<u64> {
        let key = self.decryption.clone().ok_or_else(|| {
            home_err(&self.home, "the home has no e-dossier decryption key (profile.toml `encryption_key`)")
        })?;
        let mut dc = self.dossier.clone();
        let mut stream =
            dc.pull(PullRequest { doc_id: doc.0.0.to_vec() }).await.map_err(|e| self.node_err(&e))?.into_inner();
        while stream.message().await.map_err(|e| self.node_err(&e))?.is_some() {}
        let bytes = dc
            .get_manifest(GetManifestRequest { doc_id: doc.0.0.to_vec() })
            .await
            .map_err(|e| self.node_err(&e))?
            .into_inner()
            .signed_manifest;
        let signed = SignedManifest::decode_untrusted(&bytes).map_err(|e| self.bad(e))?;
        if signed.doc_id() != *doc {
            return Err(self.bad(format!("the manifest of {} came for {doc}", signed.doc_id())));
        }
        let m = &signed.manifest;
        let content_key = m
            .unwrap_content_key(self.suite(), self.agency(), &key)
            .map_err(|e| AdapterError::Rejected(format!("cannot unwrap the content key of {doc}: {e}")))?;
        let mut dec = Decryptor::new(self.suite(), m, &content_key, out)
            .map_err(|e| AdapterError::Database(format!("cannot write next to {}: {e}", out.display())))?;
        for index in 0..m.chunk_count() {
            let data = dc
                .get_chunk(GetChunkRequest { doc_id: doc.0.0.to_vec(), index })
                .await
                .map_err(|e| self.node_err(&e))?
                .into_inner()
                .data;
            tokio::task::block_in_place(|| dec.push(&data))
                .map_err(|e| self.bad(format!("chunk {index} of {doc}: {e}")))?;
        }
        let stats = tokio::task::block_in_place(|| dec.finish()).map_err(|e| self.bad(format!("{doc}: {e}")))?;
        Ok(stats.bytes)
    }
}
