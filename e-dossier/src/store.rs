//! A content-addressed store of ciphertext chunks and signed manifests on disk.
//!
//! Layout (see the crate documentation): `root/chunks/<2 hex>/<64 hex>` and
//! `root/manifests/<64 hex>`. Every write is atomic (temporary file in the target directory,
//! fsync, rename, fsync of the directory); every chunk read is bounded and verified against
//! the chunk's name.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use parity_scale_codec::Encode;

use custos_primitives::crypto::{AEAD_TAG_LEN, AnySuite, Hash, Suite, random_bytes};
use custos_primitives::types::DocHash;

use crate::manifest::{MAX_CHUNK_SIZE, Manifest, SignedManifest};
use crate::{DossierError, Result};

/// Domain tag of chunk names: a chunk is stored under `H(CHUNK_HASH_TAG ‖ ciphertext)`.
pub const CHUNK_HASH_TAG: &[u8] = b"custos/dossier-ciphertext/v1";

/// Largest chunk file accepted: the largest chunk plus the AEAD tag.
pub const MAX_CHUNK_BYTES: u64 = MAX_CHUNK_SIZE as u64 + AEAD_TAG_LEN as u64;

const TMP_PREFIX: &str = ".tmp-";

/// Outcome of a bounded read of a chunk file.
pub(crate) enum RawChunk {
    /// No such file.
    Missing,
    /// The file is longer than the bound.
    TooLarge {
        /// Its length.
        len: u64,
    },
    /// The file's bytes.
    Bytes(Vec<u8>),
}

/// Encrypted chunks and signed manifests under one directory, for one network's suite.
#[derive(Debug, Clone)]
pub struct ChunkStore {
    root: PathBuf,
    suite: AnySuite,
    /// Serialises manifest writes in this process, so that two extensions of one manifest
    /// cannot both pass the check against the same stored version.
    manifest_lock: Arc<Mutex<()>>,
}

