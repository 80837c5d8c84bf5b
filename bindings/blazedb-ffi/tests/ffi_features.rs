//! The indexes, search, aggregation, joins, dumps, backups, stats and health exports,
//! called from Rust the way a foreign language calls them. Expected values are computed
//! here from the inserted data, never read back from the code under test.

use std::collections::HashMap;
use std::sync::Arc;

use blazedb_ffi::*;

fn s(v: &str) -> BlazeValue {
    BlazeValue::String { value: v.into() }
}

fn int(v: i64) -> BlazeValue {
    BlazeValue::Int { value: v }
}

fn rec(pairs: &[(&str, BlazeValue)]) -> BlazeRecord {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn options() -> OpenOptions {
    OpenOptions {
        busy_timeout_ms: Some(200),
        ..OpenOptions::default()
    }
}

fn open_at(dir: &tempfile::TempDir, name: &str) -> Arc<Database> {
    Database::open(dir.path().join(name).display().to_string(), options()).unwrap()
}

fn spec(collection: &str, filters: Vec<QueryFilter>) -> QuerySpec {
    QuerySpec {
        collection: collection.into(),
        filters,
        order_by: vec![],
        offset: None,
        limit: None,
    }
}

fn index(fields: &[&str], unique: bool) -> IndexDef {
    IndexDef {
        fields: fields.iter().map(|f| f.to_string()).collect(),
        unique,
        full_text: false,
        name: None,
    }
}

#[test]
fn indexes_unique_violations_and_explain() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_at(&dir, "i.blazedb");
    let c = "users".to_string();
    let ids = db
        .insert_many(
            c.clone(),
            (0..40)
                .map(|n| rec(&[("email", s(&format!("u{n}@x"))), ("age", int(n % 7))]))
                .collect(),
        )
        .unwrap();

    let age = db.create_index(c.clone(), index(&["age"], false)).unwrap();
    assert_eq!(age.name, "age");
    assert_eq!(age.kind, IndexKind::BTree);
    let email = db.create_index(c.clone(), index(&["email"], true)).unwrap();
    assert_eq!(email.kind, IndexKind::Unique);
    let compound = db
        .create_index(c.clone(), index(&["age", "email"], false))
        .unwrap();
    assert_eq!(
        compound.name, "age+email",
        "upstream's name: the fields joined by +"
    );
    let names: Vec<String> = db
        .indexes(c.clone())
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["age", "age+email", "email"]);

    // The query is still right, and the planner says it used the index.
    let q = spec(
        &c,
        vec![QueryFilter::Eq {
            field: "age".into(),
            value: int(3),
        }],
    );
    let expected = (0..40).filter(|n| n % 7 == 3).count() as u64;
    assert_eq!(db.query_count(q.clone()).unwrap(), expected);
    let plan = db.explain(q).unwrap();
    assert!(plan.index.is_some(), "{}", plan.text);
    assert_eq!(plan.returned_rows, expected);

    // A duplicate in a unique index arrives as its own typed error and stores nothing.
    let dup = db.insert(c.clone(), rec(&[("email", s("u5@x"))]));
    match dup {
        Err(BlazeError::UniqueViolation {
            index,
            collection,
            existing,
        }) => {
            assert_eq!(index, "email");
            assert_eq!(collection, "users");
            assert_eq!(existing, ids[5]);
        }
        other => panic!("expected UniqueViolation, got {other:?}"),
    }
    assert_eq!(db.count(c.clone()).unwrap(), 40);
    // Creating a unique index over repeated values is refused the same way.
    assert!(matches!(
        db.create_index(c.clone(), index(&["age"], true).named_as("age_u")),
        Err(BlazeError::UniqueViolation { .. })
    ));
    assert!(db.drop_index(c.clone(), "age".into()).unwrap());
    assert!(!db.drop_index(c.clone(), "age".into()).unwrap());

    // Inside a transaction: the index commits or rolls back with it.
    let tx = db.begin().unwrap();
    tx.create_index(c.clone(), index(&["age"], false)).unwrap();
    assert_eq!(tx.indexes(c.clone()).unwrap().len(), 3);
    tx.rollback().unwrap();
    assert_eq!(db.indexes(c).unwrap().len(), 2);
}

trait Named {
    fn named_as(self, n: &str) -> Self;
}
impl Named for IndexDef {
    fn named_as(mut self, n: &str) -> Self {
        self.name = Some(n.into());
        self
    }
}

