//! A small seeded mutator for the stable test suite's fuzz loop (no cargo-fuzz, no nightly):
//! byte flips, random bytes, insertions, deletions, truncations, duplicated ranges, splices
//! of two corpus entries and SCALE-aware edits (compact length prefixes set to boundary
//! values). Deterministic for a seed.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// The mutator's randomness: `rand`'s seeded standard generator, so a printed seed replays a
/// run (with the same `Cargo.lock`).
#[derive(Debug)]
pub struct Rng(StdRng);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(StdRng::seed_from_u64(seed))
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { self.0.random_range(0..n) }
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.0.random()
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Interesting values for integers and SCALE length prefixes.
const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    3,
    0x3f,
    0x40,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x3fff,
    0x4000,
    0xffff,
    0x1_0000,
    0x3fff_ffff,
    0x4000_0000,
    0xffff_ffff,
    u64::MAX,
];

/// One mutation of `input`, drawing splice partners from `corpus`. Stacks 1–4 edits.
pub fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    let mut v = input.to_vec();
    let edits = 1 + rng.below(4);
    for _ in 0..edits {
        edit(rng, &mut v, corpus);
    }
    v.truncate(max_len);
    v
}

fn edit(rng: &mut Rng, v: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    let len = v.len();
    match rng.below(11) {
        // Flip a bit.
        0 if len > 0 => {
            let i = rng.below(len);
            if let Some(b) = v.get_mut(i) {
                *b ^= 1 << rng.below(8);
            }
        }
        // Set a random byte.
        1 if len > 0 => {
            let i = rng.below(len);
            let x = rng.byte();
            if let Some(b) = v.get_mut(i) {
                *b = x;
            }
        }
        // Insert random bytes.
        2 => {
            let i = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            v.splice(i..i, bytes);
        }
        // Delete a range.
        3 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(16));
            v.drain(i..i + n);
        }
        // Truncate.
        4 if len > 0 => {
            let n = rng.below(len);
            v.truncate(n);
        }
        // Duplicate a range in place.
        5 if len > 0 => {
            let i = rng.below(len);
            let n = 1 + rng.below((len - i).min(64));
            let copy = v[i..i + n].to_vec();
            let at = rng.below(len + 1);
            v.splice(at..at, copy);
        }
        // Splice: our head with another entry's tail.
        6 if !corpus.is_empty() => {
            let other = &corpus[rng.below(corpus.len())];
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            v.truncate(cut);
            v.extend_from_slice(&other[from..]);
        }
        // Overwrite with an interesting little-endian integer (u8/u16/u32/u64).
        7 if len > 0 => {
            let x = INTERESTING[rng.below(INTERESTING.len())];
            let width = [1usize, 2, 4, 8][rng.below(4)];
            let i = rng.below(len);
            for (k, b) in x.to_le_bytes().iter().take(width).enumerate() {
                if let Some(slot) = v.get_mut(i + k) {
                    *slot = *b;
                }
            }
        }
        // Replace a byte with a SCALE compact prefix of an interesting length.
        8 if len > 0 => {
            let x = INTERESTING[rng.below(INTERESTING.len())];
            let i = rng.below(len);
            let prefix = compact(x);
            v.splice(i..(i + 1).min(len), prefix);
        }
        // Copy a range from another corpus entry over ours.
        9 if !corpus.is_empty() && len > 0 => {
            let other = &corpus[rng.below(corpus.len())];
            if !other.is_empty() {
                let from = rng.below(other.len());
                let n = 1 + rng.below((other.len() - from).min(64));
                let at = rng.below(len);
                for (k, b) in other[from..from + n].iter().enumerate() {
                    if let Some(slot) = v.get_mut(at + k) {
                        *slot = *b;
                    }
                }
            }
        }
        // Append random bytes.
        _ => {
            let n = 1 + rng.below(4);
            for _ in 0..n {
                v.push(rng.byte());
            }
        }
    }
}

/// SCALE compact encoding of `x`.
fn compact(x: u64) -> Vec<u8> {
    match x {
        0..=0x3f => vec![(x as u8) << 2],
        0x40..=0x3fff => ((x as u16) << 2 | 1).to_le_bytes().to_vec(),
        0x4000..=0x3fff_ffff => ((x as u32) << 2 | 2).to_le_bytes().to_vec(),
        _ => {
            let bytes = x.to_le_bytes();
            let n = 8 - (x.leading_zeros() / 8) as usize;
            let mut out = vec![(((n - 4) as u8) << 2) | 3];
            out.extend_from_slice(&bytes[..n]);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_mutations() {
        let corpus = vec![vec![1u8, 2, 3, 4], vec![9u8; 20]];
        let run = |seed| {
            let mut r = Rng::new(seed);
            (0..100).map(|i| mutate(&mut r, &corpus[i % 2], &corpus, 64)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn compact_matches_scale() {
        use parity_scale_codec::{Compact, Encode};
        for x in INTERESTING {
            assert_eq!(compact(*x), Compact(*x).encode(), "{x}");
        }
    }
}
