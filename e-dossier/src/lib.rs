//! The e-dossier: case files sent between agencies off-chain, encrypted so that only the
//! addressed agencies can read them, with a signed manifest whose document id is the hash
//! anchored on the ledger.
//!
//! This crate is the part that needs no node: the [`manifest`] format, streaming
//! encryption and decryption with bounded memory ([`crypt`]) and a content-addressed chunk
//! store on disk ([`store`]). Transfer between nodes builds on [`ChunkStore::missing`] (what
//! a resumed transfer still needs) and [`ChunkStore::put_expected`] (accept a chunk only if
//! it is the one the manifest names).
//!
//! # Flow
//!
//! 1. The issuing clerk calls [`encrypt_file`]: a fresh random content key is drawn, the
//!    document is read one chunk at a time, each chunk is sealed and written to the store,
//!    and the salted document hash ([`DocHash`]) is computed on the way. The result is an
//!    unsigned [`Manifest`] listing the ciphertext hash of every chunk and the content key
//!    wrapped to every recipient agency's encryption key.
//! 2. The clerk signs it ([`Manifest::sign`]) and the node keeps the [`SignedManifest`]
//!    ([`ChunkStore::put_manifest`]); the document id is anchored on chain.
//! 3. A recipient verifies the signature with the clerk's public key
//!    ([`SignedManifest::verify`]), unwraps the content key with its agency's decryption key
//!    ([`Manifest::unwrap_content_key`]) and calls [`decrypt_to`] (chunks in a store) or
//!    feeds the chunks in order to a [`Decryptor`] as they arrive (from a network), which
//!    checks every chunk and the whole-document hash before the output file appears.
//! 4. To let another agency read the document later (a grant on the ledger), the issuer
//!    unwraps the content key from its own entry, wraps it to that agency
//!    ([`Manifest::add_recipient`]) and signs the result again. The new manifest *extends*
//!    the old one ([`Manifest::extends`]: same document and chunks, every existing wrapped key
//!    byte-identical, recipients a strict superset), and only such a manifest may replace a
//!    stored one ([`ChunkStore::replace_manifest`]). Revoking the grant cannot take the
//!    wrapped key back; it only stops further downloads.
//!
//! ```
//! use custos_dossier::{ChunkStore, DocTypeCode, EncryptParams, MediaType, decrypt_to, encrypt};
//! use custos_primitives::crypto::{AnySuite, Hash, Suite, SuiteId};
//! use custos_primitives::types::{AgencyId, CaseRef, CertFingerprint};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let suite = AnySuite::with_defaults(SuiteId::Sm);
//! # let dir = tempfile::tempdir()?;
//! let store = ChunkStore::open(dir.path().join("dossiers"), suite.clone())?;
//! let justice = AgencyId::new("justice-230102")?;
//! let justice_key = suite.generate_decryption_key()?; // the bureau's encryption key pair
//! let clerk_key = suite.generate_signing_key()?; // the court clerk's certified key
//!
//! // At the court: encrypt (a file would go through `encrypt_file`), sign, keep.
//! let params = EncryptParams::new(
//!     MediaType::new("application/pdf")?,
//!     DocTypeCode::new("JUDGMENT")?,
//!     CaseRef(Hash([7; 32])),
//!     AgencyId::new("court-230102")?,
//!     CertFingerprint(Hash([9; 32])),
//!     vec![(justice.clone(), justice_key.public_key())],
//! )?;
//! let document = b"%PDF-1.7 ...";
//! let enc = encrypt(&store, &params, &document[..], document.len() as u64, &mut |_, _| {})?;
//! let signed = enc.manifest.sign(&clerk_key)?;
//! store.put_manifest(&signed)?; // signed.doc_id() is what gets anchored
//!
//! // At the justice bureau, once the chunks have arrived:
//! signed.verify(&suite, &clerk_key.public_key())?;
//! let key = signed.manifest.unwrap_content_key(&suite, &justice, &justice_key)?;
//! let out = dir.path().join("judgment.pdf");
//! decrypt_to(&store, &signed.manifest, &key, &out, &mut |done, total| eprintln!("{done}/{total}"))?;
//! assert_eq!(std::fs::read(&out)?, document);
//! # Ok(())
//! # }
//! ```
//!
//! # Nonce scheme, and why it is safe
//!
//! Chunks are sealed with the suite's AEAD (SM4-GCM or AES-256-GCM, 96-bit nonces).
//! Chunk `i` uses the nonce `0x00000000 ‖ u64_be(i)` ([`chunk_nonce`]). A GCM nonce must
//! never repeat under one key; here every document gets its own content key, drawn from the
//! operating system's RNG inside [`encrypt`] and never accepted from the caller, and within
//! a document each index is used exactly once. So no (key, nonce) pair ever repeats;
//! encrypting the same file again draws a new key.
//! Random 128-bit (SM4) or 256-bit (AES) keys collide with negligible probability (birthday
//! bound 2^64 documents for SM4). A document has at most [`MAX_CHUNKS`] chunks of at most
//! [`MAX_CHUNK_SIZE`] bytes, far below GCM's limits of 2^32 invocations per key and
//! 2^36 − 32 bytes per message.
//!
//! The associated data of chunk `i` is ([`chunk_aad`])
//!
//! ```text
//! "custos/dossier-chunk/v1" ‖ salt (32 bytes) ‖ u64_be(i) ‖ is_last (0x00 or 0x01)
//! ```
//!
//! - *position*: the index is in the nonce and in the associated data, so a chunk moved to
//!   another index does not open;
//! - *truncation*: only the last chunk is sealed with `is_last = 1`, so dropping trailing
//!   chunks (and shrinking the size to match) leaves a final chunk that does not open;
//! - *document*: chunks of another document were sealed under another key and with another
//!   salt (the random per-document salt that also goes into the anchored hash). The salt
//!   rather than the document id is bound because the document id is the hash of the whole
//!   plaintext, known only after the last chunk was read: binding it would need two passes
//!   over the file (and a file that changes between them).
//!
//! These AEAD bindings are a second line: the signed manifest already lists the ciphertext
//! hash of every chunk in order, [`decrypt_to`] checks each one, and the plaintext's salted
//! hash must equal the document id at the end. GCM is not key-committing, so the final
//! document-hash check is what rules out a malicious issuer crafting a chunk that opens
//! differently under two keys.
//!
//! # Store layout
//!
//! ```text
//! <root>/chunks/<first 2 hex digits>/<64 hex digits>   one ciphertext chunk, named by
//!                                                      H("custos/dossier-ciphertext/v1" ‖ ciphertext)
//! <root>/manifests/<64 hex digits of the doc id>       SCALE(SignedManifest)
//! ```
//!
//! Every file is written atomically: a temporary file `.tmp-<random>` in the same directory,
//! written and fsynced, renamed into place, then the directory fsynced. Readers never see a
//! partial file; a crash can leave a `.tmp-*` file behind, which readers ignore. Chunks are
//! verified against their name on every read, so a store can check its content without any
//! key, and a flipped bit on disk is reported as [`DossierError::Corrupt`].
//!
//! # Manifest format (version 1, SCALE, frozen by golden vectors)
//!
//! | field | type | notes |
//! |---|---|---|
//! | `version` | `u8` | `1` |
//! | `suite` | `SuiteId` | `0` = sm, `1` = intl; hashes and AEAD of the document |
//! | `doc_id` | `DocHash` (32 bytes) | `H("custos/doc/v1" ‖ salt ‖ plaintext)`, the anchored hash |
//! | `salt` | `Salt` (32 bytes) | |
//! | `size` | `u64` | plaintext bytes |
//! | `chunk_size` | `u32` | plaintext bytes per chunk (default 1 MiB) |
//! | `media_type` | bounded string ≤ 127 | e.g. `application/pdf` |
//! | `doc_type` | bounded string ≤ 32, `A-Z0-9_` | same encoding as the contracts' `DocType` |
//! | `case_ref` | `CaseRef` (32 bytes) | |
//! | `issuer` | `AgencyId` | |
//! | `clerk` | `CertFingerprint` (32 bytes) | the signing clerk's certificate |
//! | `chunks` | `BoundedVec<Hash, 16384>` | ciphertext hash of each chunk, in order |
//! | `recipients` | `BoundedVec<(AgencyId, BoundedVec<u8, 256>), 32>` | wrapped content key per agency, sorted, unique |
//!
//! A document of `size` bytes has `max(1, ⌈size / chunk_size⌉)` chunks: an empty document
//! still has one (empty) sealed chunk. The clerk signs `"custos/dossier-manifest/v1" ‖
//! SCALE(manifest)`; a [`SignedManifest`] is `SCALE(manifest) ‖ SCALE(signature)`.
//! [`SignedManifest::decode_untrusted`] bounds the input, requires it to be consumed
//! completely and checks every invariant above.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(missing_docs)]

