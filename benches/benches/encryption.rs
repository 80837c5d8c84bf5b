//! Encrypted against plaintext BlazeDB, and against SQLCipher, on the same documents in the
//! same run. `cargo bench -p blazedb-benches --bench encryption`.
//!
//! The ratios that matter are encrypted/plain for batch insert, get by id and a full scan,
//! and cold open (key derivation included) to the first read.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use blazedb::{Database, Options, Record, Uuid, json};
use blazedb_benches::issues;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const PASSWORD: &str = "Bench-Password-2026";
const SCAN_N: usize = 50_000;

fn plain() -> Options {
    Options::default()
}

fn encrypted() -> Options {
    Options::default().password(PASSWORD)
}

fn sqlcipher(path: &Path, keyed: bool) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    if keyed {
        c.pragma_update(None, "key", PASSWORD).unwrap();
    }
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE IF NOT EXISTS issues (id TEXT PRIMARY KEY, doc TEXT NOT NULL);",
    )
    .unwrap();
    c
}

fn sqlcipher_load(c: &mut rusqlite::Connection, docs: &[Record]) -> Vec<String> {
    let tx = c.transaction().unwrap();
    let mut ids = Vec::with_capacity(docs.len());
    {
        let mut st = tx
            .prepare_cached("INSERT INTO issues (id, doc) VALUES (?1, ?2)")
            .unwrap();
        for d in docs {
            let id = Uuid::new_v4().to_string();
            st.execute((&id, json::record_to_json(d).to_string()))
                .unwrap();
            ids.push(id);
        }
    }
    tx.commit().unwrap();
    ids
}

fn batch_insert(c: &mut Criterion) {
    let mut g = c.benchmark_group("enc_insert_many_10k");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let docs = issues(10_000, 11);
    for (name, opts) in [
        ("blazedb_plain", plain()),
        ("blazedb_encrypted", encrypted()),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let db = Database::open(dir.path().join("b.blazedb"), opts.clone()).unwrap();
                    (dir, db, docs.clone())
                },
                |(dir, db, docs)| {
                    db.insert_many("issues", docs).unwrap();
                    (dir, db)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.bench_function("sqlcipher", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().unwrap();
                let c = sqlcipher(&dir.path().join("s.db"), true);
                (dir, c)
            },
            |(dir, mut c)| {
                sqlcipher_load(&mut c, &docs);
                (dir, c)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn reads(c: &mut Criterion) {
    let docs = issues(SCAN_N, 12);
    let dir = tempfile::tempdir().unwrap();
    let dbs: Vec<(&str, Database, Vec<Uuid>)> = [
        ("blazedb_plain", plain()),
        ("blazedb_encrypted", encrypted()),
    ]
    .into_iter()
    .map(|(name, o)| {
        let db = Database::open(dir.path().join(format!("{name}.blazedb")), o).unwrap();
        let ids = db.insert_many("issues", docs.clone()).unwrap();
        (name, db, ids)
    })
    .collect();
    let mut sc = sqlcipher(&dir.path().join("s.db"), true);
    let sids = sqlcipher_load(&mut sc, &docs);

    let mut g = c.benchmark_group("enc_get_by_id");
    g.measurement_time(Duration::from_secs(4));
    for (name, db, ids) in &dbs {
        let mut i = 0;
        g.bench_function(*name, |b| {
            b.iter(|| {
                i = (i + 7919) % ids.len();
                black_box(db.get("issues", ids[i]).unwrap().unwrap())
            })
        });
    }
    let mut i = 0;
    g.bench_function("sqlcipher", |b| {
        let mut st = sc
            .prepare_cached("SELECT doc FROM issues WHERE id = ?1")
            .unwrap();
        b.iter(|| {
            i = (i + 7919) % sids.len();
            let doc: String = st.query_row([&sids[i]], |r| r.get(0)).unwrap();
            black_box(json::record_from_json(&serde_json::from_str(&doc).unwrap()).unwrap())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("enc_full_scan_50k");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for (name, db, _) in &dbs {
        g.bench_function(*name, |b| {
            b.iter(|| black_box(db.all("issues").unwrap().len()))
        });
    }
    g.bench_function("sqlcipher", |b| {
        let mut st = sc.prepare_cached("SELECT doc FROM issues").unwrap();
        b.iter(|| {
            let rows = st
                .query_map([], |r| r.get::<_, String>(0))
                .unwrap()
                .map(|d| {
                    json::record_from_json(&serde_json::from_str(&d.unwrap()).unwrap()).unwrap()
                })
                .collect::<Vec<Record>>()
                .len();
            black_box(rows)
        })
    });
    g.finish();
}

fn cold_open(c: &mut Criterion) {
    let mut g = c.benchmark_group("enc_cold_open_to_first_read");
    g.sample_size(20).measurement_time(Duration::from_secs(6));
    let dir = tempfile::tempdir().unwrap();
    let docs = issues(1000, 13);
    for (name, o) in [
        ("blazedb_plain", plain()),
        ("blazedb_encrypted", encrypted()),
    ] {
        let path = dir.path().join(format!("{name}.blazedb"));
        let db = Database::open(&path, o.clone()).unwrap();
        let ids = db.insert_many("issues", docs.clone()).unwrap();
        db.close().unwrap();
        // Timed: open (key derivation included) to the first record in hand. Closing
        // (which syncs) happens outside the timing.
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let t = std::time::Instant::now();
                    let db = Database::open(&path, o.clone()).unwrap();
                    black_box(db.get("issues", ids[17]).unwrap().unwrap());
                    total += t.elapsed();
                    db.close().unwrap();
                }
                total
            })
        });
    }
    let spath = dir.path().join("s.db");
    let sids = {
        let mut c = sqlcipher(&spath, true);
        sqlcipher_load(&mut c, &docs)
    };
    g.bench_function("sqlcipher", |b| {
        b.iter(|| {
            let c = sqlcipher(&spath, true);
            let doc: String = c
                .query_row("SELECT doc FROM issues WHERE id = ?1", [&sids[17]], |r| {
                    r.get(0)
                })
                .unwrap();
            black_box(doc);
        })
    });
    g.finish();
}

/// Get by id when the working set fits the 16 MiB page cache: decrypted pages are served
/// from redb's cache, so this isolates BlazeDB's cost from the cipher's.
fn cached_get(c: &mut Criterion) {
    let docs = issues(10_000, 14);
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("enc_get_by_id_cached_10k");
    g.measurement_time(Duration::from_secs(4));
    for (name, o) in [
        ("blazedb_plain", plain()),
        ("blazedb_encrypted", encrypted()),
    ] {
        let db = Database::open(dir.path().join(format!("{name}.blazedb")), o).unwrap();
        let ids = db.insert_many("issues", docs.clone()).unwrap();
        for id in &ids {
            black_box(db.get("issues", *id).unwrap());
        }
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 7919) % ids.len();
                black_box(db.get("issues", ids[i]).unwrap().unwrap())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, batch_insert, reads, cached_get, cold_open);
criterion_main!(benches);