#[test]
fn search_ranks_and_reports_fields() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_at(&dir, "s.blazedb");
    let c = "notes".to_string();
    let best = db
        .insert(
            c.clone(),
            rec(&[
                ("title", s("Rust rust RUST")),
                ("body", s("all about rust")),
                ("n", int(1)),
            ]),
        )
        .unwrap();
    db.insert(
        c.clone(),
        rec(&[
            ("title", s("Swift")),
            ("body", s("a word on rust")),
            ("n", int(2)),
        ]),
    )
    .unwrap();
    db.insert(
        c.clone(),
        rec(&[
            ("title", s("Kotlin")),
            ("body", s("nothing here")),
            ("n", int(3)),
        ]),
    )
    .unwrap();
    let base = SearchSpec {
        collection: c.clone(),
        text: "rust".into(),
        index: None,
        filters: vec![],
        match_any: false,
        fields: vec!["title".into(), "body".into()],
        offset: None,
        limit: None,
    };
    assert!(
        matches!(
            db.search(base.clone()),
            Err(BlazeError::IndexNotFound { .. })
        ),
        "no full-text index yet"
    );
    let fts = db
        .create_index(
            c.clone(),
            IndexDef {
                fields: vec!["title".into(), "body".into()],
                unique: false,
                full_text: true,
                name: None,
            },
        )
        .unwrap();
    assert_eq!(fts.name, "fts:title+body");
    assert_eq!(fts.kind, IndexKind::FullText);

    let hits = db.search(base.clone()).unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(
        hits[0].record["id"],
        BlazeValue::Uuid {
            value: best.clone()
        }
    );
    assert!(hits[0].score > hits[1].score);
    assert_eq!(hits[0].matched_terms, ["rust"]);
    assert_eq!(hits[0].field_matches["title"], ["rust"]);
    assert_eq!(hits[0].field_matches["body"], ["rust"]);
    assert!(
        !hits[1].field_matches.contains_key("title"),
        "Swift's title holds no match"
    );

    let filtered = db
        .search(SearchSpec {
            filters: vec![QueryFilter::Gt {
                field: "n".into(),
                value: int(1),
            }],
            ..base.clone()
        })
        .unwrap();
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0].record["n"], int(2));
    let any = db
        .search(SearchSpec {
            text: "kotlin swift".into(),
            match_any: true,
            ..base.clone()
        })
        .unwrap();
    assert_eq!(any.len(), 2);
    let all = db
        .search(SearchSpec {
            text: "kotlin swift".into(),
            ..base.clone()
        })
        .unwrap();
    assert!(all.is_empty());
    let prefix = db
        .search(SearchSpec {
            text: "kot*".into(),
            ..base.clone()
        })
        .unwrap();
    assert_eq!(prefix.len(), 1);
    assert_eq!(prefix[0].matched_terms, ["kotlin"]);
    assert!(matches!(
        db.search(SearchSpec {
            text: "".into(),
            ..base
        }),
        Err(BlazeError::InvalidQuery { .. })
    ));
}

