//! A 64 MiB document streams through with memory bounded by the chunk size.

use std::io::Read;

use custos_dossier::{DEFAULT_CHUNK_SIZE, decrypt_to, encrypt};
use custos_primitives::crypto::SuiteId;

use crate::support::{Fixture, Rng, same_file, seed, write_random_file};

/// Counts what the encryptor reads, and the largest single read request.
struct CountingReader<R> {
    inner: R,
    read: std::rc::Rc<std::cell::Cell<u64>>,
    largest_request: usize,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.largest_request = self.largest_request.max(buf.len());
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// In the `sm` suite only: the bound is a property of the streaming code, not of the suite,
/// and both suites are exercised by the round-trip tests. (64 MiB takes tens of seconds in
/// the dev profile because the suite code is monomorphised in the unoptimised
/// `custos-primitives`.)
#[test]
fn sixty_four_mib_streams_with_bounded_buffers() {
    const SIZE: u64 = 64 << 20;
    let chunk = DEFAULT_CHUNK_SIZE as usize;
    // Buffers: one plaintext chunk and one ciphertext chunk (plus the tag), with slack for
    // allocator rounding. Independent of the document size.
    let bound = 2 * chunk + 4096;
    let mut rng = Rng::new(seed("sixty_four_mib_streams_with_bounded_buffers", 0x5eed_0064));
    {
        let id = SuiteId::Sm;
        let fx = Fixture::new(id);
        let input = fx.path("big.pdf");
        let t = std::time::Instant::now();
        write_random_file(&input, SIZE, &mut rng);
        println!("{id}: wrote the input in {:?}", t.elapsed());
        let t = std::time::Instant::now();

        let read = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let mut reader =
            CountingReader { inner: std::fs::File::open(&input).unwrap(), read: read.clone(), largest_request: 0 };
        let mut calls = 0u32;
        let mut prev = 0u64;
        let enc = encrypt(&fx.store, &fx.params(DEFAULT_CHUNK_SIZE), &mut reader, SIZE, &mut |done, total| {
            calls += 1;
            assert_eq!(total, SIZE);
            // One chunk per step, and never more than one byte read ahead of what was sealed.
            assert!(done - prev <= chunk as u64);
            assert!(read.get() - done <= 1, "read {} bytes ahead", read.get() - done);
            prev = done;
        })
        .unwrap();
        println!("{id}: encrypted in {:?}", t.elapsed());
        assert!(reader.largest_request <= chunk, "read request of {} bytes", reader.largest_request);
        assert_eq!(calls, 64);
        assert_eq!(enc.stats.chunks, 64);
        assert_eq!(enc.stats.bytes, SIZE);
        assert!(enc.stats.peak_buffer_bytes <= bound, "encrypt held {} bytes", enc.stats.peak_buffer_bytes);
        assert!(enc.stats.peak_buffer_bytes >= 2 * chunk);

        let out = fx.path("big.out");
        let t = std::time::Instant::now();
        let stats = decrypt_to(&fx.store, &enc.manifest, &enc.content_key, &out, &mut |_, _| {}).unwrap();
        println!("{id}: decrypted in {:?}", t.elapsed());
        assert_eq!((stats.chunks, stats.bytes), (64, SIZE));
        assert!(stats.peak_buffer_bytes <= bound, "decrypt held {} bytes", stats.peak_buffer_bytes);
        assert!(same_file(&input, &out));
    }
}
