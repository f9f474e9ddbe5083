//! The node's durable storage, on RocksDB.
//!
//! # Layout
//!
//! One column family per kind of record. Heights are stored as 8 big-endian bytes so that
//! iteration runs in height order.
//!
//! | column family    | key                                   | value                                   |
//! |------------------|---------------------------------------|-----------------------------------------|
//! | `meta`           | small node facts (free-form bytes)    | bytes; `store/*` keys are the store's own |
//! | `blocks`         | height                                | SCALE [`StoredBlock`] (hash + opaque block) |
//! | `block_index`    | block hash (32 bytes)                 | height                                  |
//! | `certs`          | height                                | commit-certificate bytes (opaque)       |
//! | `txs`            | tx id (32 bytes)                      | SCALE [`TxRecord`]                      |
//! | `state`          | contract state key (opaque)           | value (opaque)                          |
//! | `index`          | secondary-index key (opaque)          | value (opaque)                          |
//! | `undecided`      | height ‖ round (4 BE bytes) ‖ hash    | SCALE undecided proposal                |
//! | `validator_sets` | height                                | validator-set bytes (opaque)            |
//! | `jmt_nodes`      | jmt `NodeKey` (borsh: version LE ‖ nibble path) | jmt `Node` (borsh)            |
//! | `jmt_values`     | key hash (32 bytes) ‖ version (8 BE bytes) | `0x00` (deleted) or `0x01` ‖ value |
//!
//! The two `jmt_*` column families hold the authenticated state
//! ([`custos_contracts::state`]): every node of the Jellyfish Merkle tree at every version
//! (version = block height; stale nodes are kept, so proofs at past heights keep working),
//! and every value a key took, by version. `state` keeps the latest values for fast reads.
//!
//! # Durability
//!
//! [`Store::commit`] writes everything a decided block brings — block, hash index, certificate,
//! transactions with their position, state and index writes, the next validator set, the last
//! committed height, and the removal of the undecided proposals it supersedes — in one
//! [`WriteBatch`] written with `sync = true` — including the tree nodes and value history of the
//! block's version (see [`Commit::state_tree`]) —: one fsync per block, and after a crash either all of
//! it is visible or none of it. Undecided proposals, certificate replacements and meta writes are
//! synced too.
//!
//! Every value with several fields is SCALE, decoded with
//! [`custos_primitives::codec::decode_exact`]; a record that does not decode is reported as
//! [`StoreError::Corrupt`], never a panic.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use custos_consensus::misbehaviour::{MAX_MISBEHAVIOUR_BYTES, Misbehaviour};
use custos_contracts::state::{self, LeafNode, Node, NodeBatch, NodeKey, TreeKeyHash, TreeReader, Version};
use custos_primitives::codec::decode_exact;
use custos_primitives::types::{BlockHash, MAX_TX_BYTES, TxId};
use parity_scale_codec::{Decode, Encode};
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Direction, IteratorMode, Options, ReadOptions,
    WriteBatch, WriteOptions,
};

/// Column family of small node facts (genesis hash, schema version, last committed height).
pub const CF_META: &str = "meta";
/// Column family of decided blocks, by height.
pub const CF_BLOCKS: &str = "blocks";
/// Column family mapping a block hash to its height.
pub const CF_BLOCK_INDEX: &str = "block_index";
/// Column family of commit certificates, by height.
pub const CF_CERTS: &str = "certs";
/// Column family of committed transactions, by id.
pub const CF_TXS: &str = "txs";
/// Column family of the contracts' state.
pub const CF_STATE: &str = "state";
/// Column family of secondary indexes (e.g. document hash → tx id).
pub const CF_INDEX: &str = "index";
/// Column family of proposals received but not yet decided.
pub const CF_UNDECIDED: &str = "undecided";
/// Column family of validator sets, by the first height they sign.
pub const CF_VALIDATOR_SETS: &str = "validator_sets";

/// Column family of the state tree's nodes (jmt), by jmt node key.
pub const CF_JMT_NODES: &str = "jmt_nodes";
/// Column family of the state tree's value history: key hash ‖ version → value or deletion.
pub const CF_JMT_VALUES: &str = "jmt_values";

/// Every column family the store opens (besides RocksDB's `default`).
pub const COLUMN_FAMILIES: [&str; 11] = [
    CF_META,
    CF_BLOCKS,
    CF_BLOCK_INDEX,
    CF_CERTS,
    CF_TXS,
    CF_STATE,
    CF_INDEX,
    CF_UNDECIDED,
    CF_VALIDATOR_SETS,
    CF_JMT_NODES,
    CF_JMT_VALUES,
];

/// Version of this layout, recorded in `meta` at creation. A data folder of another version is
/// refused. Version 2 added the state tree (`jmt_nodes`, `jmt_values`).
pub const SCHEMA_VERSION: u32 = 2;

/// Length of a `jmt_values` key: key hash and big-endian version.
const JMT_VALUE_KEY_LEN: usize = 32 + 8;

/// Largest block the store accepts (encoded, opaque to the store).
pub const MAX_BLOCK_BYTES: usize = 32 * 1024 * 1024;

/// Largest opaque "proposed value" stored with an undecided proposal.
pub const MAX_PROPOSED_VALUE_BYTES: usize = 1024 * 1024;

/// Prefix of the `meta` keys the store keeps for itself; [`Store::meta_put`] refuses them.
pub const RESERVED_META_PREFIX: &[u8] = b"store/";

