//! Full-text search through the database: a persistent index maintained by every write
//! (rollbacks included), BM25 ranking with scores and matched terms, prefixes, and search
//! combined with filters, limit and offset.

use blazedb::search::SearchQuery;
use blazedb::{Database, Error, Filter, IndexSpec, Options, Record, Uuid};

fn open(dir: &tempfile::TempDir) -> Database {
    Database::open(
        dir.path().join("s.blazedb"),
        Options::default().stamp_fields(false),
    )
    .unwrap()
}

fn note(title: &str, body: &str, status: &str) -> Record {
    Record::new()
        .with("title", title)
        .with("body", body)
        .with("status", status)
}

fn hits(db: &Database, q: SearchQuery) -> Vec<Uuid> {
    db.search(&q)
        .unwrap()
        .iter()
        .map(|h| h.record.id().unwrap())
        .collect()
}

fn assert_consistent(db: &Database) {
    let report = db.check().unwrap();
    assert!(report.ok, "{:#?}", report.issues);
}

#[test]
fn search_ranks_matches_and_follows_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    let crash = db
        .insert(
            "notes",
            note("Crash on launch", "The app crashes when launched", "open"),
        )
        .unwrap();
    let sync = db
        .insert(
            "notes",
            note("Sync is slow", "Syncing photos takes minutes", "open"),
        )
        .unwrap();
    // Created over existing records.
    let info = db
        .create_index("notes", IndexSpec::full_text(["title", "body"]))
        .unwrap();
    assert_eq!(info.name, "fts:title+body");
    let later = db
        .insert(
            "notes",
            note("Launch screen", "Crash crash crash at launch", "closed"),
        )
        .unwrap();

    let found = db.search(&SearchQuery::new("notes", "CRASH")).unwrap();
    let ids: Vec<Uuid> = found.iter().map(|h| h.record.id().unwrap()).collect();
    // The note saying "crash" four times ranks first; both carry their score and terms.
    assert_eq!(ids, vec![later, crash]);
    assert!(found[0].score > found[1].score && found[1].score > 0.0);
    assert_eq!(found[0].matched_terms, vec!["crash".to_string()]);

    // Prefix queries; all terms must match by default, any with match_any.
    assert_eq!(hits(&db, SearchQuery::new("notes", "sync*")), vec![sync]);
    assert!(hits(&db, SearchQuery::new("notes", "crash photos")).is_empty());
    let mut any = hits(&db, SearchQuery::new("notes", "crash photos").match_any());
    any.sort();
    let mut want = vec![crash, sync, later];
    want.sort();
    assert_eq!(any, want);

    // Filters, offset and limit apply after ranking.
    assert_eq!(
        hits(
            &db,
            SearchQuery::new("notes", "crash").filter(Filter::eq("status", "open"))
        ),
        vec![crash]
    );
    assert_eq!(
        hits(&db, SearchQuery::new("notes", "crash").offset(1).limit(1)),
        vec![crash]
    );

    // Updates, soft deletes, deletes and rollbacks keep the postings in step.
    db.update("notes", crash, note("Fixed", "Nothing to see", "closed"))
        .unwrap();
    assert_eq!(hits(&db, SearchQuery::new("notes", "crash")), vec![later]);
    assert_eq!(hits(&db, SearchQuery::new("notes", "nothing")), vec![crash]);
    db.soft_delete("notes", later).unwrap();
    assert!(hits(&db, SearchQuery::new("notes", "crash")).is_empty());
    let r: Result<(), Error> = db.write(|tx| {
        tx.insert("notes", note("crash again", "", "open"))?;
        tx.delete("notes", sync)?;
        Err(Error::InvalidInput("roll back".into()))
    });
    assert!(r.is_err());
    assert!(hits(&db, SearchQuery::new("notes", "crash")).is_empty());
    assert_eq!(hits(&db, SearchQuery::new("notes", "photos")), vec![sync]);
    db.delete("notes", sync).unwrap();
    assert!(hits(&db, SearchQuery::new("notes", "photos")).is_empty());
    db.insert_many(
        "notes",
        vec![note("batch one", "", "open"), note("batch two", "", "open")],
    )
    .unwrap();
    assert_eq!(hits(&db, SearchQuery::new("notes", "batch")).len(), 2);
    assert_consistent(&db);
    db.close().unwrap();

    // Persisted.
    let db = open(&dir);
    assert_eq!(hits(&db, SearchQuery::new("notes", "nothing")), vec![crash]);
    assert_consistent(&db);
}

#[test]
fn unicode_text_is_folded() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.create_index("n", IndexSpec::full_text(["t"])).unwrap();
    let a = db
        .insert("n", Record::new().with("t", "Café Über-Straße"))
        .unwrap();
    let b = db
        .insert("n", Record::new().with("t", "Привет, МИР"))
        .unwrap();
    assert_eq!(hits(&db, SearchQuery::new("n", "cafe")), vec![a]);
    assert_eq!(hits(&db, SearchQuery::new("n", "über")), vec![a]);
    assert_eq!(hits(&db, SearchQuery::new("n", "мир")), vec![b]);
    assert_eq!(hits(&db, SearchQuery::new("n", "прив*")), vec![b]);
}

