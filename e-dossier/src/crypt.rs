//! Streaming encryption and decryption of documents, one chunk in memory at a time.
//!
//! The nonce scheme and the associated data are described (and argued) in the crate
//! documentation; [`chunk_nonce`] and [`chunk_aad`] are the definitions.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use custos_primitives::codec::BoundedVec;
use custos_primitives::crypto::{AEAD_NONCE_LEN, AeadKey, AnySuite, EncryptionPublicKey, Hash, Suite};
use custos_primitives::types::{AgencyId, CaseRef, CertFingerprint, DocHasher, Salt};

use crate::manifest::{
    DEFAULT_CHUNK_SIZE, DocTypeCode, MANIFEST_VERSION, MAX_CHUNKS, Manifest, MediaType, Recipient, check_chunk_size,
    check_recipient_order,
};
use crate::store::{ChunkStore, RawChunk, chunk_name, sync_dir, temp_path};
use crate::{DossierError, Result};

/// Domain tag at the start of every chunk's associated data.
pub const CHUNK_AAD_TAG: &[u8] = b"custos/dossier-chunk/v1";

/// Length of a chunk's associated data.
pub const CHUNK_AAD_LEN: usize = CHUNK_AAD_TAG.len() + 32 + 8 + 1;

/// The nonce of chunk `index`: four zero bytes, then the index as a big-endian `u64`.
/// Unique per chunk of a document; safe because every document has its own fresh key.
pub fn chunk_nonce(index: u32) -> [u8; AEAD_NONCE_LEN] {
    let mut n = [0u8; AEAD_NONCE_LEN];
    n[4..].copy_from_slice(&u64::from(index).to_be_bytes());
    n
}

/// The associated data of chunk `index`:
/// `CHUNK_AAD_TAG ‖ salt ‖ u64_be(index) ‖ is_last as u8`.
pub fn chunk_aad(salt: &Salt, index: u32, is_last: bool) -> [u8; CHUNK_AAD_LEN] {
    let mut aad = [0u8; CHUNK_AAD_LEN];
    let (tag, rest) = aad.split_at_mut(CHUNK_AAD_TAG.len());
    tag.copy_from_slice(CHUNK_AAD_TAG);
    let (s, rest) = rest.split_at_mut(32);
    s.copy_from_slice(&salt.0);
    let (i, last) = rest.split_at_mut(8);
    i.copy_from_slice(&u64::from(index).to_be_bytes());
    last[0] = u8::from(is_last);
    aad
}

/// Seals one chunk: `ciphertext ‖ tag`, [`AEAD_TAG_LEN`](custos_primitives::crypto::AEAD_TAG_LEN) bytes longer than `plaintext`.
pub fn seal_chunk(
    suite: &impl Suite,
    key: &AeadKey,
    salt: &Salt,
    index: u32,
    is_last: bool,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    suite
        .seal(key, &chunk_nonce(index), &chunk_aad(salt, index, is_last), plaintext)
        .map_err(|source| DossierError::Encrypt { index, source })
}

/// Opens one chunk sealed by [`seal_chunk`]; [`DossierError::Decrypt`] names the index if
/// the key, position, document or last-chunk flag do not match.
pub fn open_chunk(
    suite: &impl Suite,
    key: &AeadKey,
    salt: &Salt,
    index: u32,
    is_last: bool,
    ciphertext: &[u8],
) -> Result<Vec<u8>> {
    suite
        .open(key, &chunk_nonce(index), &chunk_aad(salt, index, is_last), ciphertext)
        .map_err(|_| DossierError::Decrypt { index })
}