const META_SCHEMA: &[u8] = b"store/schema";
/// Equivocation evidence: `store/misbehaviour/ ‖ height BE ‖ round BE ‖ validator ‖ kind`.
const MISBEHAVIOUR_PREFIX: &[u8] = b"store/misbehaviour/";
const META_LAST_COMMITTED: &[u8] = b"store/last_committed";

/// SCALE overhead allowance for a record: compact length prefixes and fixed fields.
const RECORD_OVERHEAD: usize = 64;
const UNDECIDED_KEY_LEN: usize = 8 + 4 + 32;

/// Errors of the store. Each names where it happened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB could not open (or create) the data folder.
    #[error("cannot open the store at {}: {source}", path.display())]
    Open {
        /// The data folder.
        path: PathBuf,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// A RocksDB read or write failed.
    #[error("store at {}: {op} in column family {cf} failed: {source}", path.display())]
    Db {
        /// The data folder.
        path: PathBuf,
        /// The column family.
        cf: &'static str,
        /// What was being done (`get`, `write`, `iterate`...).
        op: &'static str,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// A column family is missing from an opened database (should not happen: all are created
    /// at open).
    #[error("store at {}: column family {cf} is missing", path.display())]
    MissingColumnFamily {
        /// The data folder.
        path: PathBuf,
        /// The column family.
        cf: &'static str,
    },
    /// The data folder was written with another layout version.
    #[error("store at {}: layout version {found}, this node reads version {expected}", path.display())]
    SchemaMismatch {
        /// The data folder.
        path: PathBuf,
        /// Version found in the folder.
        found: u32,
        /// Version this build writes.
        expected: u32,
    },
    /// A stored record does not decode.
    #[error("corrupt record in column family {cf}, key {key_hex}: {reason}")]
    Corrupt {
        /// The column family.
        cf: &'static str,
        /// The record's key, hex (truncated when long).
        key_hex: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A different block was already committed at this height.
    #[error("conflicting commit at height {height}: block {stored} is committed, refusing block {new}")]
    ConflictingCommit {
        /// The height.
        height: u64,
        /// Hash of the block already committed.
        stored: BlockHash,
        /// Hash of the block offered now.
        new: BlockHash,
    },
    /// A commit was offered out of order.
    #[error(
        "cannot commit height {height}: {}",
        match last_committed {
            Some(last) => format!("last committed height is {last}, the next must be {}", last.saturating_add(1)),
            None => "nothing is committed yet, the first commit must be height 1".to_owned(),
        }
    )]
    UnexpectedHeight {
        /// The height offered.
        height: u64,
        /// The last committed height, if any.
        last_committed: Option<u64>,
    },
    /// The operation needs a committed height and this one is not.
    #[error(
        "height {height} is not committed (last committed: {})",
        last_committed.map_or_else(|| "none".to_owned(), |h| h.to_string())
    )]
    NotCommitted {
        /// The height asked for.
        height: u64,
        /// The last committed height, if any.
        last_committed: Option<u64>,
    },
    /// A height computation overflowed `u64` (a validator set after height `u64::MAX`).
    #[error("height {height} has no successor")]
    HeightOverflow {
        /// The height.
        height: u64,
    },
    /// A record is larger than the store accepts.
    #[error("{what} of {len} bytes exceeds the {max}-byte limit (height {height})")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
        /// The height it belongs to.
        height: u64,
    },
    /// A `meta` key in the store's reserved namespace was written from outside.
    #[error("meta key {key_hex} is reserved by the store (prefix \"store/\")")]
    ReservedMetaKey {
        /// The key, hex.
        key_hex: String,
    },
    /// The genesis validator set differs from the one stored at height 1.
    #[error(
        "the data folder holds another genesis validator set ({stored_len} bytes) than the one given ({given_len} bytes)"
    )]
    GenesisValidatorSetMismatch {
        /// Length of the stored set.
        stored_len: usize,
        /// Length of the given set.
        given_len: usize,
    },
}

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything a decided block brings, written atomically by [`Store::commit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commit {
    /// The decided height (the last committed height plus one, or 1 on an empty store).
    pub height: u64,
    /// The block's hash.
    pub block_hash: BlockHash,
    /// The encoded block (opaque to the store).
    pub block: Vec<u8>,
    /// The encoded commit certificate (opaque to the store).
    pub certificate: Vec<u8>,
    /// The block's transactions in block order: id and encoded transaction.
    pub txs: Vec<(TxId, Vec<u8>)>,
    /// State writes, applied in order: `None` deletes the key.
    pub state_writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// Secondary-index writes, applied in order.
    pub index_writes: Vec<(Vec<u8>, Vec<u8>)>,
    /// The validator set that signs from `height + 1` on, when it changes.
    pub next_validator_set: Option<Vec<u8>>,
    /// The state tree's new nodes and values of this version, from
    /// [`custos_contracts::state::compute_root`] (empty when the caller keeps no tree).
    pub state_tree: NodeBatch,
}

/// What [`Store::commit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The batch was written and synced.
    Written {
        /// Wall time of the synced batch write (the "fsync time" metric).
        write_time: Duration,
        /// Size of the write batch in bytes.
        batch_bytes: usize,
    },
    /// The same block was already committed at this height; nothing was written.
    AlreadyCommitted,
}

/// A committed transaction and its position.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct TxRecord {
    /// Height of the block that holds it.
    pub height: u64,
    /// Its index within the block.
    pub index: u32,
    /// The encoded transaction.
    pub bytes: Vec<u8>,
}