#[test]
fn bad_searches_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir);
    db.insert("n", Record::new().with("t", "x")).unwrap();
    assert!(matches!(
        db.search(&SearchQuery::new("n", "x")),
        Err(Error::IndexNotFound(_))
    ));
    assert!(matches!(
        db.search(&SearchQuery::new("missing", "x")),
        Err(Error::IndexNotFound(_))
    ));
    db.create_index("n", IndexSpec::full_text(["t"])).unwrap();
    for text in ["", "   ", "*", "!!!"] {
        assert!(
            matches!(
                db.search(&SearchQuery::new("n", text)),
                Err(Error::InvalidQuery(_))
            ),
            "{text:?}"
        );
    }
    db.create_index("n", IndexSpec::full_text(["u"])).unwrap();
    assert!(matches!(
        db.search(&SearchQuery::new("n", "x")),
        Err(Error::InvalidQuery(_))
    ));
    assert_eq!(
        db.search(&SearchQuery::new("n", "x").index("fts:t"))
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        db.search(&SearchQuery::new("n", "x").index("nope")),
        Err(Error::IndexNotFound(_))
    ));
}

#[test]
fn encrypted_postings_are_not_readable_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.blazedb");
    let db = Database::open(
        &path,
        Options::default()
            .password("Correct-Horse-9")
            .kdf_params(blazedb::KdfParams {
                memory_kib: 8 * 1024,
                iterations: 1,
                parallelism: 1,
            }),
    )
    .unwrap();
    db.create_index("n", IndexSpec::full_text(["t"])).unwrap();
    db.insert("n", Record::new().with("t", "Zebraquux Flamingoplex"))
        .unwrap();
    assert_eq!(
        db.search(&SearchQuery::new("n", "zebraquux"))
            .unwrap()
            .len(),
        1
    );
    db.close().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for marker in [&b"zebraquux"[..], b"Zebraquux", b"flamingoplex"] {
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker),
            "{} is readable on disk",
            String::from_utf8_lossy(marker)
        );
    }
}

/// Sets the tokenizer version in the statistics entry of every full-text index table of
/// a closed plaintext file, as a build with other tokenizer rules would have written it.
fn mark_tokenizer_version(path: &std::path::Path, version: u32) -> usize {
    use redb::{ReadableDatabase, ReadableTable, TableDefinition, TableHandle};
    let db = redb::Database::create(path).unwrap();
    let names: Vec<String> = db
        .begin_read()
        .unwrap()
        .list_tables()
        .unwrap()
        .map(|h| h.name().to_string())
        .filter(|n| n.starts_with("blazedb.index."))
        .collect();
    let w = db.begin_write().unwrap();
    let mut marked = 0;
    for name in &names {
        let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(name);
        let mut t = w.open_table(def).unwrap();
        // The statistics entry: key [0x03], value version (u32 LE) ‖ docs ‖ tokens.
        let stats = t
            .get([0x03u8].as_slice())
            .unwrap()
            .map(|v| v.value().to_vec());
        if let Some(mut v) = stats.filter(|v| v.len() == 20) {
            v[..4].copy_from_slice(&version.to_le_bytes());
            t.insert([0x03u8].as_slice(), v.as_slice()).unwrap();
            marked += 1;
        }
    }
    w.commit().unwrap();
    marked
}

#[test]
fn an_index_of_another_tokenizer_version_is_rebuilt_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.blazedb");
    let db = open(&dir);
    db.create_index("notes", IndexSpec::full_text(["title", "body"]))
        .unwrap();
    let a = db
        .insert("notes", note("Crash on launch", "the app dies", "open"))
        .unwrap();
    let b = db
        .insert("notes", note("Sync", "crash while syncing", "open"))
        .unwrap();
    db.close().unwrap();
    assert_eq!(mark_tokenizer_version(&path, 999), 1);

    // Read-only, nothing can be rebuilt: the search says what is wrong.
    let ro = Database::open(&path, Options::default().read_only(true)).unwrap();
    let e = ro.search(&SearchQuery::new("notes", "crash")).unwrap_err();
    assert!(
        matches!(e, Error::CorruptedData(ref m) if m.contains("tokenizer version 999")),
        "{e:?}"
    );
    ro.close().unwrap();

    // A writable open rebuilds it from the records: searches and writes work again.
    let db = Database::open(&path, Options::default().stamp_fields(false)).unwrap();
    let mut found = hits(&db, SearchQuery::new("notes", "crash"));
    found.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(found, want);
    let c = db
        .insert("notes", note("Crash report", "", "open"))
        .unwrap();
    assert!(hits(&db, SearchQuery::new("notes", "report")) == vec![c]);
    assert_consistent(&db);
    db.close().unwrap();
    // Rebuilt once: the next open keeps the index as it is.
    let db = Database::open(&path, Options::default()).unwrap();
    assert_eq!(hits(&db, SearchQuery::new("notes", "report")), vec![c]);
    db.close().unwrap();
}