#[test]
fn aggregation_group_by_having_and_distinct() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_at(&dir, "a.blazedb");
    let c = "bugs".to_string();
    let statuses = ["open", "fixed", "wontfix"];
    let rows: Vec<(usize, i64)> = (0..30).map(|n| (n % 3, (n * n % 11) as i64)).collect();
    db.insert_many(
        c.clone(),
        rows.iter()
            .map(|(st, p)| rec(&[("status", s(statuses[*st])), ("priority", int(*p))]))
            .collect(),
    )
    .unwrap();
    let op = |kind, field: Option<&str>, alias: &str| AggregateOp {
        kind,
        field: field.map(str::to_string),
        alias: alias.into(),
    };
    let total: i64 = rows.iter().map(|r| r.1).sum();
    let one = db
        .aggregate(AggregateSpec {
            collection: c.clone(),
            filters: vec![],
            group_by: vec![],
            aggregates: vec![
                op(AggregateKind::Count, None, "count"),
                op(AggregateKind::Sum, Some("priority"), "sum_priority"),
                op(AggregateKind::Avg, Some("priority"), "avg_priority"),
                op(AggregateKind::Min, Some("priority"), "min_priority"),
                op(AggregateKind::Max, Some("priority"), "max_priority"),
            ],
            having: vec![],
            order_by: vec![],
            offset: None,
            limit: None,
        })
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["count"], int(30));
    assert_eq!(one[0]["sum_priority"], int(total));
    assert_eq!(
        one[0]["avg_priority"],
        BlazeValue::Double {
            value: total as f64 / 30.0
        }
    );
    assert_eq!(
        one[0]["min_priority"],
        int(rows.iter().map(|r| r.1).min().unwrap())
    );
    assert_eq!(
        one[0]["max_priority"],
        int(rows.iter().map(|r| r.1).max().unwrap())
    );

    let grouped = db
        .aggregate(AggregateSpec {
            collection: c.clone(),
            filters: vec![QueryFilter::Ne {
                field: "status".into(),
                value: s("wontfix"),
            }],
            group_by: vec!["status".into()],
            aggregates: vec![
                op(AggregateKind::Count, None, "n"),
                op(AggregateKind::Sum, Some("priority"), "total"),
            ],
            having: vec![QueryFilter::Gte {
                field: "n".into(),
                value: int(1),
            }],
            order_by: vec![SortKey {
                field: "total".into(),
                descending: true,
            }],
            offset: None,
            limit: None,
        })
        .unwrap();
    assert_eq!(grouped.len(), 2);
    let mut want: Vec<(String, i64, i64)> = (0..2)
        .map(|st| {
            let mine: Vec<i64> = rows.iter().filter(|r| r.0 == st).map(|r| r.1).collect();
            (
                statuses[st].to_string(),
                mine.len() as i64,
                mine.iter().sum(),
            )
        })
        .collect();
    want.sort_by_key(|w| std::cmp::Reverse(w.2));
    for (row, (status, n, total)) in grouped.iter().zip(&want) {
        assert_eq!(row["status"], s(status));
        assert_eq!(row["n"], int(*n));
        assert_eq!(row["total"], int(*total));
    }

    assert!(matches!(
        db.aggregate(AggregateSpec {
            collection: c.clone(),
            filters: vec![],
            group_by: vec![],
            aggregates: vec![op(AggregateKind::Sum, None, "x")],
            having: vec![],
            order_by: vec![],
            offset: None,
            limit: None,
        }),
        Err(BlazeError::InvalidQuery { .. })
    ));

    let distinct = db.distinct(spec(&c, vec![]), "status".into()).unwrap();
    let mut want: Vec<BlazeValue> = statuses.iter().map(|x| s(x)).collect();
    want.sort_by_key(|v| match v {
        BlazeValue::String { value } => value.clone(),
        _ => unreachable!(),
    });
    assert_eq!(distinct, want);
}

#[test]
fn joins_inner_left_right_full_across_databases() {
    let dir = tempfile::tempdir().unwrap();
    let bugs_db = open_at(&dir, "bugs.blazedb");
    let users_db = open_at(&dir, "users.blazedb");
    let ana = users_db
        .insert("users".into(), rec(&[("name", s("ana"))]))
        .unwrap();
    let bo = users_db
        .insert("users".into(), rec(&[("name", s("bo"))]))
        .unwrap();
    // A string foreign key matches the uuid id.
    bugs_db
        .insert(
            "bugs".into(),
            rec(&[("title", s("crash")), ("owner", s(&ana))]),
        )
        .unwrap();
    bugs_db
        .insert(
            "bugs".into(),
            rec(&[("title", s("slow")), ("owner", s(&ana))]),
        )
        .unwrap();
    bugs_db
        .insert("bugs".into(), rec(&[("title", s("orphan"))]))
        .unwrap();
    let j = |kind| JoinSpec {
        left_collection: "bugs".into(),
        left_filters: vec![],
        left_field: "owner".into(),
        right_collection: "users".into(),
        right_filters: vec![],
        right_field: "id".into(),
        kind,
        offset: None,
        limit: None,
    };
    let name = |p: &JoinedPair| p.right.as_ref().map(|r| r["name"].clone());
    let title = |p: &JoinedPair| p.left.as_ref().map(|r| r["title"].clone());

    let inner = bugs_db
        .join(j(JoinKind::Inner), Some(users_db.clone()))
        .unwrap();
    assert_eq!(inner.len(), 2);
    assert!(inner.iter().all(|p| name(p) == Some(s("ana"))));

    let left = bugs_db
        .join(j(JoinKind::Left), Some(users_db.clone()))
        .unwrap();
    assert_eq!(left.len(), 3);
    let unmatched: Vec<_> = left.iter().filter(|p| p.right.is_none()).collect();
    assert_eq!(unmatched.len(), 1);
    assert_eq!(title(unmatched[0]), Some(s("orphan")));

    let right = bugs_db
        .join(j(JoinKind::Right), Some(users_db.clone()))
        .unwrap();
    assert_eq!(right.len(), 3);
    let lonely: Vec<_> = right.iter().filter(|p| p.left.is_none()).collect();
    assert_eq!(lonely.len(), 1);
    assert_eq!(
        lonely[0].right.as_ref().unwrap()["id"],
        BlazeValue::Uuid { value: bo }
    );

    let full = bugs_db
        .join(j(JoinKind::Full), Some(users_db.clone()))
        .unwrap();
    assert_eq!(full.len(), 4);
    assert_eq!(full.iter().filter(|p| p.left.is_none()).count(), 1);
    assert_eq!(full.iter().filter(|p| p.right.is_none()).count(), 1);

    // Within one database (no right handle): users are not there, so nothing matches.
    let same = bugs_db.join(j(JoinKind::Left), None).unwrap();
    assert!(same.iter().all(|p| p.right.is_none()));

    users_db.close_database().unwrap();
    assert!(matches!(
        bugs_db.join(j(JoinKind::Inner), Some(users_db)),
        Err(BlazeError::Closed)
    ));
}

