//! The page cipher's cost per 4 KiB block, against the candidate a format v2 could switch
//! to: aws-lc's AES-256-GCM-SIV (what encrypted files use, `docs/SECURITY.md` §3.2) and
//! aws-lc's AES-256-GCM, both through `aws-lc-rs`, same key size, nonce size and
//! associated-data length as a BlazeDB block. Data for the team's decision on the page
//! cipher (`docs/BENCHMARKS.md` §2), not a BlazeDB code path.
//! `cargo bench -p blazedb-benches --bench page_cipher`.

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::aead::{
    AES_256_GCM, AES_256_GCM_SIV, Aad, Algorithm, LessSafeKey, Nonce, UnboundKey,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A BlazeDB block's associated data is 8 + 16 + 8 + 8 bytes (SECURITY.md §3.3).
const AD: [u8; 40] = [0x5a; 40];
const PAGE: usize = 4096;

fn nonce() -> Nonce {
    Nonce::assume_unique_for_key([0x24; 12])
}

fn ciphers(c: &mut Criterion) {
    let mut g = c.benchmark_group("page_cipher_4k");
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Bytes(PAGE as u64));
    for (name, alg) in [
        ("aes256_gcm_siv", &AES_256_GCM_SIV),
        ("aes256_gcm", &AES_256_GCM),
    ] as [(&str, &'static Algorithm); 2]
    {
        let key = LessSafeKey::new(UnboundKey::new(alg, &[7; 32]).expect("32-byte key"));
        let plain: Vec<u8> = (0..PAGE).map(|i| (i * 31) as u8).collect();
        let mut buf = plain.clone();
        let tag = key
            .seal_in_place_separate_tag(nonce(), Aad::from(&AD), &mut buf)
            .expect("seal");
        let sealed = buf.clone();
        g.bench_function(format!("{name}/seal"), |b| {
            b.iter(|| {
                buf.copy_from_slice(&plain);
                black_box(
                    key.seal_in_place_separate_tag(nonce(), Aad::from(&AD), &mut buf)
                        .expect("seal"),
                )
            })
        });
        // The read path's call: decrypt the block straight into another buffer.
        let mut out = vec![0; PAGE];
        g.bench_function(format!("{name}/open"), |b| {
            b.iter(|| {
                key.open_separate_gather(nonce(), Aad::from(&AD), &sealed, tag.as_ref(), &mut out)
                    .expect("open");
                black_box(out[0])
            })
        });
    }
    g.finish();
}

criterion_group!(benches, ciphers);
criterion_main!(benches);
