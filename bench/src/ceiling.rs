//! The machine's ceilings, measured in the same run as the figures read against them: the
//! suite's single-signature verification rate and its hash and AEAD rates, each on one core.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::Serialize;

use custos_primitives::crypto::{AnySuite, Suite};

use crate::{BenchError, Result};

/// One suite's primitive rates on one core.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteRates {
    /// Signature verifications per second (one core), over a message the size of a signed
    /// anchor transaction's payload.
    pub verify_per_s: f64,
    /// Hash throughput, MiB/s (one core).
    pub hash_mib_s: f64,
    /// AEAD seal throughput, MiB/s (one core).
    pub aead_mib_s: f64,
    /// Hashing and sealing the same bytes one after the other, MiB/s: `1 / (1/hash + 1/aead)`.
    pub hash_aead_mib_s: f64,
}

/// Runs `f` repeatedly for at least `time`; returns calls per second.
fn rate(time: Duration, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    // Warm-up: caches, lazy tables.
    f()?;
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < time {
        for _ in 0..8 {
            f()?;
        }
        n += 8;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Measures `suite`'s rates, spending about `time` on each.
pub fn measure(suite: &AnySuite, time: Duration) -> Result<SuiteRates> {
    let crypto = |e: custos_primitives::crypto::CryptoError| BenchError::Other(format!("crypto: {e}"));
    let key = suite.generate_signing_key().map_err(crypto)?;
    let pk = key.public_key();
    // A signed anchor transaction's payload is about 200 bytes.
    let msg = [0x5au8; 200];
    let sig = key.sign(&msg).map_err(crypto)?;
    let verify_per_s = rate(time, || suite.verify(black_box(&pk), black_box(&msg), black_box(&sig)).map_err(crypto))?;
    let data = vec![0xa5u8; 1 << 20];
    let mib = |calls_per_s: f64| calls_per_s; // one call = 1 MiB
    let hash_mib_s = mib(rate(time, || {
        black_box(suite.hash(black_box(&data)));
        Ok(())
    })?);
    let aead_key = suite.generate_aead_key().map_err(crypto)?;
    let nonce = [1u8; 12];
    let aead_mib_s = mib(rate(time, || {
        black_box(suite.seal(&aead_key, &nonce, b"", black_box(&data)).map_err(crypto)?);
        Ok(())
    })?);
    let hash_aead_mib_s = 1.0 / (1.0 / hash_mib_s + 1.0 / aead_mib_s);
    Ok(SuiteRates { verify_per_s, hash_mib_s, aead_mib_s, hash_aead_mib_s })
}
