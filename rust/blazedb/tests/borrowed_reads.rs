//! Scenario: borrowed reads (`get_many_with`, `get_with`, `page_with`) see exactly what the
//! decoding reads return, field by field and in the same order, for random records; missing
//! and soft-deleted records are absent; errors from the callback stop the walk.

mod common;

use blazedb::{Database, Error, Options, Record, RecordView, Uuid, Value};
use common::{any_record, same_bits};
use proptest::prelude::*;

const C: &str = "things";

/// The view's fields as a record, checking they come in the decoded record's order.
fn as_record(v: &RecordView<'_>, want: &Record) -> Record {
    let mut out = Record::new();
    let mut keys = Vec::new();
    for item in v.fields() {
        let (k, val) = item.expect("a view iterates without error");
        keys.push(k.to_string());
        out.insert(k, val.to_value().expect("nested views convert"));
    }
    let want_keys: Vec<String> = want.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, want_keys, "field order");
    out
}

fn same_record(a: &Record, b: &Record) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|((k1, v1), (k2, v2))| k1 == k2 && same_bits(v1, v2))
}

fn without_id(mut r: Record) -> Record {
    r.remove("id");
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn views_equal_decoded_records(records in prop::collection::vec(any_record(), 1..12)) {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("v.blazedb"), Options::default()).unwrap();
        let records: Vec<Record> = records.into_iter().map(without_id).collect();
        let mut ids = db.insert_many(C, records).unwrap();
        db.soft_delete(C, ids[0]).unwrap();
        ids.push(Uuid::from_u128(7)); // never stored
        let want = db.get_many(C, &ids).unwrap();
        prop_assert!(want[0].is_none());
        let mut seen = 0;
        db.get_many_with(C, &ids, |v| {
            let w = &want[seen];
            match (v, w) {
                (None, None) => {}
                (Some(v), Some(w)) => {
                    assert!(same_record(&as_record(&v, w), w));
                    assert!(same_record(&v.to_record()?, w));
                }
                (v, w) => panic!("presence differs at {seen}: {} vs {}", v.is_some(), w.is_some()),
            }
            seen += 1;
            Ok(())
        }).unwrap();
        prop_assert_eq!(seen, ids.len());

        let page = db.page(C, 1, 5).unwrap();
        let mut got = Vec::new();
        db.read(|tx| tx.page_with(C, 1, 5, |v| { got.push(v.to_record()?); Ok(()) })).unwrap();
        prop_assert_eq!(got.len(), page.len());
        for (g, p) in got.iter().zip(&page) {
            prop_assert!(same_record(g, p));
        }
        for (id, w) in ids.iter().zip(&want) {
            let one = db.read(|tx| tx.get_with(C, *id, |v| v.map(|v| v.to_record()).transpose())).unwrap();
            prop_assert_eq!(one.is_some(), w.is_some());
            if let (Some(a), Some(b)) = (&one, w) {
                prop_assert!(same_record(a, b));
            }
        }
    }
}

#[test]
fn an_error_from_the_callback_stops_the_walk_and_is_returned() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("e.blazedb"), Options::default()).unwrap();
    let ids = db
        .insert_many(C, (0..5).map(|i| Record::new().with("n", i)).collect())
        .unwrap();
    let mut calls = 0;
    let r = db.get_many_with(C, &ids, |v| {
        calls += 1;
        let n = v.and_then(|v| {
            v.fields().find_map(|f| match f.ok()? {
                ("n", blazedb::ValueView::Int(n)) => Some(n),
                _ => None,
            })
        });
        if n == Some(2) {
            Err(Error::InvalidInput("stop".into()))
        } else {
            Ok(())
        }
    });
    assert!(matches!(r, Err(Error::InvalidInput(m)) if m == "stop"));
    assert_eq!(calls, 3);
    // Missing collection: every id is absent.
    let mut absent = 0;
    db.get_many_with("nothing", &ids, |v| {
        absent += usize::from(v.is_none());
        Ok(())
    })
    .unwrap();
    assert_eq!(absent, ids.len());
    // Inside a write transaction the view sees the uncommitted write.
    db.write(|tx| {
        tx.update(C, ids[4], Record::new().with("n", 40))?;
        tx.get_many_with(C, &ids[4..], |v| {
            assert_eq!(
                v.unwrap().to_record().unwrap().get("n"),
                Some(&Value::Int(40))
            );
            Ok(())
        })
    })
    .unwrap();
}
