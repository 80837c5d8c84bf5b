//! Scenario: the change feed.
//!
//! One batch per commit, in the order the transaction made its changes; nothing for a
//! rollback; feeds scoped to their database; cancellation; a bounded queue that reports
//! lag instead of blocking the writer; callback delivery on its own thread; and an orderly
//! end when the database closes.

use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use blazedb::{
    Change, ChangeBatch, ChangeKind, Database, Error, Notification, Options, Record, Subscription,
    Uuid,
};

const C: &str = "events";

fn open_in(dir: &tempfile::TempDir, name: &str, options: Options) -> Database {
    Database::open(dir.path().join(name), options).unwrap()
}

fn fresh() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = open_in(&dir, "feed.blazedb", Options::default());
    (dir, db)
}

fn u(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn rec(id: Uuid) -> Record {
    Record::new().with("id", id)
}

/// The batch that must already be waiting (commits publish before they return).
fn next_batch(sub: &Subscription) -> Arc<ChangeBatch> {
    match sub.try_recv() {
        Some(Notification::Changes(b)) => b,
        other => panic!("expected a batch, got {other:?}"),
    }
}

fn assert_quiet(sub: &Subscription, what: &str) {
    let got = sub.try_recv();
    assert!(got.is_none(), "{what}: unexpected {got:?}");
}

fn change(collection: &str, id: Uuid, kind: ChangeKind) -> Change {
    Change {
        collection: collection.into(),
        id,
        kind,
    }
}

#[test]
fn each_commit_is_one_batch_with_its_changes_in_order() {
    let (_dir, db) = fresh();
    let sub = db.subscribe().unwrap();
    assert_quiet(&sub, "before any write");

    let ids = db
        .insert_many(C, vec![rec(u(3)), rec(u(1)), rec(u(2))])
        .unwrap();
    let b = next_batch(&sub);
    assert_eq!(b.seq, 1, "the first commit is number 1");
    assert_eq!(
        b.changes,
        ids.iter()
            .map(|id| change(C, *id, ChangeKind::Inserted))
            .collect::<Vec<_>>(),
        "in input order, not id order"
    );
    assert_quiet(&sub, "one batch per commit");

    let mut last = b.seq;
    let mut expect = |sub: &Subscription, changes: Vec<Change>, what: &str| {
        let b = next_batch(sub);
        assert_eq!(b.changes, changes, "{what}");
        assert_eq!(b.seq, last + 1, "{what}: sequence numbers have no gaps");
        last = b.seq;
        assert_quiet(sub, what);
    };

    db.update(C, u(1), Record::new().with("v", 1)).unwrap();
    expect(&sub, vec![change(C, u(1), ChangeKind::Updated)], "update");
    db.update_fields(C, u(2), Record::new().with("v", 2))
        .unwrap();
    expect(
        &sub,
        vec![change(C, u(2), ChangeKind::Updated)],
        "update_fields",
    );
    assert!(db.upsert(C, u(4), Record::new()).unwrap());
    expect(
        &sub,
        vec![change(C, u(4), ChangeKind::Inserted)],
        "upsert insert",
    );
    assert!(!db.upsert(C, u(4), Record::new().with("v", 4)).unwrap());
    expect(
        &sub,
        vec![change(C, u(4), ChangeKind::Updated)],
        "upsert replace",
    );
    assert!(db.delete(C, u(3)).unwrap());
    expect(&sub, vec![change(C, u(3), ChangeKind::Deleted)], "delete");
    db.soft_delete(C, u(2)).unwrap();
    expect(
        &sub,
        vec![change(C, u(2), ChangeKind::Deleted)],
        "soft_delete",
    );

    // Writes that change nothing publish nothing.
    assert_eq!(db.purge(C).unwrap(), 1);
    assert_quiet(&sub, "purge");
    assert!(!db.delete(C, u(99)).unwrap());
    assert_quiet(&sub, "delete of a missing id");
    assert!(db.insert(C, rec(u(1))).is_err());
    assert_quiet(&sub, "failed insert");

    db.insert_many(C, vec![rec(u(10)), rec(u(11))]).unwrap();
    expect(
        &sub,
        vec![
            change(C, u(10), ChangeKind::Inserted),
            change(C, u(11), ChangeKind::Inserted),
        ],
        "second batch insert",
    );
    assert_eq!(db.delete_many(C, &[u(11), u(98), u(10)]).unwrap(), 2);
    expect(
        &sub,
        vec![
            change(C, u(11), ChangeKind::Deleted),
            change(C, u(10), ChangeKind::Deleted),
        ],
        "delete_many",
    );

    // Several operations in one transaction, across collections: one batch, in order.
    db.write(|tx| {
        tx.insert("other", rec(u(20)))?;
        tx.update_fields(C, u(1), Record::new().with("w", 1))?;
        tx.delete(C, u(4))?;
        tx.update_fields("other", u(20), Record::new().with("w", 2))?;
        Ok(())
    })
    .unwrap();
    expect(
        &sub,
        vec![
            change("other", u(20), ChangeKind::Inserted),
            change(C, u(1), ChangeKind::Updated),
            change(C, u(4), ChangeKind::Deleted),
            change("other", u(20), ChangeKind::Updated),
        ],
        "multi-operation transaction",
    );

    // Dropping a collection reports each live record deleted.
    db.insert_many("gone", vec![rec(u(30)), rec(u(31)), rec(u(32))])
        .unwrap();
    expect(
        &sub,
        (30..33)
            .map(|n| change("gone", u(n), ChangeKind::Inserted))
            .collect(),
        "insert into gone",
    );
    db.soft_delete("gone", u(31)).unwrap();
    expect(
        &sub,
        vec![change("gone", u(31), ChangeKind::Deleted)],
        "soft delete in gone",
    );
    assert!(db.drop_collection("gone").unwrap());
    expect(
        &sub,
        vec![
            change("gone", u(30), ChangeKind::Deleted),
            change("gone", u(32), ChangeKind::Deleted),
        ],
        "drop_collection",
    );
}

#[test]
fn a_rolled_back_write_closure_emits_nothing() {
    let (_dir, db) = fresh();
    let sub = db.subscribe().unwrap();
    let r: blazedb::Result<()> = db.write(|tx| {
        tx.insert(C, rec(u(1)))?;
        tx.insert(C, rec(u(2)))?;
        Err(Error::InvalidInput("changed my mind".into()))
    });
    assert!(matches!(r, Err(Error::InvalidInput(_))));
    assert_quiet(&sub, "explicit Err");
    // An operation failing inside the closure, propagated with `?`, rolls back too.
    db.insert(C, rec(u(5))).unwrap();
    let first = next_batch(&sub);
    let r = db.write(|tx| {
        tx.insert(C, rec(u(6)))?;
        tx.insert(C, rec(u(5)))?; // duplicate
        Ok(())
    });
    assert!(matches!(r, Err(Error::RecordExists { .. })));
    assert_quiet(&sub, "failed operation");
    assert_eq!(db.count(C).unwrap(), 1);
    // A rollback uses no sequence number: the next commit follows the last one.
    db.insert(C, rec(u(7))).unwrap();
    assert_eq!(next_batch(&sub).seq, first.seq + 1);
}

#[test]
fn a_caught_failure_inside_a_commit_reports_only_what_happened() {
    let (_dir, db) = fresh();
    db.insert(C, rec(u(1))).unwrap();
    let sub = db.subscribe().unwrap();
    db.write(|tx| {
        tx.insert(C, rec(u(2)))?;
        assert!(tx.insert_many(C, vec![rec(u(3)), rec(u(1))]).is_err());
        assert!(tx.update(C, u(99), Record::new()).is_err());
        assert!(tx.soft_delete(C, u(98)).is_err());
        tx.delete(C, u(1))?;
        Ok(())
    })
    .unwrap();
    assert_eq!(
        next_batch(&sub).changes,
        vec![
            change(C, u(2), ChangeKind::Inserted),
            change(C, u(1), ChangeKind::Deleted),
        ]
    );
    assert_quiet(&sub, "one commit");
    // Upsert over a tombstone is an insert, as far as the feed is concerned.
    db.soft_delete(C, u(2)).unwrap();
    next_batch(&sub);
    assert!(db.upsert(C, u(2), Record::new()).unwrap());
    assert_eq!(
        next_batch(&sub).changes,
        vec![change(C, u(2), ChangeKind::Inserted)]
    );
}

#[test]
fn an_explicit_transaction_emits_only_on_commit() {
    let (_dir, db) = fresh();
    let sub = db.subscribe().unwrap();

    let tx = db.begin().unwrap();
    tx.insert(C, rec(u(1))).unwrap();
    tx.insert(C, rec(u(2))).unwrap();
    tx.update_fields(C, u(1), Record::new().with("v", 1))
        .unwrap();
    assert!(sub.recv_timeout(Duration::from_millis(50)).is_none());
    tx.commit().unwrap();
    let b = next_batch(&sub);
    assert_eq!(
        b.changes,
        vec![
            change(C, u(1), ChangeKind::Inserted),
            change(C, u(2), ChangeKind::Inserted),
            change(C, u(1), ChangeKind::Updated),
        ]
    );
    assert_quiet(&sub, "after commit");
    assert!(matches!(tx.commit(), Err(Error::Closed)), "a spent handle");

    let tx = db.begin().unwrap();
    tx.insert(C, rec(u(3))).unwrap();
    tx.delete(C, u(1)).unwrap();
    tx.rollback().unwrap();
    assert_quiet(&sub, "rollback");

    let tx = db.begin().unwrap();
    tx.insert(C, rec(u(4))).unwrap();
    drop(tx);
    assert_quiet(&sub, "dropped transaction");

    assert_eq!(db.count(C).unwrap(), 2);
    assert!(db.exists(C, u(1)).unwrap());
    db.insert(C, rec(u(5))).unwrap();
    assert_eq!(next_batch(&sub).seq, b.seq + 1);
}

#[test]
fn two_databases_have_independent_feeds() {
    let dir = tempfile::tempdir().unwrap();
    let a = open_in(&dir, "a.blazedb", Options::default());
    let b = open_in(&dir, "b.blazedb", Options::default());
    let sub_a = a.subscribe().unwrap();
    let sub_b = b.subscribe().unwrap();

    a.insert(C, rec(u(1))).unwrap();
    a.insert(C, rec(u(2))).unwrap();
    assert_quiet(&sub_b, "B after writes to A");
    assert_eq!(
        next_batch(&sub_a).changes,
        vec![change(C, u(1), ChangeKind::Inserted)]
    );
    assert_eq!(
        next_batch(&sub_a).changes,
        vec![change(C, u(2), ChangeKind::Inserted)]
    );

    b.insert(C, rec(u(3))).unwrap();
    let got = next_batch(&sub_b);
    assert_eq!(got.changes, vec![change(C, u(3), ChangeKind::Inserted)]);
    assert_eq!(got.seq, 1, "B numbers its own commits");
    assert_quiet(&sub_a, "A after a write to B");
    // Closing one leaves the other's feed running.
    a.close().unwrap();
    b.insert(C, rec(u(4))).unwrap();
    assert_eq!(next_batch(&sub_b).seq, 2);
    assert!(sub_a.recv().is_none());
}

#[test]
fn cancel_stops_delivery() {
    let (_dir, db) = fresh();
    let sub = db.subscribe().unwrap();
    let other = db.subscribe().unwrap();
    db.insert(C, rec(u(1))).unwrap();
    next_batch(&sub);
    next_batch(&other);

    // Batches queued before the cancel are still drained, then the feed ends.
    db.insert(C, rec(u(2))).unwrap();
    sub.cancel();
    assert!(sub.is_cancelled());
    db.insert(C, rec(u(3))).unwrap();
    match sub.recv() {
        Some(Notification::Changes(b)) => assert_eq!(b.changes[0].id, u(2)),
        other => panic!("expected the queued batch, got {other:?}"),
    }
    assert!(
        sub.recv().is_none(),
        "nothing after cancel, and no blocking"
    );
    assert!(sub.try_recv().is_none());
    assert!(sub.recv_timeout(Duration::from_millis(10)).is_none());

    // The other subscriber is unaffected.
    assert!(!other.is_cancelled());
    assert_eq!(next_batch(&other).changes[0].id, u(2));
    assert_eq!(next_batch(&other).changes[0].id, u(3));
}

#[test]
fn a_slow_subscriber_lags_and_never_blocks_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_in(&dir, "lag.blazedb", Options::default().feed_capacity(4));
    let sub = db.subscribe().unwrap();

    let writer = db.clone();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        for n in 1..=10 {
            writer.insert(C, rec(u(n))).unwrap();
        }
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the writer blocked on a subscriber that does not read");

    assert_eq!(sub.try_recv(), Some(Notification::Lagged { missed: 6 }));
    for n in 7..=10u64 {
        let b = next_batch(&sub);
        assert_eq!(b.seq, n, "the newest four are kept");
        assert_eq!(
            b.changes,
            vec![change(C, u(u128::from(n)), ChangeKind::Inserted)]
        );
    }
    assert_quiet(&sub, "drained");
    // Once caught up, delivery is normal again and the lag is not reported twice.
    db.insert(C, rec(u(11))).unwrap();
    assert_eq!(next_batch(&sub).seq, 11);
    assert_quiet(&sub, "caught up");
}