/// What describes a document to encrypt (everything in the manifest but what encryption
/// computes).
#[derive(Debug, Clone)]
pub struct EncryptParams {
    /// The salt of the document hash: random per document ([`Salt::random`]).
    pub salt: Salt,
    /// Plaintext bytes per chunk ([`DEFAULT_CHUNK_SIZE`] unless there is a reason).
    pub chunk_size: u32,
    /// Media type of the document.
    pub media_type: MediaType,
    /// Document type code.
    pub doc_type: DocTypeCode,
    /// Pseudonymous case reference.
    pub case_ref: CaseRef,
    /// The issuing agency.
    pub issuer: AgencyId,
    /// Fingerprint of the clerk's certificate (who will sign the manifest).
    pub clerk: CertFingerprint,
    /// The agencies that may read the document, with their encryption keys (any order, no
    /// duplicates). Include the issuing agency if it should be able to read it back.
    pub recipients: Vec<(AgencyId, EncryptionPublicKey)>,
}

impl EncryptParams {
    /// Parameters with a fresh random salt and the default chunk size.
    pub fn new(
        media_type: MediaType,
        doc_type: DocTypeCode,
        case_ref: CaseRef,
        issuer: AgencyId,
        clerk: CertFingerprint,
        recipients: Vec<(AgencyId, EncryptionPublicKey)>,
    ) -> Result<Self> {
        let salt = Salt::random().map_err(|source| DossierError::Crypto { what: "drawing a salt", source })?;
        Ok(EncryptParams {
            salt,
            chunk_size: DEFAULT_CHUNK_SIZE,
            media_type,
            doc_type,
            case_ref,
            issuer,
            clerk,
            recipients,
        })
    }
}

/// Counters of one streaming pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Chunks processed.
    pub chunks: u32,
    /// Plaintext bytes processed.
    pub bytes: u64,
    /// Most bytes held in chunk buffers at any one time (allocated capacity of the plaintext
    /// and ciphertext buffers): about two chunks, whatever the document size.
    pub peak_buffer_bytes: usize,
}

impl StreamStats {
    fn hold(&mut self, buffers: &[&Vec<u8>]) {
        let held: usize = buffers.iter().map(|b| b.capacity()).sum();
        self.peak_buffer_bytes = self.peak_buffer_bytes.max(held);
    }
}

/// The result of [`encrypt`]: the unsigned manifest, the content key (wrapped inside the
/// manifest for each recipient; keep it only as long as needed) and the counters.
#[derive(Debug)]
pub struct Encrypted {
    /// The manifest, to be signed by the clerk.
    pub manifest: Manifest,
    /// The document's content key.
    pub content_key: AeadKey,
    /// Counters of the pass.
    pub stats: StreamStats,
}

/// Encrypts the document read from `reader` into `store`, one chunk at a time, under a
/// fresh random content key, with the store's suite.
///
/// The reader is consumed to its end; at most one chunk plus one byte of look-ahead is
/// read before the chunk is sealed and written. `total` is only for `progress` (the
/// document size if known, else 0); `progress(done, total)` is called after every chunk.
/// On failure the chunks already written are removed.
pub fn encrypt<R: Read>(
    store: &ChunkStore,
    params: &EncryptParams,
    mut reader: R,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Encrypted> {
    let suite = store.suite();
    check_chunk_size(params.chunk_size)?;
    let content_key =
        suite.generate_aead_key().map_err(|source| DossierError::Crypto { what: "drawing a content key", source })?;
    let recipients = wrap_for_recipients(store, &params.recipients, &content_key)?;

    let mut written: Vec<Hash> = Vec::new();
    let result = encrypt_chunks(store, params, &content_key, &mut reader, total, progress, &mut written);
    let (doc_id, size, stats) = match result {
        Ok(r) => r,
        Err(e) => {
            // Best effort: the chunks are useless without the manifest, and no other
            // document can share them (another key).
            for h in &written {
                let _ = store.remove(h);
            }
            return Err(e);
        }
    };
    let chunks = BoundedVec::try_from(written).map_err(|_| too_large(params.chunk_size))?;
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        suite: suite.id(),
        doc_id,
        salt: params.salt,
        size,
        chunk_size: params.chunk_size,
        media_type: params.media_type.clone(),
        doc_type: params.doc_type.clone(),
        case_ref: params.case_ref,
        issuer: params.issuer.clone(),
        clerk: params.clerk,
        chunks,
        recipients,
    };
    manifest.validate()?;
    Ok(Encrypted { manifest, content_key, stats })
}

