//! SCALE encoding rules for untrusted bytes.
//!
//! Every decoder of bytes that came from outside (network, files, bundles) goes through
//! [`decode_exact`]: the input length is capped before decoding, every variable-length
//! field has its own cap ([`BoundedVec`] / the bounded string types below), nesting depth
//! is capped, and the whole input must be consumed.

pub use bounded_collections::{BoundedVec, ConstU32};
use parity_scale_codec::{Decode, DecodeLimit, MaxEncodedLen};

/// Maximum nesting depth accepted when decoding untrusted bytes.
pub const MAX_DECODE_DEPTH: u32 = 32;

/// Errors when decoding untrusted SCALE bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input is longer than the type allows.
    #[error("{what}: input of {len} bytes exceeds the {max}-byte limit")]
    TooLong {
        /// The type being decoded.
        what: &'static str,
        /// Input length.
        len: usize,
        /// Limit for this type.
        max: usize,
    },
    /// The bytes are not a valid encoding (truncated, bad variant, a field over its bound...).
    #[error("{what}: invalid encoding: {reason}")]
    Invalid {
        /// The type being decoded.
        what: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// A valid value was decoded but bytes were left over.
    #[error("{what}: {remaining} trailing bytes after a complete value")]
    TrailingBytes {
        /// The type being decoded.
        what: &'static str,
        /// Bytes left.
        remaining: usize,
    },
}

/// Decodes exactly one `T` from `bytes`: at most `max_len` bytes, nesting at most
/// [`MAX_DECODE_DEPTH`], and nothing left over.
pub fn decode_exact<T: Decode>(what: &'static str, bytes: &[u8], max_len: usize) -> Result<T, CodecError> {
    if bytes.len() > max_len {
        return Err(CodecError::TooLong { what, len: bytes.len(), max: max_len });
    }
    let mut input = bytes;
    let value = T::decode_with_depth_limit(MAX_DECODE_DEPTH, &mut input)
        .map_err(|e| CodecError::Invalid { what, reason: e.to_string() })?;
    if !input.is_empty() {
        return Err(CodecError::TrailingBytes { what, remaining: input.len() });
    }
    Ok(value)
}

/// Decodes a type whose encoding has a known maximum length ([`MaxEncodedLen`]).
pub fn decode_bounded<T: Decode + MaxEncodedLen>(what: &'static str, bytes: &[u8]) -> Result<T, CodecError> {
    decode_exact(what, bytes, T::max_encoded_len())
}

/// Error of the bounded-string constructors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {reason}")]
pub struct IdError {
    /// Kind of identifier.
    pub what: &'static str,
    /// The rejected value (truncated for display).
    pub value: String,
    /// Why.
    pub reason: String,
}

/// Defines a bounded identifier string: `[a-z0-9][a-z0-9._-]*`, 1..=MAX bytes, checked on
/// construction and on decode.
macro_rules! bounded_id {
    ($(#[$m:meta])* $name:ident, $max:expr, $what:expr) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, parity_scale_codec::Encode, parity_scale_codec::MaxEncodedLen)]
        pub struct $name($crate::codec::BoundedVec<u8, $crate::codec::ConstU32<{ $max }>>);

        impl $name {
            /// Maximum length in bytes.
            pub const MAX_LEN: usize = $max;

            /// Validates and wraps `s`.
            pub fn new(s: &str) -> Result<Self, $crate::codec::IdError> {
                $crate::codec::validate_id($what, s, $max)?;
                let v = $crate::codec::BoundedVec::try_from(s.as_bytes().to_vec()).map_err(|_| $crate::codec::IdError {
                    what: $what,
                    value: s.chars().take(80).collect(),
                    reason: format!("longer than {} bytes", $max),
                })?;
                Ok(Self(v))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                // Validated as ASCII on construction and decode.
                core::str::from_utf8(&self.0).unwrap_or("")
            }
        }

        impl parity_scale_codec::Decode for $name {
            fn decode<I: parity_scale_codec::Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
                let v = $crate::codec::BoundedVec::<u8, $crate::codec::ConstU32<{ $max }>>::decode(input)?;
                let s = core::str::from_utf8(&v)
                    .map_err(|_| parity_scale_codec::Error::from(concat!($what, ": not UTF-8")))?;
                $crate::codec::validate_id($what, s, $max)
                    .map_err(|_| parity_scale_codec::Error::from(concat!($what, ": invalid characters")))?;
                Ok(Self(v))
            }
        }

        impl parity_scale_codec::DecodeWithMemTracking for $name {}

        impl core::hash::Hash for $name {
            fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
                self.0.as_slice().hash(state)
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }

        impl core::str::FromStr for $name {
            type Err = $crate::codec::IdError;
            fn from_str(s: &str) -> Result<Self, $crate::codec::IdError> {
                Self::new(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use bounded_id;

/// Checks the identifier alphabet and length.
pub fn validate_id(what: &'static str, s: &str, max: usize) -> Result<(), IdError> {
    let err = |reason: String| IdError { what, value: s.chars().take(80).collect(), reason };
    if s.is_empty() {
        return Err(err("must not be empty".into()));
    }
    if s.len() > max {
        return Err(err(format!("longer than {max} bytes")));
    }
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !first_ok {
        return Err(err("must start with a lower-case letter or digit".into()));
    }
    if !s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')) {
        return Err(err("only a-z, 0-9, '-', '_' and '.' are allowed".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use parity_scale_codec::Encode;

    #[test]
    fn exact_decoding_rejects_trailing_and_truncated() {
        let bytes = 7u32.encode();
        assert_eq!(decode_exact::<u32>("u32", &bytes, 4).unwrap(), 7);
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(decode_exact::<u32>("u32", &long, 16), Err(CodecError::TrailingBytes { remaining: 1, .. })));
        assert!(matches!(decode_exact::<u32>("u32", &bytes[..3], 4), Err(CodecError::Invalid { .. })));
        assert!(matches!(decode_exact::<u32>("u32", &long, 4), Err(CodecError::TooLong { .. })));
    }

    #[test]
    fn bounded_vec_length_prefix_is_checked_before_allocation() {
        // A length prefix of 2^30 elements must fail at once, not allocate.
        let mut bytes = parity_scale_codec::Compact(1u32 << 30).encode();
        bytes.extend_from_slice(&[0u8; 8]);
        let r = decode_exact::<BoundedVec<u8, ConstU32<16>>>("v", &bytes, 1024);
        assert!(matches!(r, Err(CodecError::Invalid { .. })));
    }
}