#[test]
fn on_change_delivers_on_its_own_thread() {
    let (_dir, db) = fresh();
    let (tx, rx) = mpsc::channel();
    let mut handle = db
        .on_change(move |n| {
            let _ = tx.send((thread::current().id(), n));
        })
        .unwrap();
    let ids = db.insert_many(C, vec![rec(u(1)), rec(u(2))]).unwrap();
    let (tid, n) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("no delivery");
    assert_ne!(
        tid,
        thread::current().id(),
        "delivered on the writer's thread"
    );
    match n {
        Notification::Changes(b) => {
            assert_eq!(b.seq, 1);
            assert_eq!(
                b.changes,
                ids.iter()
                    .map(|id| change(C, *id, ChangeKind::Inserted))
                    .collect::<Vec<_>>()
            );
        }
        other => panic!("{other:?}"),
    }
    db.delete(C, u(1)).unwrap();
    let (tid2, n) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("no delivery");
    assert_eq!(tid2, tid, "one delivery thread per subscription");
    assert!(
        matches!(&n, Notification::Changes(b) if b.changes == vec![change(C, u(1), ChangeKind::Deleted)]),
        "{n:?}"
    );

    handle.cancel();
    db.insert(C, rec(u(3))).unwrap();
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "delivery after cancel"
    );
}

