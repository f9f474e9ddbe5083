//! The fixture world of the targets that need a chain: a consortium's genesis (generated once
//! by `custos-testnet` and committed as `fixtures/world.scale`, so every run sees the same
//! keys and fingerprints) and the state after its first block, which wrote the genesis
//! registry and registered a clerk and an admin of each of the five agencies.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use parity_scale_codec::{Decode, Encode};

use custos_contracts::runtime::{self, GENESIS_KEY, Runtime, txres_key};
use custos_contracts::{Call, RegisterMemberCall, SignedTx};
use custos_primitives::codec::decode_exact;
use custos_primitives::crypto::{Hash, PublicKey, Signature, Suite};
use custos_primitives::genesis::{Genesis, ValidatedGenesis};
use custos_primitives::types::CertFingerprint;
use custos_primitives::x509::Certificate;

use crate::CallRecord;

/// The committed fixture: SCALE of [`Fixture`].
const FIXTURE: &[u8] = include_bytes!("../fixtures/world.scale");

/// What `fixtures/world.scale` holds.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Fixture {
    /// The genesis file (canonical JSON).
    pub genesis: Vec<u8>,
    /// Member certificates (DER) registered by the first block, in order.
    pub members: Vec<Vec<u8>>,
    /// The first block's time (ms since the epoch); later blocks follow it.
    pub time_ms: u64,
}

impl Fixture {
    /// Decodes the committed fixture.
    pub fn committed() -> Option<Fixture> {
        decode_exact("fuzz fixture", FIXTURE, 1 << 20).ok()
    }
}

/// A runtime with committed state, after the first block.
#[derive(Debug)]
pub struct World {
    /// The runtime of the fixture's genesis.
    pub runtime: Runtime,
    /// The validated genesis.
    pub genesis: ValidatedGenesis,
    /// Its hash.
    pub genesis_hash: Hash,
    /// Committed state after block [`World::height`].
    pub state: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The last block's height (1).
    pub height: u64,
    /// The last block's time (ms).
    pub time_ms: u64,
    /// The registered members: fingerprint and public key.
    pub members: Vec<(CertFingerprint, PublicKey)>,
}

/// A signer no registry knows.
const UNKNOWN_SIGNER: CertFingerprint = CertFingerprint(Hash([0xee; 32]));

/// The fixture world, built once per process; `None` if the committed fixture is unusable
/// (the test suite checks that it is not).
pub fn world() -> Option<&'static World> {
    static WORLD: OnceLock<Option<World>> = OnceLock::new();
    WORLD.get_or_init(|| World::build().ok()).as_ref()
}

impl World {
    /// Builds the world from the committed fixture; the error says what is wrong with it.
    pub fn build() -> Result<World, String> {
        let f = Fixture::committed().ok_or("fixtures/world.scale does not decode")?;
        World::from_fixture(&f)
    }

    /// Builds the world from a fixture.
    pub fn from_fixture(f: &Fixture) -> Result<World, String> {
        let text = std::str::from_utf8(&f.genesis).map_err(|e| e.to_string())?;
        let genesis = Genesis::from_json(text).map_err(|e| e.to_string())?.validate().map_err(|e| e.to_string())?;
        let runtime = Runtime::new(&genesis);
        let suite = genesis.suite.clone();
        let mut members = Vec::new();
        let mut txs = Vec::new();
        for der in &f.members {
            let cert = Certificate::from_der(der).map_err(|e| e.to_string())?;
            let fp = cert.fingerprint(&suite);
            members.push((fp, *cert.public_key()));
            let certificate = der.clone().try_into().map_err(|_| "member certificate too long".to_owned())?;
            let tx = SignedTx {
                chain_id: runtime.chain_id().clone(),
                signer: fp,
                nonce: 0,
                valid_until: u64::MAX,
                call: Call::RegisterMember(RegisterMemberCall { certificate }),
                signature: Signature { suite: suite.id(), bytes: [0; 64] },
            };
            txs.push(tx.encode());
        }
        let empty = BTreeMap::new();
        let outcome = runtime
            .execute_block(&empty, 1, f.time_ms, &txs, &|_| true)
            .map_err(|(i, e)| format!("registration {i}: {e}"))?;
        for (id, o) in &outcome.outcomes {
            if let Err(e) = &o.result {
                return Err(format!("registration {id} failed: {e}"));
            }
        }
        let mut state = BTreeMap::new();
        apply(&mut state, outcome.writes);
        if !state.contains_key(GENESIS_KEY) {
            return Err("the first block did not write the genesis registry".into());
        }
        Ok(World { genesis_hash: genesis.hash, runtime, genesis, state, height: 1, time_ms: f.time_ms, members })
    }

