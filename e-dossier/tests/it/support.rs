//! Shared fixtures: agencies with keys, a store in a temporary directory, a seeded PRNG.

use std::io::Write;
use std::path::{Path, PathBuf};

use custos_dossier::{ChunkStore, DocTypeCode, EncryptParams, Encrypted, MediaType, encrypt};
use custos_primitives::crypto::{AnySuite, DecryptionKey, Hash, SigningKey, Suite, SuiteId};
use custos_primitives::types::{AgencyId, CaseRef, CertFingerprint, Salt};

/// SplitMix64: fast, seedable, good enough to fill test files.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.fill(&mut v);
        v
    }
}

/// The seed of a test: `DOSSIER_TEST_SEED` (decimal or 0x-hex) if set, else `default`.
/// Printed so that a failure can be replayed.
pub fn seed(test: &str, default: u64) -> u64 {
    let seed = std::env::var("DOSSIER_TEST_SEED")
        .ok()
        .and_then(|s| match s.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => s.parse().ok(),
        })
        .unwrap_or(default);
    println!("{test}: seed {seed:#x} (set DOSSIER_TEST_SEED to replay)");
    seed
}

pub fn suites() -> [SuiteId; 2] {
    [SuiteId::Sm, SuiteId::Intl]
}

pub struct Agency {
    pub id: AgencyId,
    pub key: DecryptionKey,
}

impl Agency {
    fn new(suite: &AnySuite, id: &str) -> Self {
        Agency { id: AgencyId::new(id).unwrap(), key: suite.generate_decryption_key().unwrap() }
    }
}

pub struct Fixture {
    pub suite: AnySuite,
    pub dir: tempfile::TempDir,
    pub store: ChunkStore,
    /// Recipient.
    pub court: Agency,
    /// Recipient.
    pub justice: Agency,
    /// Not addressed.
    pub police: Agency,
    pub clerk: SigningKey,
}

impl Fixture {
    pub fn new(id: SuiteId) -> Self {
        let suite = AnySuite::with_defaults(id);
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path().join("store"), suite.clone()).unwrap();
        Fixture {
            court: Agency::new(&suite, "court-230102"),
            justice: Agency::new(&suite, "justice-230102"),
            police: Agency::new(&suite, "police-230102"),
            clerk: suite.generate_signing_key().unwrap(),
            suite,
            dir,
            store,
        }
    }

    /// Parameters addressed to the justice bureau and the court (deliberately unsorted).
    pub fn params(&self, chunk_size: u32) -> EncryptParams {
        EncryptParams {
            salt: Salt::random().unwrap(),
            chunk_size,
            media_type: MediaType::new("application/pdf").unwrap(),
            doc_type: DocTypeCode::new("JUDGMENT").unwrap(),
            case_ref: CaseRef(Hash([7; 32])),
            issuer: self.court.id.clone(),
            clerk: CertFingerprint(Hash([9; 32])),
            recipients: vec![
                (self.justice.id.clone(), self.justice.key.public_key()),
                (self.court.id.clone(), self.court.key.public_key()),
            ],
        }
    }

    pub fn encrypt_bytes(&self, bytes: &[u8], chunk_size: u32) -> Encrypted {
        let params = self.params(chunk_size);
        encrypt(&self.store, &params, bytes, bytes.len() as u64, &mut |_, _| {}).unwrap()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Writes `len` pseudo-random bytes to `path`, one MiB at a time.
pub fn write_random_file(path: &Path, len: u64, rng: &mut Rng) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        rng.fill(&mut buf[..n]);
        f.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    f.flush().unwrap();
}

/// Whether two files have the same content, compared one MiB at a time.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (mut fa, mut fb) = (std::fs::File::open(a).unwrap(), std::fs::File::open(b).unwrap());
    if fa.metadata().unwrap().len() != fb.metadata().unwrap().len() {
        return false;
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        if n == 0 {
            return true;
        }
        fb.read_exact(&mut bb[..n]).unwrap();
        if ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// Files in `dir` (to check that no temporary file is left).
pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}