#[test]
fn on_change_survives_a_panicking_callback() {
    let (_dir, db) = fresh();
    let (tx, rx) = mpsc::channel();
    let _handle = db
        .on_change(move |n| {
            if let Notification::Changes(b) = &n
                && b.seq == 1
            {
                panic!("callback failure (expected by the test)");
            }
            let _ = tx.send(n);
        })
        .unwrap();
    db.insert(C, rec(u(1))).unwrap();
    db.insert(C, rec(u(2))).unwrap();
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(Notification::Changes(b)) => assert_eq!(b.seq, 2),
        other => panic!("delivery stopped after a panic: {other:?}"),
    }
}

#[test]
fn after_close_recv_drains_then_returns_none() {
    let (_dir, db) = fresh();
    let sub = db.subscribe().unwrap();
    let waiting = db.subscribe().unwrap();
    db.insert(C, rec(u(1))).unwrap();
    db.insert(C, rec(u(2))).unwrap();

    // A subscriber blocked in recv() wakes up when the database closes.
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut got = 0;
        while let Some(n) = waiting.recv() {
            assert!(matches!(n, Notification::Changes(_)));
            got += 1;
        }
        tx.send(got).unwrap();
    });
    // Wait until the background thread has drained both batches and blocks.
    thread::sleep(Duration::from_millis(50));
    db.close().unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)), Ok(2));

    for id in [u(1), u(2)] {
        match sub.recv() {
            Some(Notification::Changes(b)) => assert_eq!(b.changes[0].id, id),
            other => panic!("expected a queued batch, got {other:?}"),
        }
    }
    assert!(sub.recv().is_none());
    assert!(sub.is_cancelled());
    assert!(matches!(db.subscribe(), Err(Error::Closed)));
    assert!(matches!(db.on_change(|_| {}), Err(Error::Closed)));
}

#[test]
fn on_change_ends_when_the_database_closes() {
    let (_dir, db) = fresh();
    let (tx, rx) = mpsc::channel::<Notification>();
    let handle = db
        .on_change(move |n| {
            let _ = tx.send(n);
        })
        .unwrap();
    db.insert(C, rec(u(1))).unwrap();
    assert!(rx.recv_timeout(Duration::from_secs(5)).is_ok());
    db.close().unwrap();
    // The delivery thread exits and drops the callback, which closes the channel.
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Err(mpsc::RecvTimeoutError::Disconnected)
    );
    drop(handle);
}