/// [`encrypt`] of a file, with its current length as the progress total.
pub fn encrypt_file(
    store: &ChunkStore,
    params: &EncryptParams,
    path: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Encrypted> {
    let file = File::open(path).map_err(DossierError::io("open", path))?;
    let total = file.metadata().map_err(DossierError::io("stat", path))?.len();
    encrypt(store, params, file, total, progress)
}

fn too_large(chunk_size: u32) -> DossierError {
    DossierError::TooLarge { max: u64::from(MAX_CHUNKS) * u64::from(chunk_size), max_chunks: MAX_CHUNKS, chunk_size }
}

fn wrap_for_recipients(
    store: &ChunkStore,
    recipients: &[(AgencyId, EncryptionPublicKey)],
    content_key: &AeadKey,
) -> Result<BoundedVec<Recipient, custos_primitives::codec::ConstU32<{ crate::manifest::MAX_RECIPIENTS }>>> {
    let mut sorted: Vec<&(AgencyId, EncryptionPublicKey)> = recipients.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    check_recipient_order(sorted.iter().map(|r| &r.0))?;
    let mut out = Vec::with_capacity(sorted.len());
    for (agency, key) in sorted {
        let wrapped = store
            .suite()
            .wrap_key(key, content_key)
            .map_err(|source| DossierError::Wrap { agency: agency.clone(), source })?;
        let len = wrapped.len();
        let wrapped_key = BoundedVec::try_from(wrapped).map_err(|_| DossierError::Recipients {
            reason: format!("wrapped key for {agency} is {len} bytes, over the limit"),
        })?;
        out.push(Recipient { agency: agency.clone(), wrapped_key });
    }
    BoundedVec::try_from(out).map_err(|_| DossierError::Recipients { reason: "too many recipients".into() })
}

/// Fills `buf` (already holding `start` bytes) up to `want` bytes or the end of input.
fn fill(reader: &mut impl Read, buf: &mut Vec<u8>, want: usize, offset: u64) -> Result<()> {
    let mut filled = buf.len();
    buf.resize(want, 0);
    while filled < want {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => return Err(DossierError::Source { offset: offset + filled as u64, source }),
        }
    }
    buf.truncate(filled);
    Ok(())
}

/// Reads one byte of look-ahead: `None` at the end of input.
fn peek_byte(reader: &mut impl Read, offset: u64) -> Result<Option<u8>> {
    let mut one = [0u8; 1];
    loop {
        match reader.read(&mut one) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(one[0])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => return Err(DossierError::Source { offset, source }),
        }
    }
}

fn encrypt_chunks(
    store: &ChunkStore,
    params: &EncryptParams,
    key: &AeadKey,
    reader: &mut impl Read,
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
    written: &mut Vec<Hash>,
) -> Result<(custos_primitives::types::DocHash, u64, StreamStats)> {
    let suite = store.suite();
    let chunk_size = params.chunk_size as usize;
    let mut hasher = DocHasher::new(suite, &params.salt);
    let mut buf: Vec<u8> = Vec::with_capacity(chunk_size);
    let mut carry: Option<u8> = None;
    let mut done: u64 = 0;
    let mut stats = StreamStats::default();
    for index in 0u32.. {
        if index >= MAX_CHUNKS {
            return Err(too_large(params.chunk_size));
        }
        buf.clear();
        buf.extend(carry.take());
        fill(reader, &mut buf, chunk_size, done)?;
        let is_last = if buf.len() < chunk_size {
            true
        } else {
            carry = peek_byte(reader, done + buf.len() as u64)?;
            carry.is_none()
        };
        hasher.update(&buf);
        let sealed = seal_chunk(suite, key, &params.salt, index, is_last, &buf)?;
        stats.hold(&[&buf, &sealed]);
        let hash = store.put(&sealed)?;
        drop(sealed);
        written.push(hash);
        done += buf.len() as u64;
        stats.chunks = index + 1;
        stats.bytes = done;
        progress(done, total.max(done));
        if is_last {
            break;
        }
    }
    Ok((hasher.finalize(), done, stats))
}

