//! Sign-in tokens for the web console (decision 0016).
//!
//! A browser can neither present a Custos client certificate (SM2 and ed25519 are not TLS
//! client keys it accepts) nor sign with a member key. So the member signs a short-lived token
//! with `custos console sign-in --url URL`, on its own machine, and opens the printed link; the
//! console checks the token against the member's record on the ledger and opens a session.
//!
//! The token is the SCALE encoding of [`SignInToken`] in lowercase hex. Its signature covers
//! [`SIGN_IN_CONTEXT`] followed by the encoded [`SignInClaims`], so it can never be mistaken for
//! a transaction or any other signed Custos message.

use parity_scale_codec::{Decode, Encode};
use thiserror::Error;

use custos_primitives::codec::decode_exact;
use custos_primitives::crypto::{AnySuite, PublicKey, Signature, SigningKey, Suite};
use custos_primitives::types::{CertFingerprint, ChainId};

/// Domain separation of the signed bytes.
pub const SIGN_IN_CONTEXT: &[u8] = b"custos/console-sign-in/v1";
/// The longest lifetime a console accepts.
pub const MAX_TTL_MS: u64 = 5 * 60 * 1000;
/// Largest token accepted (hex characters).
pub const MAX_TOKEN_HEX: usize = 2 * 1024;

/// What the member asserts by signing.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignInClaims {
    /// The network.
    pub chain_id: ChainId,
    /// The console's base URL (the audience): a token for one console is refused by another.
    pub audience: String,
    /// The member certificate's fingerprint (its record on the ledger holds the key).
    pub member: CertFingerprint,
    /// Issued at (ms since the Unix epoch, the member's clock).
    pub issued_ms: u64,
    /// Expires at (ms since the Unix epoch).
    pub expires_ms: u64,
    /// Random, single use.
    pub nonce: [u8; 16],
}

/// Claims plus the member's signature.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignInToken {
    /// The claims.
    pub claims: SignInClaims,
    /// Signature over [`SIGN_IN_CONTEXT`] ‖ SCALE(claims).
    pub signature: Signature,
}

/// Why a token is refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignInError {
    /// Not hex, or not a token.
    #[error("the sign-in token is malformed: {0}")]
    Malformed(String),
    /// Signing failed.
    #[error("cannot sign the token: {0}")]
    Sign(String),
    /// The signature does not verify with the member's registered key.
    #[error("the sign-in token's signature does not verify with the member's registered key")]
    BadSignature,
    /// For another network.
    #[error("the token is for network {got}, this console serves {want}")]
    WrongChain {
        /// The token's chain.
        got: String,
        /// The console's chain.
        want: String,
    },
    /// For another console.
    #[error("the token was made for {got}, not this console ({want}): run `custos console sign-in --url {want}`")]
    WrongAudience {
        /// The token's audience.
        got: String,
        /// This console.
        want: String,
    },
    /// Expired or not yet valid.
    #[error("the token expired or is not yet valid (valid {from} to {to} ms, now {now} ms): sign in again")]
    Expired {
        /// Issued.
        from: u64,
        /// Expires.
        to: u64,
        /// Now.
        now: u64,
    },
    /// Lifetime too long.
    #[error("the token is valid for {ms} ms; at most {MAX_TTL_MS} ms is accepted")]
    TooLong {
        /// Its lifetime.
        ms: u64,
    },
}

fn signed_bytes(claims: &SignInClaims) -> Vec<u8> {
    let mut m = SIGN_IN_CONTEXT.to_vec();
    claims.encode_to(&mut m);
    m
}

impl SignInToken {
    /// Signs `claims` with the member's key.
    pub fn sign(claims: SignInClaims, key: &SigningKey) -> Result<Self, SignInError> {
        let signature = key.sign(&signed_bytes(&claims)).map_err(|e| SignInError::Sign(e.to_string()))?;
        Ok(SignInToken { claims, signature })
    }

    /// The token as text (hex).
    pub fn to_text(&self) -> String {
        hex::encode(self.encode())
    }

    /// Parses a token; the whole input must be one token.
    pub fn from_text(text: &str) -> Result<Self, SignInError> {
        let t = text.trim();
        if t.len() > MAX_TOKEN_HEX {
            return Err(SignInError::Malformed(format!("{} characters, at most {MAX_TOKEN_HEX}", t.len())));
        }
        let bytes = hex::decode(t).map_err(|e| SignInError::Malformed(e.to_string()))?;
        decode_exact("sign-in token", &bytes, MAX_TOKEN_HEX / 2).map_err(|e| SignInError::Malformed(e.to_string()))
    }

