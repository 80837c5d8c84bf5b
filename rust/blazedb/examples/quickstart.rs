//! A tour of the core API: open, insert, read, update, page, transactions, the change feed.
//!
//! Run with `cargo run --example quickstart`. It works in a temporary directory and
//! removes it afterwards.

use blazedb::{Database, Notification, Options, Record, Value};

fn main() -> blazedb::Result<()> {
    let dir = std::env::temp_dir().join(format!("blazedb-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("tracker.blazedb");
    let db = Database::open(&path, Options::default())?;
    println!("opened {}", db.path().display());

    let feed = db.subscribe()?;

    let bugs: Vec<Record> = (1..=5)
        .map(|i| {
            Record::new()
                .with("title", format!("Bug #{i}"))
                .with("priority", i64::from(i % 3))
                .with("status", if i % 2 == 0 { "open" } else { "closed" })
                .with(
                    "address",
                    Value::Dictionary(
                        [("city".to_string(), Value::from("Lisbon"))]
                            .into_iter()
                            .collect(),
                    ),
                )
        })
        .collect();
    let ids = db.insert_many("bugs", bugs)?;
    println!("inserted {} bugs in one commit", ids.len());

    let first = db.get("bugs", ids[0])?.expect("just inserted");
    println!(
        "bug {} is {:?}, city {:?}, created {}",
        ids[0],
        first.get("title").and_then(Value::as_str),
        first.get_path("address.city").and_then(Value::as_str),
        first
            .get("createdAt")
            .and_then(Value::as_date)
            .expect("stamped")
    );

    db.update_fields("bugs", ids[0], Record::new().with("status", "fixed"))?;
    db.soft_delete("bugs", ids[1])?;
    println!("count after soft delete: {}", db.count("bugs")?);

    // A transaction that fails rolls back everything it did.
    let outcome = db.write(|tx| {
        tx.insert("bugs", Record::new().with("title", "never stored"))?;
        tx.insert("bugs", Record::new().with("id", ids[2]))?; // duplicate id
        Ok(())
    });
    println!("failing transaction: {}", outcome.unwrap_err());
    println!("count is still {}", db.count("bugs")?);

    for (n, page) in [db.page("bugs", 0, 2)?, db.page("bugs", 2, 2)?]
        .iter()
        .enumerate()
    {
        let titles: Vec<_> = page
            .iter()
            .filter_map(|r| r.get("title").and_then(Value::as_str))
            .collect();
        println!("page {n}: {titles:?}");
    }

    while let Some(Notification::Changes(batch)) = feed.try_recv() {
        println!(
            "commit #{}: {} change(s), first {:?} {}",
            batch.seq,
            batch.changes.len(),
            batch.changes[0].kind,
            batch.changes[0].id
        );
    }

    db.close()?;
    match db.count("bugs") {
        Err(e) => println!("after close: {e}"),
        Ok(_) => unreachable!("closed handles refuse calls"),
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