#[test]
fn dumps_round_trip_and_refuse_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_at(&dir, "d.blazedb");
    let records: Vec<BlazeRecord> = (0..25)
        .map(|n| {
            rec(&[
                ("n", int(n)),
                (
                    "blob",
                    BlazeValue::Data {
                        value: vec![n as u8, 0xff],
                    },
                ),
                (
                    "when",
                    BlazeValue::Date {
                        secs: 1_700_000_000 + n,
                        nanos: 123,
                    },
                ),
            ])
        })
        .collect();
    db.insert_many("c".into(), records).unwrap();
    db.set_schema_version(StoredSchemaVersion { major: 2, minor: 1 })
        .unwrap();

    let lossless = dir.path().join("all.dump").display().to_string();
    let report = db.export_dump(lossless.clone(), vec![]).unwrap();
    assert_eq!(report.records, 25);
    assert_eq!(report.format, DumpFormat::Lossless);
    let info = verify_dump(lossless.clone()).unwrap();
    assert_eq!(info.record_count, 25);
    assert_eq!(info.format, DumpFormat::Lossless);

    let fresh = open_at(&dir, "fresh.blazedb");
    let restored = fresh.restore_dump(lossless.clone(), None).unwrap();
    assert_eq!(restored.records, 25);
    assert_eq!(
        fresh.all("c".into()).unwrap(),
        db.all("c".into()).unwrap(),
        "lossless: every value as itself"
    );
    assert!(
        matches!(
            fresh.restore_dump(lossless.clone(), None),
            Err(BlazeError::InvalidInput { .. })
        ),
        "restore needs empty collections"
    );

    let v1 = dir.path().join("c.blazedump").display().to_string();
    let r = db
        .export_upstream_dump(
            "c".into(),
            v1.clone(),
            Some("tracker".into()),
            db.schema_version().unwrap(),
        )
        .unwrap();
    assert_eq!(r.format, DumpFormat::UpstreamV1);
    let info = verify_dump(v1.clone()).unwrap();
    assert_eq!(info.format, DumpFormat::UpstreamV1);
    assert_eq!(info.source, "tracker");
    assert_eq!(
        info.schema_version,
        Some(StoredSchemaVersion { major: 2, minor: 1 })
    );
    assert!(info.database_id.is_some());
    let other = open_at(&dir, "other.blazedb");
    assert!(matches!(
        other.restore_dump(v1.clone(), None),
        Err(BlazeError::InvalidInput { .. })
    ));
    let restored = other.restore_dump(v1.clone(), Some("bugs".into())).unwrap();
    assert_eq!(restored.records, 25);
    assert_eq!(other.count("bugs".into()).unwrap(), 25);

    // One changed byte is refused, and nothing is written.
    let mut bytes = std::fs::read(&v1).unwrap();
    let at = bytes.windows(6).position(|w| w == b"\"n\":24").unwrap() + 5;
    bytes[at] = b'3';
    let bad = dir.path().join("bad.blazedump");
    std::fs::write(&bad, bytes).unwrap();
    let bad = bad.display().to_string();
    assert!(matches!(
        verify_dump(bad.clone()),
        Err(BlazeError::CorruptedData { .. })
    ));
    let target = open_at(&dir, "target.blazedb");
    assert!(matches!(
        target.restore_dump(bad, Some("c".into())),
        Err(BlazeError::CorruptedData { .. })
    ));
    assert_eq!(target.count("c".into()).unwrap(), 0);
}

