//! BlazeDB against raw redb doing the same work, in the same run.
//!
//! Two raw-redb peers per operation:
//!
//! * `raw_redb_bytes`: redb storing and returning opaque bytes, encoded ahead of time. The
//!   floor: no serialization at all.
//! * `raw_redb_codec`: redb plus the same document encoding (`blazedb::codec`) done inside the
//!   timed section, which is the work any redb application must do to store documents. The
//!   ratio to this one is BlazeDB's own overhead: ids, stamping, the catalog, validation,
//!   locking, the change list.
//!
//! `cargo bench -p blazedb-benches --bench core_vs_redb`.

use std::hint::black_box;
use std::time::Duration;

use blazedb::{Database, Options, Record, Uuid, codec};
use blazedb_benches::issues;
use criterion::{BatchSize, Criterion, criterion_group};
use redb::{ReadableDatabase, TableDefinition};

const RAW: TableDefinition<u128, &[u8]> = TableDefinition::new("raw");
const CACHE: usize = blazedb::DEFAULT_CACHE_SIZE;

fn raw_db(path: &std::path::Path) -> redb::Database {
    redb::Builder::new()
        .set_cache_size(CACHE)
        .create(path)
        .unwrap()
}

fn encoded(records: &[Record]) -> Vec<(u128, Vec<u8>)> {
    records
        .iter()
        .map(|r| (Uuid::new_v4().as_u128(), codec::encode(r).unwrap()))
        .collect()
}

fn durable_single_insert(c: &mut Criterion) {
    let mut g = c.benchmark_group("durable_single_insert");
    g.sample_size(30).measurement_time(Duration::from_secs(4));
    let docs = issues(5_000, 1);
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("b.blazedb"), Options::default()).unwrap();
    let mut i = 0;
    g.bench_function("blazedb", |b| {
        b.iter(|| {
            i = (i + 1) % docs.len();
            db.insert("issues", docs[i].clone()).unwrap()
        })
    });
    let raw = raw_db(&dir.path().join("raw.redb"));
    let enc = encoded(&docs);
    let mut j = 0;
    g.bench_function("raw_redb_codec", |b| {
        b.iter(|| {
            j = (j + 1) % enc.len();
            let txn = raw.begin_write().unwrap();
            {
                let mut t = txn.open_table(RAW).unwrap();
                let bytes = codec::encode(&docs[j]).unwrap();
                t.insert(Uuid::new_v4().as_u128(), bytes.as_slice())
                    .unwrap();
            }
            txn.commit().unwrap();
        })
    });
    g.finish();
}

fn batch_insert_10k(c: &mut Criterion) {
    let mut g = c.benchmark_group("insert_many_10k");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    let docs = issues(10_000, 2);
    g.bench_function("blazedb", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let db = Database::open(dir.path().join("b.blazedb"), Options::default()).unwrap();
                (dir, db, docs.clone())
            },
            |(dir, db, docs)| {
                db.insert_many("issues", docs).unwrap();
                (dir, db)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("raw_redb_codec", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let raw = raw_db(&dir.path().join("raw.redb"));
                (dir, raw, docs.clone())
            },
            |(dir, raw, docs)| {
                let txn = raw.begin_write().unwrap();
                {
                    let mut t = txn.open_table(RAW).unwrap();
                    for d in &docs {
                        let bytes = codec::encode(d).unwrap();
                        t.insert(Uuid::new_v4().as_u128(), bytes.as_slice())
                            .unwrap();
                    }
                }
                txn.commit().unwrap();
                (dir, raw)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("raw_redb_bytes", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let raw = raw_db(&dir.path().join("raw.redb"));
                (dir, raw, encoded(&docs))
            },
            |(dir, raw, enc)| {
                let txn = raw.begin_write().unwrap();
                {
                    let mut t = txn.open_table(RAW).unwrap();
                    for (k, v) in &enc {
                        t.insert(*k, v.as_slice()).unwrap();
                    }
                }
                txn.commit().unwrap();
                (dir, raw)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn get_by_id(c: &mut Criterion) {
    let mut g = c.benchmark_group("get_by_id");
    g.measurement_time(Duration::from_secs(4));
    let docs = issues(10_000, 3);
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("b.blazedb"), Options::default()).unwrap();
    let ids = db.insert_many("issues", docs.clone()).unwrap();
    let mut i = 0;
    g.bench_function("blazedb", |b| {
        b.iter(|| {
            i = (i + 7919) % ids.len();
            black_box(db.get("issues", ids[i]).unwrap().unwrap())
        })
    });
    let raw = raw_db(&dir.path().join("raw.redb"));
    let enc = encoded(&docs);
    {
        let txn = raw.begin_write().unwrap();
        {
            let mut t = txn.open_table(RAW).unwrap();
            for (k, v) in &enc {
                t.insert(*k, v.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let mut j = 0;
    g.bench_function("raw_redb_codec", |b| {
        b.iter(|| {
            j = (j + 7919) % enc.len();
            let txn = raw.begin_read().unwrap();
            let t = txn.open_table(RAW).unwrap();
            black_box(codec::decode(t.get(enc[j].0).unwrap().unwrap().value()).unwrap())
        })
    });
    let mut j = 0;
    g.bench_function("raw_redb_bytes", |b| {
        b.iter(|| {
            j = (j + 7919) % enc.len();
            let txn = raw.begin_read().unwrap();
            let t = txn.open_table(RAW).unwrap();
            // Copy the bytes out, as any caller must before the transaction ends.
            black_box(t.get(enc[j].0).unwrap().unwrap().value().to_vec())
        })
    });
    g.finish();
}

/// fsync latency on a shared machine drifts by multiples within seconds, so criterion's
/// one-after-the-other groups can put the two engines in different weather. This measures
/// them interleaved, one commit each in turn, and reports both medians and their ratio.
fn interleaved_durable_insert() {
    let rounds: usize = std::env::var("BLAZEDB_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let docs = issues(rounds, 4);
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("b.blazedb"), Options::default()).unwrap();
    let raw = raw_db(&dir.path().join("raw.redb"));
    let (mut ours, mut theirs) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for d in &docs {
        let t = std::time::Instant::now();
        db.insert("issues", d.clone()).unwrap();
        ours.push(t.elapsed());
        let t = std::time::Instant::now();
        let txn = raw.begin_write().unwrap();
        {
            let mut table = txn.open_table(RAW).unwrap();
            let bytes = codec::encode(d).unwrap();
            table
                .insert(Uuid::new_v4().as_u128(), bytes.as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
        theirs.push(t.elapsed());
    }
    ours.sort();
    theirs.sort();
    let (a, b) = (ours[rounds / 2], theirs[rounds / 2]);
    println!(
        "interleaved_durable_single_insert ({rounds} rounds): blazedb median {a:?}, \
         raw_redb_codec median {b:?}, ratio {:.2}",
        a.as_secs_f64() / b.as_secs_f64()
    );
}

criterion_group!(benches, durable_single_insert, batch_insert_10k, get_by_id);

fn main() {
    interleaved_durable_insert();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