impl ChunkStore {
    /// Opens (creating if needed) the store at `root`. `suite` is the network's suite; it
    /// names chunks and is the suite of every document encrypted into this store.
    pub fn open(root: impl Into<PathBuf>, suite: AnySuite) -> Result<Self> {
        let root = root.into();
        for dir in [root.join("chunks"), root.join("manifests")] {
            if !dir.is_dir() {
                fs::create_dir_all(&dir).map_err(DossierError::io("create directory", &dir))?;
                sync_dir(&root)?;
            }
        }
        Ok(ChunkStore { root, suite, manifest_lock: Arc::new(Mutex::new(())) })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The store's crypto suite.
    pub fn suite(&self) -> &AnySuite {
        &self.suite
    }

    /// The name of a chunk: `H(CHUNK_HASH_TAG ‖ ciphertext)`.
    pub fn chunk_hash(&self, ciphertext: &[u8]) -> Hash {
        chunk_name(&self.suite, ciphertext)
    }

    /// Where the chunk named `hash` lives.
    pub fn chunk_path(&self, hash: &Hash) -> PathBuf {
        let hex = hash.to_hex();
        self.root.join("chunks").join(&hex[..2]).join(hex)
    }

    /// Where the manifest of `doc_id` lives.
    pub fn manifest_path(&self, doc_id: &DocHash) -> PathBuf {
        self.root.join("manifests").join(doc_id.0.to_hex())
    }

    /// Stores a ciphertext chunk and returns its name. Idempotent: an intact copy already
    /// present is kept; a corrupt one is replaced.
    pub fn put(&self, ciphertext: &[u8]) -> Result<Hash> {
        let len = ciphertext.len() as u64;
        let hash = self.chunk_hash(ciphertext);
        let path = self.chunk_path(&hash);
        if len > MAX_CHUNK_BYTES {
            return Err(DossierError::ChunkTooLarge { hash, path, len, max: MAX_CHUNK_BYTES });
        }
        if let RawChunk::Bytes(existing) = read_bounded(&path, MAX_CHUNK_BYTES)?
            && existing == ciphertext
        {
            return Ok(hash);
        }
        let dir = parent_of(&path)?;
        if !dir.is_dir() {
            fs::create_dir_all(dir).map_err(DossierError::io("create directory", dir))?;
            sync_dir(&self.root.join("chunks"))?;
        }
        write_atomic(&path, ciphertext)?;
        Ok(hash)
    }

    /// Stores a chunk received from elsewhere only if it hashes to `expected` (the name the
    /// manifest lists).
    pub fn put_expected(&self, expected: &Hash, ciphertext: &[u8]) -> Result<()> {
        let found = self.chunk_hash(ciphertext);
        if &found != expected {
            return Err(DossierError::HashMismatch { expected: *expected, found });
        }
        self.put(ciphertext).map(|_| ())
    }

    /// Reads the chunk named `hash`, refusing files over [`MAX_CHUNK_BYTES`] and verifying
    /// that the content hashes to its name ([`DossierError::Corrupt`] otherwise).
    pub fn get(&self, hash: &Hash) -> Result<Vec<u8>> {
        let path = self.chunk_path(hash);
        match read_bounded(&path, MAX_CHUNK_BYTES)? {
            RawChunk::Missing => Err(DossierError::NotFound { hash: *hash, path }),
            RawChunk::TooLarge { len } => {
                Err(DossierError::ChunkTooLarge { hash: *hash, path, len, max: MAX_CHUNK_BYTES })
            }
            RawChunk::Bytes(bytes) => {
                if &self.chunk_hash(&bytes) != hash {
                    return Err(DossierError::Corrupt { hash: *hash, path });
                }
                Ok(bytes)
            }
        }
    }

    /// Reads a chunk file of at most `max` bytes without verifying it (the caller does, and
    /// reports the chunk index).
    pub(crate) fn read_raw(&self, hash: &Hash, max: u64) -> Result<RawChunk> {
        read_bounded(&self.chunk_path(hash), max)
    }

    /// Whether a chunk named `hash` is present (its content is not verified).
    pub fn has(&self, hash: &Hash) -> Result<bool> {
        let path = self.chunk_path(hash);
        path.try_exists().map_err(DossierError::io("check", path))
    }

    /// Deletes a chunk (e.g. one found corrupt, before fetching it again). Returns whether
    /// it was present.
    pub fn remove(&self, hash: &Hash) -> Result<bool> {
        let path = self.chunk_path(hash);
        match fs::remove_file(&path) {
            Ok(()) => {
                sync_dir(parent_of(&path)?)?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(DossierError::Io { op: "remove", path, source: e }),
        }
    }

    /// The indices of the manifest's chunks that are absent: what a resumed transfer still
    /// needs, in order.
    pub fn missing(&self, manifest: &Manifest) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        for (i, h) in (0u32..).zip(manifest.chunks.iter()) {
            if !self.has(h)? {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// Stores a signed manifest under its document id. Storing the same manifest again is a
    /// no-op; a different manifest for the same document id is refused
    /// ([`DossierError::ManifestConflict`]). The signature is not checked here.
    pub fn put_manifest(&self, signed: &SignedManifest) -> Result<()> {
        let m = &signed.manifest;
        if m.suite != self.suite.id() {
            return Err(DossierError::WrongSuite { what: "manifest", expected: self.suite.id(), found: m.suite });
        }
        m.validate()?;
        let bytes = signed.encode();
        let path = self.manifest_path(&m.doc_id);
        let _guard = self
            .manifest_lock
            .lock()
            .map_err(|_| DossierError::InvalidManifest { reason: "the manifest lock is poisoned".into() })?;
        match read_bounded(&path, SignedManifest::max_encoded_bytes() as u64)? {
            RawChunk::Missing => write_atomic(&path, &bytes),
            RawChunk::Bytes(existing) if existing == bytes => Ok(()),
            _ => Err(DossierError::ManifestConflict { doc_id: m.doc_id, path }),
        }
    }

    /// Replaces the stored manifest of a document with an *extension* of it
    /// ([`Manifest::extends`]: the same document with more recipients, every existing wrapped
    /// key unchanged), written atomically. Returns `false` if `signed` is already the stored
    /// manifest, `true` if it replaced it. Fails with [`DossierError::NoManifest`] if nothing
    /// is stored and [`DossierError::NotAnExtension`] if `signed` does not extend the stored
    /// manifest (e.g. an older one). The signature is not checked here.
    pub fn replace_manifest(&self, signed: &SignedManifest) -> Result<bool> {
        let m = &signed.manifest;
        if m.suite != self.suite.id() {
            return Err(DossierError::WrongSuite { what: "manifest", expected: self.suite.id(), found: m.suite });
        }
        m.validate()?;
        let _guard = self
            .manifest_lock
            .lock()
            .map_err(|_| DossierError::InvalidManifest { reason: "the manifest lock is poisoned".into() })?;
        let stored = self.manifest(&m.doc_id)?.ok_or(DossierError::NoManifest { doc_id: m.doc_id })?;
        if &stored == signed {
            return Ok(false);
        }
        m.extends(&stored.manifest)?;
        write_atomic(&self.manifest_path(&m.doc_id), &signed.encode())?;
        Ok(true)
    }

    /// The signed manifest of `doc_id`, if stored (decoded as untrusted bytes and checked to
    /// be the manifest of that document).
    pub fn manifest(&self, doc_id: &DocHash) -> Result<Option<SignedManifest>> {
        let path = self.manifest_path(doc_id);
        let max = SignedManifest::max_encoded_bytes() as u64;
        let bytes = match read_bounded(&path, max)? {
            RawChunk::Missing => return Ok(None),
            RawChunk::TooLarge { len } => {
                return Err(DossierError::InvalidManifest {
                    reason: format!("{} is {len} bytes, more than the {max}-byte limit", path.display()),
                });
            }
            RawChunk::Bytes(b) => b,
        };
        let signed = SignedManifest::decode_untrusted(&bytes)?;
        if signed.manifest.doc_id != *doc_id {
            return Err(DossierError::ManifestMisplaced { expected: *doc_id, found: signed.manifest.doc_id, path });
        }
        Ok(Some(signed))
    }

    /// The document ids of every stored manifest, sorted. Temporary and foreign files are
    /// ignored.
    pub fn list(&self) -> Result<Vec<DocHash>> {
        let dir = self.root.join("manifests");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(DossierError::io("list", &dir))? {
            let entry = entry.map_err(DossierError::io("list", &dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.len() != 64 {
                continue;
            }
            if let Ok(h) = Hash::from_hex(name)
                && h.to_hex() == name
            {
                out.push(DocHash(h));
            }
        }
        out.sort();
        Ok(out)
    }
}

fn parent_of(path: &Path) -> Result<&Path> {
    path.parent().ok_or_else(|| DossierError::OutputPath { path: path.to_path_buf() })
}

/// Reads at most `max` bytes of `path`: `Missing` if absent, `TooLarge` if longer.
fn read_bounded(path: &Path, max: u64) -> Result<RawChunk> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(RawChunk::Missing),
        Err(e) => return Err(DossierError::Io { op: "open", path: path.to_path_buf(), source: e }),
    };
    let len = file.metadata().map_err(DossierError::io("stat", path))?.len();
    if len > max {
        return Ok(RawChunk::TooLarge { len });
    }
    // The length is checked again while reading: the file may grow meanwhile.
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(max + 1).read_to_end(&mut bytes).map_err(DossierError::io("read", path))?;
    if bytes.len() as u64 > max {
        return Ok(RawChunk::TooLarge { len: bytes.len() as u64 });
    }
    Ok(RawChunk::Bytes(bytes))
}

/// The name of a chunk: `H(CHUNK_HASH_TAG ‖ ciphertext)` with `suite`'s hash.
pub(crate) fn chunk_name(suite: &impl Suite, ciphertext: &[u8]) -> Hash {
    suite.hash_parts(&[CHUNK_HASH_TAG, ciphertext])
}

/// A fresh temporary path in `dir`, ignored by readers.
pub(crate) fn temp_path(dir: &Path, stem: &str) -> Result<PathBuf> {
    let r = random_bytes::<8>().map_err(|source| DossierError::Crypto { what: "naming a temporary file", source })?;
    Ok(dir.join(format!("{TMP_PREFIX}{stem}{}", hex::encode(*r))))
}

/// Writes `bytes` to `path` atomically: temporary file in the same directory, fsync,
/// rename, fsync of the directory. The temporary file is removed on failure.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_of(path)?;
    let tmp = temp_path(dir, "")?;
    let result = (|| {
        let mut f =
            OpenOptions::new().write(true).create_new(true).open(&tmp).map_err(DossierError::io("create", &tmp))?;
        f.write_all(bytes).map_err(DossierError::io("write", &tmp))?;
        f.sync_all().map_err(DossierError::io("fsync", &tmp))?;
        drop(f);
        fs::rename(&tmp, path).map_err(DossierError::io("rename into place", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    sync_dir(dir)
}

/// Fsyncs a directory so that entries created, renamed or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(DossierError::io("fsync directory", dir))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use custos_primitives::crypto::SuiteId;

    fn store() -> (tempfile::TempDir, ChunkStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = ChunkStore::open(dir.path().join("store"), AnySuite::with_defaults(SuiteId::Sm)).unwrap();
        (dir, s)
    }

    #[test]
    fn put_get_is_content_addressed_and_idempotent() {
        let (_d, s) = store();
        let h = s.put(b"ciphertext").unwrap();
        assert_eq!(h, s.chunk_hash(b"ciphertext"));
        assert_eq!(s.put(b"ciphertext").unwrap(), h);
        assert_eq!(s.get(&h).unwrap(), b"ciphertext");
        assert!(s.has(&h).unwrap());
        let p = s.chunk_path(&h);
        assert_eq!(p.parent().unwrap().file_name().unwrap().to_str().unwrap(), &h.to_hex()[..2]);
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn chunk_hash_is_domain_separated() {
        let (_d, s) = store();
        assert_ne!(s.chunk_hash(b"x"), s.suite().hash(b"x"));
    }

    #[test]
    fn corrupt_chunk_is_detected_and_repaired_by_put() {
        let (_d, s) = store();
        let h = s.put(b"hello chunk").unwrap();
        let p = s.chunk_path(&h);
        let mut bytes = fs::read(&p).unwrap();
        bytes[3] ^= 0x01;
        fs::write(&p, &bytes).unwrap();
        assert!(matches!(s.get(&h), Err(DossierError::Corrupt { hash, .. }) if hash == h));
        s.put(b"hello chunk").unwrap();
        assert_eq!(s.get(&h).unwrap(), b"hello chunk");
    }

    #[test]
    fn oversized_chunk_file_is_refused() {
        let (_d, s) = store();
        let h = s.put(b"small").unwrap();
        let f = File::options().write(true).open(s.chunk_path(&h)).unwrap();
        f.set_len(MAX_CHUNK_BYTES + 1).unwrap();
        assert!(matches!(s.get(&h), Err(DossierError::ChunkTooLarge { .. })));
    }

    #[test]
    fn put_expected_refuses_other_bytes() {
        let (_d, s) = store();
        let h = s.chunk_hash(b"a");
        assert!(matches!(s.put_expected(&h, b"b"), Err(DossierError::HashMismatch { .. })));
        assert!(!s.has(&h).unwrap());
        s.put_expected(&h, b"a").unwrap();
        assert!(s.has(&h).unwrap());
    }

    fn signed_pair() -> (tempfile::TempDir, ChunkStore, SignedManifest, custos_primitives::crypto::AeadKey) {
        use crate::{DocTypeCode, EncryptParams, MediaType, encrypt};
        use custos_primitives::types::{AgencyId, CaseRef, CertFingerprint};
        let (d, s) = store();
        let suite = s.suite().clone();
        let court = AgencyId::new("court").unwrap();
        let court_key = suite.generate_decryption_key().unwrap();
        let justice_key = suite.generate_decryption_key().unwrap();
        let params = EncryptParams::new(
            MediaType::new("application/pdf").unwrap(),
            DocTypeCode::new("JUDGMENT").unwrap(),
            CaseRef(Hash([7; 32])),
            court.clone(),
            CertFingerprint(Hash([9; 32])),
            vec![
                (court.clone(), court_key.public_key()),
                (AgencyId::new("justice").unwrap(), justice_key.public_key()),
            ],
        )
        .unwrap();
        let doc = vec![5u8; 10_000];
        let enc = encrypt(&s, &params, &doc[..], doc.len() as u64, &mut |_, _| {}).unwrap();
        let clerk = suite.generate_signing_key().unwrap();
        let signed = enc.manifest.sign(&clerk).unwrap();
        s.put_manifest(&signed).unwrap();
        let ck = signed.manifest.unwrap_content_key(&suite, &court, &court_key).unwrap();
        (d, s, signed, ck)
    }

    fn resign(m: Manifest, suite: &AnySuite) -> SignedManifest {
        m.sign(&suite.generate_signing_key().unwrap()).unwrap()
    }

    #[test]
    fn manifest_extension_is_accepted() {
        use custos_primitives::types::AgencyId;
        let (_d, s, signed, ck) = signed_pair();
        let suite = s.suite().clone();
        let prison_key = suite.generate_decryption_key().unwrap();
        let prison = AgencyId::new("prison").unwrap();
        let mut m = signed.manifest.clone();
        m.add_recipient(&suite, prison.clone(), &prison_key.public_key(), &ck).unwrap();
        assert_eq!(m.recipients.len(), 3);
        assert!(m.extends(&signed.manifest).is_ok());
        // The same manifest, or the older one, is not an extension.
        assert!(matches!(signed.manifest.extends(&signed.manifest), Err(DossierError::NotAnExtension { .. })));
        assert!(matches!(signed.manifest.extends(&m), Err(DossierError::NotAnExtension { .. })));
        // put_manifest still refuses a different manifest; replace_manifest takes the extension.
        let ext = resign(m, &suite);
        assert!(matches!(s.put_manifest(&ext), Err(DossierError::ManifestConflict { .. })));
        assert!(s.replace_manifest(&ext).unwrap());
        assert!(!s.replace_manifest(&ext).unwrap());
        let stored = s.manifest(&signed.doc_id()).unwrap().unwrap();
        assert_eq!(stored, ext);
        let key = stored.manifest.unwrap_content_key(&suite, &prison, &prison_key).unwrap();
        assert_eq!(key.as_bytes(), ck.as_bytes());
        // Going back to the older manifest is refused.
        let e = s.replace_manifest(&signed).unwrap_err();
        assert!(e.to_string().contains("recipient prison was removed"), "{e}");
        // Adding an existing recipient is refused.
        let mut again = stored.manifest.clone();
        assert!(again.add_recipient(&suite, prison, &prison_key.public_key(), &ck).is_err());
    }

    #[test]
    fn manifest_changes_other_than_new_recipients_are_refused() {
        use custos_primitives::types::{AgencyId, Salt};
        let (_d, s, signed, ck) = signed_pair();
        let suite = s.suite().clone();
        let police_key = suite.generate_decryption_key().unwrap();
        let mut base = signed.manifest.clone();
        base.add_recipient(&suite, AgencyId::new("police").unwrap(), &police_key.public_key(), &ck).unwrap();
        let older = &signed.manifest;
        let reason = |m: &Manifest| match m.extends(older) {
            Err(DossierError::NotAnExtension { reason, .. }) => reason,
            other => format!("not a NotAnExtension error: {other:?}"),
        };

        let mut m = base.clone();
        m.chunks[0] = Hash([1; 32]);
        assert!(reason(&m).contains("chunk list"));
        let mut m = base.clone();
        m.size += 1;
        assert!(reason(&m).contains("size"));
        let mut m = base.clone();
        m.salt = Salt([3; 32]);
        assert!(reason(&m).contains("salt"));
        let mut m = base.clone();
        m.recipients[0].wrapped_key[0] ^= 1;
        assert!(reason(&m).contains("wrapped key of recipient court"));
        let mut m = base.clone();
        let mut list = m.recipients.to_vec();
        list.retain(|r| r.agency.as_str() != "justice");
        m.recipients = list.try_into().unwrap();
        assert!(reason(&m).contains("recipient justice was removed"));
        // None of these reaches the disk.
        let mut m = base.clone();
        m.chunks[0] = Hash([1; 32]);
        assert!(s.replace_manifest(&resign(m, &suite)).is_err());
        assert_eq!(s.manifest(&older.doc_id).unwrap().unwrap(), signed);
        // A replacement needs a stored manifest.
        let (_d2, other) = store();
        assert!(matches!(other.replace_manifest(&signed), Err(DossierError::NoManifest { .. })));
    }

    #[test]
    fn missing_chunk_and_remove() {
        let (_d, s) = store();
        let h = s.chunk_hash(b"absent");
        assert!(matches!(s.get(&h), Err(DossierError::NotFound { .. })));
        assert!(!s.remove(&h).unwrap());
        s.put(b"absent").unwrap();
        assert!(s.remove(&h).unwrap());
        assert!(!s.has(&h).unwrap());
    }
}
