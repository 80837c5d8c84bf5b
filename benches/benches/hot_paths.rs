//! The hot paths under every operation of `blazedb-bench`, in isolation: encoding and
//! decoding the workload's document, and evaluating filters on a decoded record.
//! `cargo bench -p blazedb-benches --bench hot_paths`.

use std::hint::black_box;
use std::time::Duration;

use blazedb::{Filter, Record, Timestamp, Value, codec, json};
use blazedb_benches::{FIRST_CREATED, IssueStream};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn docs() -> Vec<Record> {
    IssueStream::new(1)
        .with_reporters(50, 1)
        .take(256)
        .collect()
}

fn encode_decode(c: &mut Criterion) {
    let docs = docs();
    let encoded: Vec<Vec<u8>> = docs.iter().map(|d| codec::encode(d).unwrap()).collect();
    let bytes: usize = encoded.iter().map(Vec::len).sum();
    let texts: Vec<String> = docs
        .iter()
        .map(|d| json::record_to_json(d).to_string())
        .collect();

    let mut g = c.benchmark_group("codec_256_docs");
    g.measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("encode", |b| {
        b.iter(|| {
            for d in &docs {
                black_box(codec::encode(black_box(d)).unwrap());
            }
        })
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            for e in &encoded {
                black_box(codec::decode(black_box(e)).unwrap());
            }
        })
    });
    // What the SQLite peer pays for the same documents: JSON text to the same Record.
    g.bench_function("decode_json_peer", |b| {
        b.iter(|| {
            for t in &texts {
                let j: serde_json::Value = serde_json::from_str(black_box(t)).unwrap();
                black_box(json::record_from_json(&j).unwrap());
            }
        })
    });
    g.finish();
}

fn filters(c: &mut Criterion) {
    let docs = docs();
    let mid = Timestamp::new(FIRST_CREATED + 128 * 60 + 30, 0);
    let cases: Vec<(&str, Filter)> = vec![
        ("eq_string", Filter::eq("status", "open")),
        ("eq_int", Filter::eq("priority", 3i64)),
        (
            "range_and",
            Filter::gte("priority", 4i64).and(Filter::lt("createdAt", Value::Date(mid))),
        ),
        ("contains_body", Filter::contains("body", "memory leak")),
        (
            "in_or_not",
            Filter::is_in("assignee", vec!["ana".into(), "ben".into(), "eli".into()])
                .or(Filter::eq("status", "closed").not()),
        ),
    ];
    let mut g = c.benchmark_group("filter_256_docs");
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(docs.len() as u64));
    for (name, f) in &cases {
        g.bench_function(*name, |b| {
            b.iter(|| docs.iter().filter(|d| black_box(f).matches(d)).count())
        });
    }
    g.finish();
}

criterion_group!(benches, encode_decode, filters);
criterion_main!(benches);