/// A block as stored: its hash (for conflict checks) and its opaque bytes.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct StoredBlock {
    /// The block hash.
    pub hash: BlockHash,
    /// The encoded block.
    pub bytes: Vec<u8>,
}

/// An undecided proposal as stored.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
struct UndecidedRecord {
    block: Vec<u8>,
    proposed_value: Vec<u8>,
}

/// The node's RocksDB store. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Store {
    db: DB,
    path: PathBuf,
    /// Serialises the read-check-write sequences (commit, certificate replacement, undecided
    /// writes, genesis validator set) so two callers cannot interleave them.
    write_lock: Mutex<()>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store at `path`, creating the folder and every column family if missing.
    ///
    /// Records are small, so compression is off; other options are RocksDB's defaults.
    /// A folder written with another [`SCHEMA_VERSION`] is refused.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(DBCompressionType::None);
        let descriptors = COLUMN_FAMILIES.iter().map(|name| {
            let mut cf_opts = Options::default();
            cf_opts.set_compression_type(DBCompressionType::None);
            ColumnFamilyDescriptor::new(*name, cf_opts)
        });
        let db = DB::open_cf_descriptors(&opts, &path, descriptors)
            .map_err(|source| StoreError::Open { path: path.clone(), source })?;
        let store = Store { db, path, write_lock: Mutex::new(()) };
        store.check_schema()?;
        Ok(store)
    }

    /// The data folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last committed height, or `None` on an empty store.
    pub fn last_committed_height(&self) -> Result<Option<u64>> {
        self.get(CF_META, META_LAST_COMMITTED)?.map(|v| decode_height(CF_META, META_LAST_COMMITTED, &v)).transpose()
    }

    /// Commits a decided block and everything it brings in one synced write batch.
    ///
    /// - `c.height` must be the last committed height plus one (or 1 on an empty store):
    ///   otherwise [`StoreError::UnexpectedHeight`].
    /// - Committing an already committed height with the same block hash is a no-op
    ///   ([`CommitOutcome::AlreadyCommitted`]; WAL replay may decide a height twice); with another
    ///   hash it is [`StoreError::ConflictingCommit`].
    /// - Undecided proposals of heights `<= c.height` are deleted in the same batch.
    ///
    /// Returns the wall time of the synced write for the fsync-time metric.
    pub fn commit(&self, c: &Commit) -> Result<CommitOutcome> {
        let _guard = self.lock();
        let last = self.last_committed_height()?;
        match last {
            _ if c.height == 0 => return Err(StoreError::UnexpectedHeight { height: 0, last_committed: last }),
            Some(l) if c.height <= l => {
                let stored = self.block_hash(c.height)?.ok_or_else(|| StoreError::Corrupt {
                    cf: CF_BLOCKS,
                    key_hex: to_hex(&c.height.to_be_bytes()),
                    reason: format!("no block at height {} although {l} is the last committed height", c.height),
                })?;
                return if stored == c.block_hash {
                    Ok(CommitOutcome::AlreadyCommitted)
                } else {
                    Err(StoreError::ConflictingCommit { height: c.height, stored, new: c.block_hash })
                };
            }
            Some(l) if Some(c.height) != l.checked_add(1) => {
                return Err(StoreError::UnexpectedHeight { height: c.height, last_committed: last });
            }
            None if c.height != 1 => {
                return Err(StoreError::UnexpectedHeight { height: c.height, last_committed: None });
            }
            _ => {}
        }
        let batch = self.prepare_commit_batch(c)?;
        let batch_bytes = batch.size_in_bytes();
        let start = Instant::now();
        self.db.write_opt(batch, &synced()).map_err(|source| self.db_err(CF_BLOCKS, "commit write", source))?;
        let write_time = start.elapsed();
        tracing::debug!(height = c.height, txs = c.txs.len(), batch_bytes, ?write_time, "block committed");
        Ok(CommitOutcome::Written { write_time, batch_bytes })
    }

    /// Builds the write batch of a commit (checked for sizes, not for heights).
    fn prepare_commit_batch(&self, c: &Commit) -> Result<WriteBatch> {
        let h = c.height;
        check_len("block", c.block.len(), MAX_BLOCK_BYTES, h)?;
        check_len("transaction count", c.txs.len(), u32::MAX as usize, h)?;
        let key = h.to_be_bytes();
        let mut batch = WriteBatch::default();

        let block = StoredBlock { hash: c.block_hash, bytes: c.block.clone() };
        batch.put_cf(self.cf(CF_BLOCKS)?, key, block.encode());
        batch.put_cf(self.cf(CF_BLOCK_INDEX)?, c.block_hash.0.as_bytes(), key);
        batch.put_cf(self.cf(CF_CERTS)?, key, &c.certificate);

        let txs = self.cf(CF_TXS)?;
        for (index, (id, bytes)) in (0u32..).zip(&c.txs) {
            check_len("transaction", bytes.len(), MAX_TX_BYTES, h)?;
            let record = TxRecord { height: h, index, bytes: bytes.clone() };
            batch.put_cf(txs, id.0.as_bytes(), record.encode());
        }

        let state = self.cf(CF_STATE)?;
        for (k, v) in &c.state_writes {
            match v {
                Some(v) => batch.put_cf(state, k, v),
                None => batch.delete_cf(state, k),
            }
        }
        let index = self.cf(CF_INDEX)?;
        for (k, v) in &c.index_writes {
            batch.put_cf(index, k, v);
        }
        let nodes = self.cf(CF_JMT_NODES)?;
        for (k, n) in c.state_tree.nodes() {
            let key = state::encode_node_key(k).map_err(|e| tree_encoding(k, e))?;
            batch.put_cf(nodes, key, state::encode_node(n).map_err(|e| tree_encoding(k, e))?);
        }
        let values = self.cf(CF_JMT_VALUES)?;
        for ((version, key_hash), v) in c.state_tree.values() {
            batch.put_cf(values, jmt_value_key(key_hash, *version), encode_jmt_value(v.as_deref()));
        }
        if let Some(set) = &c.next_validator_set {
            let next = h.checked_add(1).ok_or(StoreError::HeightOverflow { height: h })?;
            batch.put_cf(self.cf(CF_VALIDATOR_SETS)?, next.to_be_bytes(), set);
        }
        batch.put_cf(self.cf(CF_META)?, META_LAST_COMMITTED, key);
        // Point deletes of this height's proposals only. `put_undecided` refuses committed
        // heights under the same lock, so no older height has any left. (A range delete from
        // key 0 per block piled up overlapping range tombstones that every later read of the
        // column family had to fragment: the time per height grew linearly with the chain.)
        let undecided = self.cf(CF_UNDECIDED)?;
        self.scan_prefix(CF_UNDECIDED, &key, |k, _| {
            batch.delete_cf(undecided, k);
            Ok(true)
        })?;
        Ok(batch)
    }

    /// Replaces the certificate of a committed height (e.g. one with more signatures). Synced.
    pub fn replace_certificate(&self, height: u64, certificate: &[u8]) -> Result<()> {
        let _guard = self.lock();
        let last = self.last_committed_height()?;
        if height == 0 || last.is_none_or(|l| height > l) {
            return Err(StoreError::NotCommitted { height, last_committed: last });
        }
        self.db
            .put_cf_opt(self.cf(CF_CERTS)?, height.to_be_bytes(), certificate, &synced())
            .map_err(|source| self.db_err(CF_CERTS, "put", source))
    }

    /// The block committed at `height`.
    pub fn block(&self, height: u64) -> Result<Option<Vec<u8>>> {
        Ok(self.stored_block(height)?.map(|b| b.bytes))
    }

    /// The hash of the block committed at `height`.
    pub fn block_hash(&self, height: u64) -> Result<Option<BlockHash>> {
        Ok(self.stored_block(height)?.map(|b| b.hash))
    }

    fn stored_block(&self, height: u64) -> Result<Option<StoredBlock>> {
        let key = height.to_be_bytes();
        self.get(CF_BLOCKS, &key)?
            .map(|v| decode_record::<StoredBlock>(CF_BLOCKS, &key, &v, MAX_BLOCK_BYTES + RECORD_OVERHEAD))
            .transpose()
    }

    /// The height at which the block `hash` was committed.
    pub fn block_height(&self, hash: &BlockHash) -> Result<Option<u64>> {
        let key = hash.0.as_bytes();
        self.get(CF_BLOCK_INDEX, key)?.map(|v| decode_height(CF_BLOCK_INDEX, key, &v)).transpose()
    }

    /// The commit certificate stored for `height`.
    pub fn certificate(&self, height: u64) -> Result<Option<Vec<u8>>> {
        self.get(CF_CERTS, &height.to_be_bytes())
    }

    /// A committed transaction and its position.
    pub fn tx(&self, id: &TxId) -> Result<Option<TxRecord>> {
        let key = id.0.as_bytes();
        self.get(CF_TXS, key)?
            .map(|v| decode_record::<TxRecord>(CF_TXS, key, &v, MAX_TX_BYTES + RECORD_OVERHEAD))
            .transpose()
    }

    /// A value of the contracts' state.
    pub fn state_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(CF_STATE, key)
    }

    /// A secondary-index value.
    pub fn index_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(CF_INDEX, key)
    }

    /// Every secondary-index entry whose key starts with `prefix`, in key order.
    pub fn index_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.index_prefix_limited(prefix, usize::MAX)
    }

    /// At most `limit` secondary-index entries whose key starts with `prefix`, in key order
    /// (for queries answered to clients, which should not scan without bound).
    pub fn index_prefix_limited(&self, prefix: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        self.scan_prefix(CF_INDEX, prefix, |k, v| {
            if out.len() >= limit {
                return Ok(false);
            }
            out.push((k.to_vec(), v.to_vec()));
            Ok(true)
        })?;
        Ok(out)
    }

    /// Calls `f(key, value)` for every secondary-index entry whose key starts with `prefix`, in
    /// key order, until it returns `Ok(false)` (a scan that does not hold every entry in memory).
    pub fn index_scan(&self, prefix: &[u8], f: impl FnMut(&[u8], &[u8]) -> Result<bool>) -> Result<()> {
        self.scan_prefix(CF_INDEX, prefix, f)
    }

    /// Calls `f(key, value)` for every state entry whose key starts with `prefix`, in key order,
    /// until it returns `Ok(false)`.
    pub fn state_scan(&self, prefix: &[u8], f: impl FnMut(&[u8], &[u8]) -> Result<bool>) -> Result<()> {
        self.scan_prefix(CF_STATE, prefix, f)
    }

    /// Writes secondary-index entries outside a block commit, in one synced batch (rebuilding
    /// an index from state at startup; a block's own index writes go with its [`Commit`]).
    pub fn index_put_batch(&self, entries: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let _guard = self.lock();
        let index = self.cf(CF_INDEX)?;
        let mut batch = WriteBatch::default();
        for (k, v) in entries {
            batch.put_cf(index, k, v);
        }
        self.db.write_opt(batch, &synced()).map_err(|source| self.db_err(CF_INDEX, "index write", source))
    }

    /// The validator set in force at `height`: the one stored at the greatest height `<= height`
    /// (sets are stored only when they change: genesis at 1, then `h + 1` for a change decided
    /// at `h`).
    pub fn validator_set(&self, height: u64) -> Result<Option<Vec<u8>>> {
        let key = height.to_be_bytes();
        let mut iter = self.db.iterator_cf(self.cf(CF_VALIDATOR_SETS)?, IteratorMode::From(&key, Direction::Reverse));
        match iter.next() {
            None => Ok(None),
            Some(Err(source)) => Err(self.db_err(CF_VALIDATOR_SETS, "iterate", source)),
            Some(Ok((k, v))) => {
                // Keys are heights; checking the length reports a foreign key as corruption.
                let stored = decode_height(CF_VALIDATOR_SETS, &k, &k)?;
                if stored > height {
                    return Err(corrupt(CF_VALIDATOR_SETS, &k, "reverse seek returned a later height".into()));
                }
                Ok(Some(v.into_vec()))
            }
        }
    }

    /// The heights at which a stored validator set comes into force, ascending (1 for the
    /// genesis set, `h + 1` for a change decided at `h`).
    pub fn validator_set_heights(&self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_VALIDATOR_SETS)?, IteratorMode::Start) {
            let (k, _) = item.map_err(|source| self.db_err(CF_VALIDATOR_SETS, "iterate", source))?;
            out.push(decode_height(CF_VALIDATOR_SETS, &k, &k)?);
        }
        Ok(out)
    }

    /// Stores the genesis validator set under height 1 if none is stored (first start). Ok if the
    /// same set is already there; [`StoreError::GenesisValidatorSetMismatch`] if another is.
    pub fn set_genesis_validator_set(&self, set: &[u8]) -> Result<()> {
        let _guard = self.lock();
        let key = 1u64.to_be_bytes();
        match self.get(CF_VALIDATOR_SETS, &key)? {
            Some(stored) if stored == set => Ok(()),
            Some(stored) => {
                Err(StoreError::GenesisValidatorSetMismatch { stored_len: stored.len(), given_len: set.len() })
            }
            None => self
                .db
                .put_cf_opt(self.cf(CF_VALIDATOR_SETS)?, key, set, &synced())
                .map_err(|source| self.db_err(CF_VALIDATOR_SETS, "put", source)),
        }
    }

    /// A small node fact from `meta` (e.g. the genesis hash).
    pub fn meta_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get(CF_META, key)
    }

    /// Writes a small node fact to `meta` (synced). Keys starting with
    /// [`RESERVED_META_PREFIX`] belong to the store and are refused.
    pub fn meta_put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        if key.starts_with(RESERVED_META_PREFIX) {
            return Err(StoreError::ReservedMetaKey { key_hex: to_hex(key) });
        }
        self.db
            .put_cf_opt(self.cf(CF_META)?, key, value, &synced())
            .map_err(|source| self.db_err(CF_META, "put", source))
    }

    /// Records a piece of equivocation evidence (synced). One record is kept per height,
    /// round, validator and kind; recording the same again overwrites it. Returns whether the
    /// record was new.
    pub fn put_misbehaviour(&self, m: &Misbehaviour) -> Result<bool> {
        let mut key = MISBEHAVIOUR_PREFIX.to_vec();
        key.extend_from_slice(&m.height.to_be_bytes());
        key.extend_from_slice(&m.round.to_be_bytes());
        key.extend_from_slice(&m.validator.0.0);
        key.push(m.kind as u8);
        let new = self.get(CF_META, &key)?.is_none();
        self.db
            .put_cf_opt(self.cf(CF_META)?, &key, m.encode(), &synced())
            .map_err(|source| self.db_err(CF_META, "put", source))?;
        Ok(new)
    }

    /// The equivocation evidence recorded, oldest height first (at most `limit` records), and
    /// how many records there are in all.
    pub fn misbehaviour(&self, limit: usize) -> Result<(Vec<Misbehaviour>, usize)> {
        let mut out = Vec::new();
        let mut total = 0usize;
        self.scan_prefix(CF_META, MISBEHAVIOUR_PREFIX, |k, v| {
            total += 1;
            if out.len() < limit {
                let record = decode_exact::<Misbehaviour>("misbehaviour record", v, MAX_MISBEHAVIOUR_BYTES)
                    .map_err(|e| StoreError::Corrupt { cf: CF_META, key_hex: to_hex(k), reason: e.to_string() })?;
                out.push(record);
            }
            Ok(true)
        })?;
        Ok((out, total))
    }

    /// Records a proposal received for `height`/`round` before the node answers consensus
    /// (synced). Returns `false`, storing nothing, when `height` is already committed.
    pub fn put_undecided(
        &self,
        height: u64,
        round: u32,
        block_hash: &BlockHash,
        block: &[u8],
        proposed_value: &[u8],
    ) -> Result<bool> {
        check_len("undecided block", block.len(), MAX_BLOCK_BYTES, height)?;
        check_len("proposed value", proposed_value.len(), MAX_PROPOSED_VALUE_BYTES, height)?;
        let _guard = self.lock();
        if self.last_committed_height()?.is_some_and(|l| height <= l) {
            return Ok(false);
        }
        let record = UndecidedRecord { block: block.to_vec(), proposed_value: proposed_value.to_vec() };
        self.db
            .put_cf_opt(self.cf(CF_UNDECIDED)?, undecided_key(height, round, block_hash), record.encode(), &synced())
            .map_err(|source| self.db_err(CF_UNDECIDED, "put", source))?;
        Ok(true)
    }

    /// The block of an undecided proposal for `height` with this hash, from any round.
    pub fn undecided_block(&self, height: u64, block_hash: &BlockHash) -> Result<Option<Vec<u8>>> {
        let mut found = None;
        self.scan_prefix(CF_UNDECIDED, &height.to_be_bytes(), |k, v| {
            let (_, _, hash) = parse_undecided_key(k)?;
            if hash == *block_hash {
                found = Some(decode_undecided(k, v)?.block);
                return Ok(false);
            }
            Ok(true)
        })?;
        Ok(found)
    }

    /// The undecided proposals of `height`/`round`: block hash and opaque proposed value, in
    /// hash order.
    pub fn undecided_for_round(&self, height: u64, round: u32) -> Result<Vec<(BlockHash, Vec<u8>)>> {
        let mut prefix = [0u8; 12];
        prefix[..8].copy_from_slice(&height.to_be_bytes());
        prefix[8..].copy_from_slice(&round.to_be_bytes());
        let mut out = Vec::new();
        self.scan_prefix(CF_UNDECIDED, &prefix, |k, v| {
            let (_, _, hash) = parse_undecided_key(k)?;
            out.push((hash, decode_undecided(k, v)?.proposed_value));
            Ok(true)
        })?;
        Ok(out)
    }

    /// Deletes the undecided proposals of every height `< height` (synced).
    ///
    /// Point deletes, not a range tombstone: range tombstones stay in the memtable and every
    /// later read of the column family pays for each of them.
    pub fn prune_undecided_below(&self, height: u64) -> Result<()> {
        let _guard = self.lock();
        let mut batch = WriteBatch::default();
        let undecided = self.cf(CF_UNDECIDED)?;
        let mut ro = ReadOptions::default();
        ro.set_iterate_upper_bound(height.to_be_bytes().to_vec());
        for item in self.db.iterator_cf_opt(undecided, ro, IteratorMode::Start) {
            let (k, _) = item.map_err(|source| self.db_err(CF_UNDECIDED, "iterate", source))?;
            batch.delete_cf(undecided, k);
        }
        self.db.write_opt(batch, &synced()).map_err(|source| self.db_err(CF_UNDECIDED, "delete", source))
    }

    /// A node of the state tree.
    pub fn tree_node(&self, key: &NodeKey) -> Result<Option<Node>> {
        let k = state::encode_node_key(key).map_err(|e| tree_encoding(key, e))?;
        self.get(CF_JMT_NODES, &k)?
            .map(|v| state::decode_node(&v).map_err(|e| corrupt(CF_JMT_NODES, &k, e.to_string())))
            .transpose()
    }

    /// The value the state tree holds for `key_hash` at `max_version`: the latest write at or
    /// before that version (`None` if never written or deleted).
    pub fn tree_value(&self, max_version: Version, key_hash: &TreeKeyHash) -> Result<Option<Vec<u8>>> {
        let seek = jmt_value_key(key_hash, max_version);
        let mut iter = self.db.iterator_cf(self.cf(CF_JMT_VALUES)?, IteratorMode::From(&seek, Direction::Reverse));
        match iter.next() {
            None => Ok(None),
            Some(Err(source)) => Err(self.db_err(CF_JMT_VALUES, "iterate", source)),
            Some(Ok((k, v))) => {
                if k.len() != JMT_VALUE_KEY_LEN {
                    return Err(corrupt(CF_JMT_VALUES, &k, format!("expected a {JMT_VALUE_KEY_LEN}-byte key")));
                }
                if k[..32] != key_hash.0 {
                    return Ok(None);
                }
                decode_jmt_value(&k, &v)
            }
        }
    }

    /// The leaf with the greatest key hash among all stored tree nodes (jmt's restore needs it;
    /// the node does not use restore). Scans every node: O(tree size).
    pub fn tree_rightmost_leaf(&self) -> Result<Option<(NodeKey, LeafNode)>> {
        let mut best: Option<(NodeKey, LeafNode)> = None;
        for item in self.db.iterator_cf(self.cf(CF_JMT_NODES)?, IteratorMode::Start) {
            let (k, v) = item.map_err(|source| self.db_err(CF_JMT_NODES, "iterate", source))?;
            if let Node::Leaf(leaf) = state::decode_node(&v).map_err(|e| corrupt(CF_JMT_NODES, &k, e.to_string()))?
                && best.as_ref().is_none_or(|(_, b)| leaf.key_hash() > b.key_hash())
            {
                let key = state::decode_node_key(&k).map_err(|e| corrupt(CF_JMT_NODES, &k, e.to_string()))?;
                best = Some((key, leaf));
            }
        }
        Ok(best)
    }

    // ---- internals ----

    fn lock(&self) -> MutexGuard<'_, ()> {
        // The guarded data is `()`: a panic elsewhere cannot leave it inconsistent.
        self.write_lock.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily> {
        self.db.cf_handle(name).ok_or_else(|| StoreError::MissingColumnFamily { path: self.path.clone(), cf: name })
    }

    fn db_err(&self, cf: &'static str, op: &'static str, source: rocksdb::Error) -> StoreError {
        StoreError::Db { path: self.path.clone(), cf, op, source }
    }

    fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.get_cf(self.cf(cf)?, key).map_err(|source| self.db_err(cf, "get", source))
    }

    /// Calls `f(key, value)` for every key starting with `prefix`, in order, until it returns
    /// `Ok(false)`.
    fn scan_prefix(
        &self,
        cf: &'static str,
        prefix: &[u8],
        mut f: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut ro = ReadOptions::default();
        if let Some(upper) = prefix_successor(prefix) {
            ro.set_iterate_upper_bound(upper);
        }
        let iter = self.db.iterator_cf_opt(self.cf(cf)?, ro, IteratorMode::From(prefix, Direction::Forward));
        for item in iter {
            let (k, v) = item.map_err(|source| self.db_err(cf, "iterate", source))?;
            if !k.starts_with(prefix) || !f(&k, &v)? {
                break;
            }
        }
        Ok(())
    }

    fn check_schema(&self) -> Result<()> {
        match self.get(CF_META, META_SCHEMA)? {
            Some(v) => {
                let bytes: [u8; 4] = v.as_slice().try_into().map_err(|_| {
                    corrupt(CF_META, META_SCHEMA, format!("expected a 4-byte version, found {} bytes", v.len()))
                })?;
                let found = u32::from_be_bytes(bytes);
                if found != SCHEMA_VERSION {
                    return Err(StoreError::SchemaMismatch {
                        path: self.path.clone(),
                        found,
                        expected: SCHEMA_VERSION,
                    });
                }
                Ok(())
            }
            None => self
                .db
                .put_cf_opt(self.cf(CF_META)?, META_SCHEMA, SCHEMA_VERSION.to_be_bytes(), &synced())
                .map_err(|source| self.db_err(CF_META, "put", source)),
        }
    }
}

fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

fn check_len(what: &'static str, len: usize, max: usize, height: u64) -> Result<()> {
    if len > max { Err(StoreError::TooLarge { what, len, max, height }) } else { Ok(()) }
}

/// The smallest key greater than every key starting with `prefix`, if any.
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < 0xff {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

fn undecided_key(height: u64, round: u32, hash: &BlockHash) -> Vec<u8> {
    let mut k = Vec::with_capacity(UNDECIDED_KEY_LEN);
    k.extend_from_slice(&height.to_be_bytes());
    k.extend_from_slice(&round.to_be_bytes());
    k.extend_from_slice(hash.0.as_bytes());
    k
}

fn parse_undecided_key(k: &[u8]) -> Result<(u64, u32, BlockHash)> {
    let bad = || corrupt(CF_UNDECIDED, k, format!("expected a {UNDECIDED_KEY_LEN}-byte key, found {} bytes", k.len()));
    if k.len() != UNDECIDED_KEY_LEN {
        return Err(bad());
    }
    let height = u64::from_be_bytes(k[..8].try_into().map_err(|_| bad())?);
    let round = u32::from_be_bytes(k[8..12].try_into().map_err(|_| bad())?);
    let hash: [u8; 32] = k[12..].try_into().map_err(|_| bad())?;
    Ok((height, round, BlockHash(custos_primitives::Hash(hash))))
}

fn decode_undecided(k: &[u8], v: &[u8]) -> Result<UndecidedRecord> {
    decode_record(CF_UNDECIDED, k, v, MAX_BLOCK_BYTES + MAX_PROPOSED_VALUE_BYTES + RECORD_OVERHEAD)
}

fn decode_height(cf: &'static str, key: &[u8], v: &[u8]) -> Result<u64> {
    let bytes: [u8; 8] = v
        .try_into()
        .map_err(|_| corrupt(cf, key, format!("expected an 8-byte big-endian height, found {} bytes", v.len())))?;
    Ok(u64::from_be_bytes(bytes))
}

fn decode_record<T: Decode>(cf: &'static str, key: &[u8], v: &[u8], max: usize) -> Result<T> {
    decode_exact::<T>(cf, v, max).map_err(|e| corrupt(cf, key, e.to_string()))
}

/// Reads the state tree from the store, for [`custos_contracts::state`].
impl TreeReader for Store {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        Ok(self.tree_node(node_key)?)
    }

    fn get_value_option(&self, max_version: Version, key_hash: TreeKeyHash) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.tree_value(max_version, &key_hash)?)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        Ok(self.tree_rightmost_leaf()?)
    }
}