/// A temporary output file removed on drop unless it was renamed into place.
struct TempOutput {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Streaming decryption of one document into a file, for chunks that arrive in order from
/// anywhere (a store, a network).
///
/// Each chunk given to [`push`](Self::push) is checked against the ciphertext hash and length
/// the manifest lists for the next index, opened, hashed and appended to a temporary file next
/// to the output path. [`finish`](Self::finish) requires every chunk, checks the whole
/// document's salted hash against the manifest's document id, fsyncs the file, renames it onto
/// the output path (replacing any file there) and fsyncs the directory. Dropped before that,
/// the temporary file is removed and nothing appears at the output path. One chunk is held at
/// a time. The manifest is validated but its signature is not checked here: verify it first.
pub struct Decryptor<'a> {
    suite: &'a AnySuite,
    manifest: &'a Manifest,
    key: &'a AeadKey,
    out_path: PathBuf,
    dir: PathBuf,
    tmp: TempOutput,
    file: File,
    hasher: DocHasher,
    next: u32,
    stats: StreamStats,
}

impl std::fmt::Debug for Decryptor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("doc_id", &self.manifest.doc_id)
            .field("out_path", &self.out_path)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl<'a> Decryptor<'a> {
    /// Starts decrypting `manifest`'s document with `content_key` towards `out_path`: creates
    /// the temporary file next to it.
    pub fn new(suite: &'a AnySuite, manifest: &'a Manifest, content_key: &'a AeadKey, out_path: &Path) -> Result<Self> {
        if manifest.suite != suite.id() {
            return Err(DossierError::WrongSuite { what: "manifest", expected: suite.id(), found: manifest.suite });
        }
        manifest.validate()?;
        let Some(name) = out_path.file_name() else {
            return Err(DossierError::OutputPath { path: out_path.to_path_buf() });
        };
        let dir = match out_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut tmp = TempOutput { path: temp_path(&dir, &format!("{}-", name.to_string_lossy()))?, armed: false };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp.path)
            .map_err(DossierError::io("create", &tmp.path))?;
        tmp.armed = true;
        Ok(Decryptor {
            suite,
            manifest,
            key: content_key,
            out_path: out_path.to_path_buf(),
            dir,
            tmp,
            file,
            hasher: DocHasher::new(suite, &manifest.salt),
            next: 0,
            stats: StreamStats::default(),
        })
    }

    /// The index of the chunk [`push`](Self::push) expects next.
    pub fn next_index(&self) -> u32 {
        self.next
    }

    /// Counters so far.
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// Checks, opens and appends the next chunk's ciphertext. Errors name the chunk index.
    pub fn push(&mut self, ciphertext: &[u8]) -> Result<()> {
        let index = self.next;
        let n = self.manifest.chunk_count();
        let Some(expected) = self.manifest.chunks.get(index as usize) else {
            return Err(DossierError::InvalidManifest {
                reason: format!("chunk {index} was given, but the manifest lists {n} chunks"),
            });
        };
        let cipher_len = self.manifest.chunk_cipher_len(index).unwrap_or(0);
        let found = chunk_name(self.suite, ciphertext);
        if found != *expected {
            return Err(DossierError::ChunkMismatch { index, expected: *expected, found });
        }
        if ciphertext.len() as u64 != cipher_len {
            return Err(DossierError::ChunkLength { index, expected: cipher_len, found: ciphertext.len() as u64 });
        }
        let pt = open_chunk(self.suite, self.key, &self.manifest.salt, index, index + 1 == n, ciphertext)?;
        self.stats.peak_buffer_bytes = self.stats.peak_buffer_bytes.max(ciphertext.len() + pt.capacity());
        self.hasher.update(&pt);
        self.file.write_all(&pt).map_err(DossierError::io("write", &self.tmp.path))?;
        self.next = index + 1;
        self.stats.chunks = self.next;
        self.stats.bytes += pt.len() as u64;
        Ok(())
    }

    /// Checks that every chunk was given and that the document hashes to the manifest's
    /// document id, then moves the file into place durably.
    pub fn finish(mut self) -> Result<StreamStats> {
        let n = self.manifest.chunk_count();
        if self.next != n {
            let index = self.next;
            let hash = self.manifest.chunks.get(index as usize).copied().unwrap_or(Hash([0; 32]));
            return Err(DossierError::ChunkMissing { index, hash });
        }
        let found = self.hasher.finalize();
        if found != self.manifest.doc_id {
            return Err(DossierError::DocumentHash { expected: self.manifest.doc_id, found });
        }
        self.file.sync_all().map_err(DossierError::io("fsync", &self.tmp.path))?;
        drop(self.file);
        fs::rename(&self.tmp.path, &self.out_path).map_err(DossierError::io("rename into place", &self.out_path))?;
        self.tmp.armed = false;
        sync_dir(&self.dir)?;
        Ok(self.stats)
    }
}