    /// Checks everything but the member's standing: network, audience, time window and the
    /// signature with `key` (the member's registered key).
    pub fn check(
        &self,
        suite: &AnySuite,
        key: &PublicKey,
        chain_id: &ChainId,
        audience: &str,
        now_ms: u64,
    ) -> Result<(), SignInError> {
        let c = &self.claims;
        if &c.chain_id != chain_id {
            return Err(SignInError::WrongChain { got: c.chain_id.to_string(), want: chain_id.to_string() });
        }
        if c.audience.trim_end_matches('/') != audience.trim_end_matches('/') {
            return Err(SignInError::WrongAudience { got: c.audience.clone(), want: audience.to_string() });
        }
        let ttl = c.expires_ms.saturating_sub(c.issued_ms);
        if ttl > MAX_TTL_MS {
            return Err(SignInError::TooLong { ms: ttl });
        }
        // One minute of clock skew between the member's machine and the console.
        if now_ms + 60_000 < c.issued_ms || now_ms >= c.expires_ms {
            return Err(SignInError::Expired { from: c.issued_ms, to: c.expires_ms, now: now_ms });
        }
        suite.verify(key, &signed_bytes(c), &self.signature).map_err(|_| SignInError::BadSignature)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use custos_primitives::crypto::{Hash, SuiteId};

    fn claims() -> SignInClaims {
        SignInClaims {
            chain_id: ChainId::new("custos-test").unwrap(),
            audience: "https://127.0.0.1:8443".into(),
            member: CertFingerprint(Hash([7; 32])),
            issued_ms: 1_000_000,
            expires_ms: 1_000_000 + 120_000,
            nonce: [3; 16],
        }
    }

    /// The token's claims are a wire format between the CLI and consoles: frozen.
    #[test]
    fn claims_encoding_is_frozen() {
        let hex_claims = hex::encode(claims().encode());
        assert_eq!(
            hex_claims,
            "2c637573746f732d746573745868747470733a2f2f3132372e302e302e313a38343433\
             0707070707070707070707070707070707070707070707070707070707070707\
             40420f00000000000017110000000000\
             03030303030303030303030303030303"
        );
    }

    #[test]
    fn a_token_round_trips_and_checks() {
        for id in [SuiteId::Sm, SuiteId::Intl] {
            let suite = AnySuite::with_defaults(id);
            let key = suite.generate_signing_key().unwrap();
            let t = SignInToken::sign(claims(), &key).unwrap();
            let back = SignInToken::from_text(&t.to_text()).unwrap();
            assert_eq!(back, t);
            let chain = ChainId::new("custos-test").unwrap();
            let pk = key.public_key();
            back.check(&suite, &pk, &chain, "https://127.0.0.1:8443/", 1_000_500).unwrap();
            assert_eq!(
                back.check(&suite, &pk, &chain, "https://other:8443", 1_000_500),
                Err(SignInError::WrongAudience {
                    got: "https://127.0.0.1:8443".into(),
                    want: "https://other:8443".into()
                })
            );
            assert!(matches!(
                back.check(&suite, &pk, &chain, "https://127.0.0.1:8443", 1_120_000),
                Err(SignInError::Expired { .. })
            ));
            let other = ChainId::new("custos-other").unwrap();
            assert!(matches!(
                back.check(&suite, &pk, &other, "https://127.0.0.1:8443", 1_000_500),
                Err(SignInError::WrongChain { .. })
            ));
            let mut forged = back.clone();
            forged.claims.member = CertFingerprint(Hash([8; 32]));
            assert_eq!(
                forged.check(&suite, &pk, &chain, "https://127.0.0.1:8443", 1_000_500),
                Err(SignInError::BadSignature)
            );
            let mut long = claims();
            long.expires_ms = long.issued_ms + MAX_TTL_MS + 1;
            let t = SignInToken::sign(long, &key).unwrap();
            assert!(matches!(
                t.check(&suite, &pk, &chain, "https://127.0.0.1:8443", 1_000_500),
                Err(SignInError::TooLong { .. })
            ));
        }
        assert!(SignInToken::from_text("zz").is_err());
        assert!(SignInToken::from_text(&"00".repeat(MAX_TOKEN_HEX)).is_err());
    }
}