fn jmt_value_key(key_hash: &TreeKeyHash, version: Version) -> [u8; JMT_VALUE_KEY_LEN] {
    let mut k = [0u8; JMT_VALUE_KEY_LEN];
    k[..32].copy_from_slice(&key_hash.0);
    k[32..].copy_from_slice(&version.to_be_bytes());
    k
}

fn encode_jmt_value(v: Option<&[u8]>) -> Vec<u8> {
    match v {
        None => vec![0],
        Some(v) => [&[1u8][..], v].concat(),
    }
}

fn decode_jmt_value(k: &[u8], v: &[u8]) -> Result<Option<Vec<u8>>> {
    match v.split_first() {
        Some((0, [])) => Ok(None),
        Some((1, rest)) => Ok(Some(rest.to_vec())),
        _ => Err(corrupt(CF_JMT_VALUES, k, "expected 0x00 or 0x01 ‖ value".into())),
    }
}

fn tree_encoding(key: &NodeKey, e: state::StateError) -> StoreError {
    StoreError::Corrupt { cf: CF_JMT_NODES, key_hex: format!("{key:?}"), reason: e.to_string() }
}

fn corrupt(cf: &'static str, key: &[u8], reason: String) -> StoreError {
    StoreError::Corrupt { cf, key_hex: to_hex(key), reason }
}

