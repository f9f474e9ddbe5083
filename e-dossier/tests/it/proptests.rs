//! Decoding untrusted bytes never panics, and what decodes re-encodes to the same bytes.

use custos_dossier::{Manifest, SignedManifest};
use parity_scale_codec::Encode;
use proptest::prelude::*;

use crate::golden::signed_sample_bytes as golden_bytes;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_untrusted_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        if let Ok(m) = Manifest::decode_untrusted(&bytes) {
            prop_assert_eq!(m.encode(), bytes.clone());
        }
        if let Ok(s) = SignedManifest::decode_untrusted(&bytes) {
            prop_assert_eq!(s.encode(), bytes);
        }
    }

    #[test]
    fn decode_untrusted_never_panics_on_mutated_manifests(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = golden_bytes();
        for (at, x) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= x;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok(s) = SignedManifest::decode_untrusted(&bytes) {
            prop_assert_eq!(s.encode(), bytes);
        }
    }
}