pub mod crypt;
pub mod manifest;
pub mod store;

use std::path::PathBuf;

use custos_primitives::codec::CodecError;
use custos_primitives::crypto::{CryptoError, Hash, SuiteId};
use custos_primitives::types::{AgencyId, DocHash};

pub use crypt::{
    CHUNK_AAD_TAG, Decryptor, EncryptParams, Encrypted, StreamStats, chunk_aad, chunk_nonce, decrypt_to, encrypt,
    encrypt_file, open_chunk, seal_chunk,
};
pub use manifest::{
    DEFAULT_CHUNK_SIZE, DocTypeCode, MANIFEST_SIGNING_TAG, MANIFEST_VERSION, MAX_CHUNK_SIZE, MAX_CHUNKS,
    MAX_RECIPIENTS, MAX_WRAPPED_KEY_LEN, MIN_CHUNK_SIZE, Manifest, MediaType, Recipient, SignedManifest,
    media_type_of_name,
};
pub use store::{CHUNK_HASH_TAG, ChunkStore};

/// Result of this crate's operations.
pub type Result<T, E = DossierError> = core::result::Result<T, E>;

/// Everything that can go wrong with a dossier. Variants carry the chunk index, hash or path
/// concerned.
#[derive(Debug, thiserror::Error)]
pub enum DossierError {
    /// A file-system operation failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "rename", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Reading the document being encrypted failed.
    #[error("cannot read the document after {offset} bytes: {source}")]
    Source {
        /// Bytes read successfully before the error.
        offset: u64,
        /// The OS error.
        source: std::io::Error,
    },
    /// A crypto operation failed outside a chunk (key generation, signing, key wrapping).
    #[error("{what}: {source}")]
    Crypto {
        /// What was being done.
        what: &'static str,
        /// The crypto layer's error.
        source: CryptoError,
    },
    /// Untrusted bytes are not a valid encoding.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A bounded text field (media type, document type) is invalid.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidText {
        /// Which field.
        what: &'static str,
        /// The rejected value (truncated).
        value: String,
        /// Why.
        reason: String,
    },
    /// The manifest's format version is not one this build reads.
    #[error("manifest version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version found.
        found: u8,
        /// Version supported.
        supported: u8,
    },
    /// The manifest is internally inconsistent.
    #[error("invalid manifest: {reason}")]
    InvalidManifest {
        /// What is wrong.
        reason: String,
    },
    /// The chunk size is outside the accepted range.
    #[error("chunk size {chunk_size} is outside {min}..={max} bytes")]
    ChunkSize {
        /// Size given.
        chunk_size: u32,
        /// Smallest accepted.
        min: u32,
        /// Largest accepted.
        max: u32,
    },
    /// The number of chunks does not match the size and chunk size.
    #[error("manifest lists {found} chunks, but {size} bytes in chunks of {chunk_size} need {expected}")]
    ChunkCount {
        /// Plaintext size.
        size: u64,
        /// Chunk size.
        chunk_size: u32,
        /// Chunks needed.
        expected: u64,
        /// Chunks listed.
        found: usize,
    },
    /// The document is too large for one manifest.
    #[error("document exceeds {max} bytes ({max_chunks} chunks of {chunk_size} bytes)")]
    TooLarge {
        /// Largest size at this chunk size.
        max: u64,
        /// Chunk limit.
        max_chunks: u32,
        /// Chunk size.
        chunk_size: u32,
    },
    /// The recipient list is empty, too long, unsorted or has duplicates.
    #[error("invalid recipients: {reason}")]
    Recipients {
        /// What is wrong.
        reason: String,
    },
    /// Wrapping the content key to a recipient failed (e.g. a key of the other suite).
    #[error("cannot wrap the content key to {agency}: {source}")]
    Wrap {
        /// The recipient.
        agency: AgencyId,
        /// The crypto layer's error.
        source: CryptoError,
    },
    /// The agency is not among the manifest's recipients.
    #[error("agency {agency} is not a recipient of document {doc_id}")]
    NotARecipient {
        /// The agency asking.
        agency: AgencyId,
        /// The document.
        doc_id: DocHash,
    },
    /// The wrapped key does not open with the given decryption key.
    #[error("cannot unwrap the content key of document {doc_id} for {agency}: {source}")]
    Unwrap {
        /// The recipient entry used.
        agency: AgencyId,
        /// The document.
        doc_id: DocHash,
        /// The crypto layer's error.
        source: CryptoError,
    },
    /// The manifest, key or store belong to different crypto suites.
    #[error("{what} uses the {found} suite, expected {expected}")]
    WrongSuite {
        /// What was presented.
        what: &'static str,
        /// Suite expected.
        expected: SuiteId,
        /// Suite found.
        found: SuiteId,
    },
    /// The manifest signature does not verify under the clerk's key.
    #[error("manifest signature of document {doc_id} does not verify: {source}")]
    BadSignature {
        /// The document.
        doc_id: DocHash,
        /// The crypto layer's error.
        source: CryptoError,
    },
    /// A chunk the manifest lists is not in the store.
    #[error("chunk {index} ({hash}) is missing from the store")]
    ChunkMissing {
        /// Chunk index.
        index: u32,
        /// Its ciphertext hash.
        hash: Hash,
    },
    /// A chunk's ciphertext does not hash to what the manifest lists.
    #[error("chunk {index}: ciphertext hash is {found}, the manifest lists {expected}")]
    ChunkMismatch {
        /// Chunk index.
        index: u32,
        /// Hash in the manifest.
        expected: Hash,
        /// Hash of the bytes found.
        found: Hash,
    },
    /// A chunk's ciphertext has the wrong length for its position.
    #[error("chunk {index}: ciphertext is {found} bytes, expected {expected}")]
    ChunkLength {
        /// Chunk index.
        index: u32,
        /// Expected ciphertext length.
        expected: u64,
        /// Length found.
        found: u64,
    },
    /// A chunk failed authenticated decryption (wrong key, moved, swapped or truncated).
    #[error("chunk {index} does not decrypt: wrong key, or a chunk moved, swapped or truncated")]
    Decrypt {
        /// Chunk index.
        index: u32,
    },
    /// A chunk could not be sealed.
    #[error("chunk {index} could not be encrypted: {source}")]
    Encrypt {
        /// Chunk index.
        index: u32,
        /// The crypto layer's error.
        source: CryptoError,
    },
    /// The decrypted document does not hash to the manifest's document id.
    #[error("decrypted document hashes to {found}, the manifest's document id is {expected}")]
    DocumentHash {
        /// Document id in the manifest.
        expected: DocHash,
        /// Hash of the decrypted bytes.
        found: DocHash,
    },
    /// A stored chunk's content does not match its name.
    #[error("stored chunk {} is corrupt: content does not hash to {hash}", path.display())]
    Corrupt {
        /// The name (expected hash).
        hash: Hash,
        /// The file.
        path: PathBuf,
    },
    /// A chunk is larger than any valid chunk.
    #[error("chunk {hash} is {len} bytes, more than the {max}-byte limit ({})", path.display())]
    ChunkTooLarge {
        /// The chunk.
        hash: Hash,
        /// Its file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A requested chunk is not in the store.
    #[error("chunk {hash} is not in the store ({})", path.display())]
    NotFound {
        /// The chunk.
        hash: Hash,
        /// Where it would be.
        path: PathBuf,
    },
    /// Bytes offered for a chunk do not hash to the expected value.
    #[error("offered chunk hashes to {found}, expected {expected}")]
    HashMismatch {
        /// Hash expected.
        expected: Hash,
        /// Hash of the bytes.
        found: Hash,
    },
    /// A different manifest for the same document is already stored.
    #[error("a different manifest for document {doc_id} is already stored at {}", path.display())]
    ManifestConflict {
        /// The document.
        doc_id: DocHash,
        /// The stored file.
        path: PathBuf,
    },
    /// A manifest offered to replace the stored one is not an extension of it.
    #[error("the new manifest of document {doc_id} does not extend the stored one: {reason}")]
    NotAnExtension {
        /// The document.
        doc_id: DocHash,
        /// What differs.
        reason: String,
    },
    /// There is no stored manifest to replace.
    #[error("no manifest of document {doc_id} is stored")]
    NoManifest {
        /// The document.
        doc_id: DocHash,
    },
    /// A stored manifest file holds another document's manifest.
    #[error("{} holds the manifest of document {found}, not {expected}", path.display())]
    ManifestMisplaced {
        /// The document asked for.
        expected: DocHash,
        /// The document found.
        found: DocHash,
        /// The file.
        path: PathBuf,
    },
    /// The output path has no file name.
    #[error("output path {} has no file name", path.display())]
    OutputPath {
        /// The path given.
        path: PathBuf,
    },
}

impl DossierError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| DossierError::Io { op, path, source }
    }
}