#[test]
fn backups_stats_and_health() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_at(&dir, "b.blazedb");
    let ids = db
        .insert_many("c".into(), (0..12).map(|n| rec(&[("n", int(n))])).collect())
        .unwrap();
    db.soft_delete("c".into(), ids[0].clone()).unwrap();
    db.insert("d".into(), HashMap::new()).unwrap();
    db.create_index("c".into(), index(&["n"], false)).unwrap();

    let st = db.stats().unwrap();
    assert_eq!(st.records, 12, "11 live in c, 1 in d");
    assert_eq!(st.soft_deleted, 1);
    assert_eq!(st.index_count, 1);
    let c = st.collections.iter().find(|c| c.name == "c").unwrap();
    assert_eq!((c.records, c.soft_deleted), (11, 1));
    assert!(st.file_bytes > 0 && !st.encrypted);

    let h = db.health().unwrap();
    assert_eq!(h.status, HealthLevel::Ok, "{:?}", h.reasons);

    let path = dir.path().join("b.backup").display().to_string();
    let report = db.backup(path.clone(), options(), false).unwrap();
    assert_eq!(report.records, 12);
    assert_eq!(report.soft_deleted, 1);
    assert!(
        matches!(
            db.backup(path.clone(), options(), false),
            Err(BlazeError::InvalidInput { .. })
        ),
        "a backup never replaces a file"
    );
    let check = verify_backup(path.clone(), options()).unwrap();
    assert!(check.ok, "{:?}", check.issues);
    assert_eq!(check.records, 12);

    let target = dir.path().join("restored.blazedb").display().to_string();
    let r = restore_backup(path, options(), target.clone(), options(), false).unwrap();
    assert_eq!(r.records, 12);
    let back = Database::open(target, options()).unwrap();
    assert_eq!(back.all("c".into()).unwrap(), db.all("c".into()).unwrap());
    assert_eq!(back.count("d".into()).unwrap(), 1);
}

#[test]
fn every_new_call_throws_closed_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_at(&dir, "x.blazedb");
    let tx = db.begin().unwrap();
    db.close_database().unwrap();
    let c = || "c".to_string();
    let p = || dir.path().join("out").display().to_string();
    let closed = |r: Result<(), BlazeError>, what: &str| {
        assert!(matches!(r, Err(BlazeError::Closed)), "{what}: {r:?}");
    };
    closed(
        db.create_index(c(), index(&["a"], false)).map(drop),
        "create_index",
    );
    closed(db.drop_index(c(), "a".into()).map(drop), "drop_index");
    closed(db.indexes(c()).map(drop), "indexes");
    let search = SearchSpec {
        collection: c(),
        text: "a".into(),
        index: None,
        filters: vec![],
        match_any: false,
        fields: vec![],
        offset: None,
        limit: None,
    };
    closed(db.search(search.clone()).map(drop), "search");
    closed(
        db.aggregate(AggregateSpec {
            collection: c(),
            filters: vec![],
            group_by: vec![],
            aggregates: vec![],
            having: vec![],
            order_by: vec![],
            offset: None,
            limit: None,
        })
        .map(drop),
        "aggregate",
    );
    closed(
        db.distinct(spec("c", vec![]), "a".into()).map(drop),
        "distinct",
    );
    let j = JoinSpec {
        left_collection: c(),
        left_filters: vec![],
        left_field: "a".into(),
        right_collection: c(),
        right_filters: vec![],
        right_field: "id".into(),
        kind: JoinKind::Inner,
        offset: None,
        limit: None,
    };
    closed(db.join(j, None).map(drop), "join");
    closed(db.explain(spec("c", vec![])).map(drop), "explain");
    closed(db.stats().map(drop), "stats");
    closed(db.health().map(drop), "health");
    closed(db.schema_version().map(drop), "schema_version");
    closed(
        db.set_schema_version(StoredSchemaVersion { major: 1, minor: 0 }),
        "set_schema_version",
    );
    closed(db.backup(p(), options(), false).map(drop), "backup");
    closed(db.export_dump(p(), vec![]).map(drop), "export_dump");
    closed(
        db.export_upstream_dump(c(), p(), None, None).map(drop),
        "export_upstream_dump",
    );
    closed(db.restore_dump(p(), Some(c())).map(drop), "restore_dump");
    closed(
        tx.create_index(c(), index(&["a"], false)).map(drop),
        "tx.create_index",
    );
    closed(tx.drop_index(c(), "a".into()).map(drop), "tx.drop_index");
    closed(tx.indexes(c()).map(drop), "tx.indexes");
    closed(tx.search(search).map(drop), "tx.search");
    closed(tx.schema_version().map(drop), "tx.schema_version");
    closed(
        tx.set_schema_version(StoredSchemaVersion { major: 1, minor: 0 }),
        "tx.set_schema_version",
    );
}