    /// The last block's time in seconds.
    pub fn time_s(&self) -> i64 {
        i64::try_from(self.time_ms / 1000).unwrap_or(i64::MAX)
    }

    /// The members' public keys.
    pub fn member_keys(&self) -> Vec<PublicKey> {
        self.members.iter().map(|(_, k)| *k).collect()
    }

    /// The agency CA certificates of the genesis.
    pub fn cas(&self) -> impl Iterator<Item = &Certificate> {
        self.genesis.cas.values()
    }

    /// The signer a record's selector names.
    fn signer(&self, sel: u8) -> CertFingerprint {
        if sel == 0xff || self.members.is_empty() {
            return UNKNOWN_SIGNER;
        }
        self.members.get(usize::from(sel) % self.members.len()).map_or(UNKNOWN_SIGNER, |(fp, _)| *fp)
    }

    /// Executes `records` as blocks on a copy of the committed state. Returns a transcript of
    /// what happened (per block: its writes and outcomes, or the envelope error), for the
    /// determinism check.
    #[allow(clippy::panic)] // the invariants of `call_dispatch`
    pub fn run(&self, records: &[CallRecord]) -> Transcript {
        let suite = self.runtime.suite().clone();
        let mut state = self.state.clone();
        let mut height = self.height;
        let mut time_ms = self.time_ms;
        let mut transcript = Transcript::default();
        let mut block: Vec<Vec<u8>> = Vec::new();
        let mut pending: HashMap<CertFingerprint, u64> = HashMap::new();
        let mut flush = |state: &mut BTreeMap<Vec<u8>, Vec<u8>>,
                         block: &mut Vec<Vec<u8>>,
                         pending: &mut HashMap<CertFingerprint, u64>,
                         height: &mut u64,
                         time_ms: u64| {
            if block.is_empty() {
                return;
            }
            *height += 1;
            match self.runtime.execute_block(&*state, *height, time_ms, block, &|_| true) {
                Ok(outcome) => {
                    for (id, o) in &outcome.outcomes {
                        let key = txres_key(id);
                        let stored = outcome.writes.iter().find(|(k, _)| *k == key).and_then(|(_, v)| v.clone());
                        let Some(stored) = stored else {
                            panic!("call dispatch: no result written for transaction {id}");
                        };
                        match decode_exact::<runtime::TxOutcome>("outcome", &stored, 1 << 20) {
                            Ok(d) if d == *o => {}
                            other => panic!("call dispatch: the stored result of {id} reads back as {other:?}"),
                        }
                        o.encode_to(&mut transcript.bytes);
                        match o.result {
                            Ok(_) => transcript.calls_ok += 1,
                            Err(_) => transcript.calls_failed += 1,
                        }
                    }
                    outcome.writes.encode_to(&mut transcript.bytes);
                    outcome.next_validators.encode_to(&mut transcript.bytes);
                    apply(state, outcome.writes);
                }
                Err((i, e)) => {
                    transcript.blocks_refused += 1;
                    let line = format!("block {height}: transaction {i} refused: {e:?}");
                    transcript.bytes.extend_from_slice(line.as_bytes());
                }
            }
            block.clear();
            pending.clear();
        };
        for r in records {
            let days = u64::from(r.flags >> 2);
            if r.flags & 1 == 1 || days > 0 {
                flush(&mut state, &mut block, &mut pending, &mut height, time_ms);
                time_ms = time_ms.saturating_add(days * 86_400_000 + 5_000);
            }
            let signer = self.signer(r.signer);
            let next = match pending.get(&signer) {
                Some(n) => *n,
                None => Runtime::next_nonce(&state, &signer),
            };
            let nonce = if r.flags & 2 == 2 { next.wrapping_add(7) } else { next };
            pending.insert(signer, nonce.wrapping_add(1));
            let tx = SignedTx {
                chain_id: self.runtime.chain_id().clone(),
                signer,
                nonce,
                valid_until: height + 100,
                call: r.call.clone(),
                signature: Signature { suite: suite.id(), bytes: [0; 64] },
            };
            block.push(tx.encode());
        }
        flush(&mut state, &mut block, &mut pending, &mut height, time_ms);
        transcript
    }
}

/// What [`World::run`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    /// Every block's outcomes, writes and validator change, or why it was refused.
    pub bytes: Vec<u8>,
    /// Calls that succeeded.
    pub calls_ok: usize,
    /// Calls included with a failure.
    pub calls_failed: usize,
    /// Blocks refused for an envelope failure.
    pub blocks_refused: usize,
}

fn apply(state: &mut BTreeMap<Vec<u8>, Vec<u8>>, writes: Vec<(Vec<u8>, Option<Vec<u8>>)>) {
    for (k, v) in writes {
        match v {
            Some(v) => {
                state.insert(k, v);
            }
            None => {
                state.remove(&k);
            }
        }
    }
}