/// Lower-case hex of a key, truncated after 64 bytes.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    const SHOWN: usize = 64;
    let mut s = String::with_capacity(bytes.len().min(SHOWN) * 2 + 3);
    for b in bytes.iter().take(SHOWN) {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    if bytes.len() > SHOWN {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use custos_primitives::Hash;

    fn hash(b: u8) -> BlockHash {
        BlockHash(Hash([b; 32]))
    }

    fn commit_at(height: u64) -> Commit {
        Commit {
            height,
            block_hash: hash(height as u8),
            block: vec![height as u8; 10],
            certificate: b"cert".to_vec(),
            txs: vec![(TxId(Hash([0xa0u8.wrapping_add(height as u8); 32])), b"tx".to_vec())],
            state_writes: vec![(b"k".to_vec(), Some(vec![height as u8]))],
            index_writes: vec![(b"i".to_vec(), b"v".to_vec())],
            next_validator_set: None,
            state_tree: NodeBatch::default(),
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
        assert_eq!(prefix_successor(b""), None);
        assert_eq!(to_hex(&[0x00, 0xab]), "00ab");
        assert!(to_hex(&[0u8; 100]).ends_with('…'));
        let k = undecided_key(7, 3, &hash(9));
        assert_eq!(parse_undecided_key(&k).unwrap(), (7, 3, hash(9)));
        assert!(matches!(parse_undecided_key(&k[1..]), Err(StoreError::Corrupt { .. })));
    }

    /// A batch built in full but never written (a crash before the write) leaves nothing.
    #[test]
    fn prepared_batch_never_written_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let suite = custos_primitives::crypto::AnySuite::with_defaults(custos_primitives::crypto::SuiteId::Sm);
            let mut c = commit_at(1);
            c.state_tree = state::compute_root(&suite, &store, &c.state_writes, 1).unwrap().1;
            assert!(!c.state_tree.nodes().is_empty());
            let batch = store.prepare_commit_batch(&c).unwrap();
            assert!(!batch.is_empty());
            drop(batch);
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.last_committed_height().unwrap(), None);
        assert_eq!(store.block(1).unwrap(), None);
        assert_eq!(store.certificate(1).unwrap(), None);
        assert_eq!(store.state_get(b"k").unwrap(), None);
        assert_eq!(store.index_get(b"i").unwrap(), None);
        assert_eq!(store.block_height(&hash(1)).unwrap(), None);
        assert_eq!(store.tree_rightmost_leaf().unwrap(), None);
        let suite = custos_primitives::crypto::AnySuite::with_defaults(custos_primitives::crypto::SuiteId::Sm);
        assert!(matches!(state::root_at(&suite, &store, 1), Err(state::StateError::MissingRoot { height: 1 })));
    }

    #[test]
    fn tree_value_history_reads_the_latest_version_at_or_before() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let k = TreeKeyHash([5; 32]);
        let mut c1 = commit_at(1);
        c1.state_tree.insert_value(1, k, b"one".to_vec());
        c1.state_tree.insert_value(1, TreeKeyHash([6; 32]), b"next key".to_vec());
        store.commit(&c1).unwrap();
        let mut c2 = commit_at(2);
        c2.state_tree.extend([], [((3, k), None)]);
        store.commit(&c2).unwrap();
        assert_eq!(store.tree_value(0, &k).unwrap(), None);
        assert_eq!(store.tree_value(1, &k).unwrap(), Some(b"one".to_vec()));
        assert_eq!(store.tree_value(2, &k).unwrap(), Some(b"one".to_vec()));
        assert_eq!(store.tree_value(3, &k).unwrap(), None);
        assert_eq!(store.tree_value(u64::MAX, &k).unwrap(), None);
        assert_eq!(store.tree_value(9, &TreeKeyHash([4; 32])).unwrap(), None);
        assert_eq!(store.tree_value(9, &TreeKeyHash([6; 32])).unwrap(), Some(b"next key".to_vec()));
        assert_eq!(decode_jmt_value(b"k", &encode_jmt_value(Some(b""))).unwrap(), Some(vec![]));
        assert!(decode_jmt_value(b"k", &[]).is_err());
        assert!(decode_jmt_value(b"k", &[0, 1]).is_err());
    }

    #[test]
    fn height_zero_and_overflow_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert!(matches!(
            store.commit(&commit_at(0)),
            Err(StoreError::UnexpectedHeight { height: 0, last_committed: None })
        ));
        let mut c = commit_at(u64::MAX);
        c.next_validator_set = Some(vec![1]);
        assert!(matches!(store.prepare_commit_batch(&c), Err(StoreError::HeightOverflow { .. })));
    }

    #[test]
    fn oversized_records_are_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut c = commit_at(1);
        c.txs.push((TxId(Hash([1; 32])), vec![0; MAX_TX_BYTES + 1]));
        assert!(matches!(store.commit(&c), Err(StoreError::TooLarge { what: "transaction", height: 1, .. })));
        assert_eq!(store.last_committed_height().unwrap(), None);
        assert!(matches!(
            store.put_undecided(1, 0, &hash(1), b"b", &vec![0; MAX_PROPOSED_VALUE_BYTES + 1]),
            Err(StoreError::TooLarge { what: "proposed value", .. })
        ));
    }

    #[test]
    fn error_messages_name_heights() {
        let e = StoreError::UnexpectedHeight { height: 5, last_committed: Some(2) };
        assert_eq!(e.to_string(), "cannot commit height 5: last committed height is 2, the next must be 3");
        let e = StoreError::UnexpectedHeight { height: 5, last_committed: None };
        assert!(e.to_string().contains("first commit must be height 1"));
    }
}
