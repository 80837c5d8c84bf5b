//! Scenario: paging through a collection.
//!
//! Pages of any size cover every live record exactly once, in ascending id order; the same
//! page is the same across calls and across a reopen; tombstones are skipped; a zero limit
//! or an offset past the end gives an empty page.

use std::path::PathBuf;

use blazedb::{Database, Durability, Options, Record, Uuid, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const C: &str = "pages";
const N: usize = 1_000;

fn options() -> Options {
    Options::default().durability(Durability::Relaxed)
}

/// A database holding N records with seeded random ids, and those ids sorted.
fn setup() -> (tempfile::TempDir, PathBuf, Database, Vec<Uuid>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paging.blazedb");
    let db = Database::open(&path, options()).unwrap();
    let mut rng = StdRng::seed_from_u64(0x9A6E5);
    let records: Vec<Record> = (0..N)
        .map(|i| {
            Record::new()
                .with("id", Uuid::from_u128(rng.r#gen()))
                .with("n", i as i64)
        })
        .collect();
    let mut ids = db.insert_many(C, records).unwrap();
    assert_eq!(ids.len(), N);
    ids.sort();
    (dir, path, db, ids)
}

fn ids_of(records: &[Record]) -> Vec<Uuid> {
    records.iter().map(|r| r.id().unwrap()).collect()
}

/// Walks the collection page by page; checks each page's length on the way.
fn walk(db: &Database, size: usize, total: usize) -> Vec<Uuid> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = db.page(C, offset, size).unwrap();
        let expected_len = size.min(total.saturating_sub(offset));
        assert_eq!(page.len(), expected_len, "size {size} offset {offset}");
        if page.is_empty() {
            break;
        }
        out.extend(ids_of(&page));
        offset += page.len();
    }
    out
}

const SIZES: [usize; 9] = [3, 7, 10, 64, 100, 333, 999, 1000, 1001];

#[test]
fn pages_cover_every_record_once_in_id_order() {
    let (_dir, _path, db, ids) = setup();
    for size in SIZES {
        assert_eq!(walk(&db, size, N), ids, "page size {size}");
    }
    // `all` is the same order.
    assert_eq!(ids_of(&db.all(C).unwrap()), ids);
    // The id order is the uuid's own order, which is also its string order.
    let strings: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let mut sorted = strings.clone();
    sorted.sort();
    assert_eq!(strings, sorted);
}

#[test]
fn single_record_pages_walk_the_whole_collection() {
    let (_dir, _path, db, ids) = setup();
    // Every 50th offset with a limit of one picks exactly the record at that rank.
    for offset in (0..N).step_by(50).chain([N - 1]) {
        let page = db.page(C, offset, 1).unwrap();
        assert_eq!(ids_of(&page), vec![ids[offset]], "offset {offset}");
    }
}

#[test]
fn pages_are_identical_across_calls_and_reopen() {
    let (_dir, path, db, ids) = setup();
    let probes = [(0, 10), (250, 100), (990, 50), (1, 999)];
    let before: Vec<Vec<Record>> = probes
        .iter()
        .map(|&(o, l)| db.page(C, o, l).unwrap())
        .collect();
    for (i, &(o, l)) in probes.iter().enumerate() {
        assert_eq!(db.page(C, o, l).unwrap(), before[i], "repeat of {o},{l}");
        assert_eq!(ids_of(&before[i]), ids[o..(o + l).min(N)].to_vec());
    }
    // Reading the same page in a snapshot and in a write transaction agrees too.
    let snap = db.snapshot().unwrap();
    assert_eq!(snap.page(C, 250, 100).unwrap(), before[1]);
    drop(snap);
    db.write(|tx| {
        assert_eq!(tx.page(C, 250, 100)?, before[1]);
        Ok(())
    })
    .unwrap();
    db.close().unwrap();

    let db = Database::open(&path, options()).unwrap();
    for (i, &(o, l)) in probes.iter().enumerate() {
        assert_eq!(db.page(C, o, l).unwrap(), before[i], "after reopen {o},{l}");
    }
    assert_eq!(walk(&db, 77, N), ids);
    // Records carry their data, not just their ids.
    let first = &before[0][0];
    assert!(matches!(first.get("n"), Some(Value::Int(n)) if (0..N as i64).contains(n)));
}

#[test]
fn pages_skip_soft_deleted_records() {
    let (_dir, path, db, ids) = setup();
    let gone: Vec<Uuid> = ids.iter().copied().step_by(7).collect();
    db.write(|tx| {
        for id in &gone {
            tx.soft_delete(C, *id)?;
        }
        Ok(())
    })
    .unwrap();
    // And a few hard deletes, which leave no tombstone.
    let hard: Vec<Uuid> = ids.iter().copied().skip(3).step_by(101).collect();
    db.delete_many(C, &hard).unwrap();

    let live: Vec<Uuid> = ids
        .iter()
        .copied()
        .filter(|id| !gone.contains(id) && !hard.contains(id))
        .collect();
    assert_eq!(db.count(C).unwrap(), live.len() as u64);
    for size in SIZES {
        assert_eq!(walk(&db, size, live.len()), live, "page size {size}");
    }
    // Offsets count live records only: the page at offset k starts at the k-th live one.
    assert_eq!(
        ids_of(&db.page(C, 500, 3).unwrap()),
        live[500..503].to_vec()
    );
    db.close().unwrap();
    let db = Database::open(&path, options()).unwrap();
    assert_eq!(walk(&db, 250, live.len()), live);
    // After a purge the pages are unchanged. (A hard delete of a tombstone, like index
    // 609 = 7 * 87, already removed it.)
    let tombstones = gone.iter().filter(|id| !hard.contains(id)).count();
    assert!(tombstones < gone.len());
    assert_eq!(db.purge(C).unwrap(), tombstones as u64);
    assert_eq!(walk(&db, 64, live.len()), live);
}

#[test]
fn zero_limit_and_offsets_past_the_end_are_empty() {
    let (_dir, _path, db, ids) = setup();
    for offset in [0, 1, 500, N, N + 1, usize::MAX] {
        assert!(db.page(C, offset, 0).unwrap().is_empty(), "offset {offset}");
    }
    for (offset, limit) in [
        (N, 1),
        (N, 10),
        (N + 1, 5),
        (usize::MAX, 1),
        (usize::MAX, usize::MAX),
    ] {
        assert!(
            db.page(C, offset, limit).unwrap().is_empty(),
            "offset {offset} limit {limit}"
        );
    }
    assert_eq!(ids_of(&db.page(C, N - 1, 10).unwrap()), vec![ids[N - 1]]);
    assert_eq!(db.page(C, 0, usize::MAX).unwrap().len(), N);
    assert!(db.page("missing", 0, 10).unwrap().is_empty());
    assert!(!db.collections().unwrap().contains(&"missing".to_string()));
}

#[test]
fn empty_collection_has_empty_pages() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("e.blazedb"), options()).unwrap();
    let id = db.insert(C, Record::new()).unwrap();
    db.delete(C, id).unwrap();
    assert!(db.page(C, 0, 10).unwrap().is_empty());
    assert!(db.all(C).unwrap().is_empty());
    assert_eq!(db.count(C).unwrap(), 0);
}