/// Decrypts the document of `manifest` from `store` into `out_path`.
///
/// Every chunk is read (bounded by its expected length), checked against the ciphertext
/// hash the manifest lists, opened, hashed and appended to a temporary file next to
/// `out_path` ([`Decryptor`]). When the whole document's salted hash equals the manifest's
/// document id, the file is fsynced and renamed onto `out_path` (replacing any file there),
/// and the directory is fsynced. On any failure nothing is left at `out_path` (an existing
/// file there is untouched) and the error names the chunk index where it applies. The
/// manifest is validated but its signature is not checked here: verify it first.
pub fn decrypt_to(
    store: &ChunkStore,
    manifest: &Manifest,
    content_key: &AeadKey,
    out_path: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<StreamStats> {
    let mut dec = Decryptor::new(store.suite(), manifest, content_key, out_path)?;
    for (index, expected) in (0u32..).zip(manifest.chunks.iter()) {
        let cipher_len = manifest.chunk_cipher_len(index).unwrap_or(0);
        let ct = match store.read_raw(expected, cipher_len)? {
            RawChunk::Missing => return Err(DossierError::ChunkMissing { index, hash: *expected }),
            RawChunk::TooLarge { len } => {
                return Err(DossierError::ChunkLength { index, expected: cipher_len, found: len });
            }
            RawChunk::Bytes(b) => b,
        };
        dec.push(&ct)?;
        drop(ct);
        progress(dec.stats().bytes, manifest.size);
    }
    dec.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nonce_layout() {
        assert_eq!(chunk_nonce(0), [0u8; 12]);
        assert_eq!(hex::encode(chunk_nonce(0x0102_0304)), "000000000000000001020304");
    }

    #[test]
    fn aad_layout() {
        let aad = chunk_aad(&Salt([0xab; 32]), 5, true);
        assert_eq!(&aad[..CHUNK_AAD_TAG.len()], CHUNK_AAD_TAG);
        assert_eq!(&aad[CHUNK_AAD_TAG.len()..CHUNK_AAD_TAG.len() + 32], &[0xab; 32]);
        assert_eq!(&aad[CHUNK_AAD_LEN - 9..], &[0, 0, 0, 0, 0, 0, 0, 5, 1]);
        assert_ne!(chunk_aad(&Salt([0xab; 32]), 5, false), aad);
    }

    #[test]
    fn fill_and_peek_handle_short_reads() {
        // A reader that returns one byte at a time.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() || out.is_empty() {
                    return Ok(0);
                }
                out[0] = self.0[0];
                self.0 = &self.0[1..];
                Ok(1)
            }
        }
        let mut r = Trickle(b"abcdefg");
        let mut buf = Vec::with_capacity(4);
        fill(&mut r, &mut buf, 4, 0).unwrap();
        assert_eq!(buf, b"abcd");
        assert_eq!(peek_byte(&mut r, 4).unwrap(), Some(b'e'));
        buf.clear();
        buf.push(b'e');
        fill(&mut r, &mut buf, 4, 4).unwrap();
        assert_eq!(buf, b"efg");
        assert_eq!(peek_byte(&mut r, 7).unwrap(), None);
    }
}
