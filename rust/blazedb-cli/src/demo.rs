//! `blazedb demo`: builds a sample issue tracker and runs the tool's main operations on it.

use std::path::PathBuf;
use std::time::Instant;

use blazedb::dump;
use blazedb::ops::{self, BackupOptions, HealthOptions, Migrations, SchemaVersion};
use blazedb::{Database, Filter, Options, Order, Query, Record, Timestamp, Uuid, Value};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::{CliError, CliResult, Ctx, exit, mib, print_json, table};

const TITLES: &[&str] = &[
    "Crash on launch",
    "Sync stalls on cellular",
    "Dark mode contrast too low",
    "Search misses accented names",
    "Login loops after password reset",
    "Export drops attachments",
    "Widget shows stale count",
    "Push arrives twice",
    "Slow scroll in long threads",
    "Typo in onboarding",
    "Settings reset after update",
    "Battery drain in background",
];
const LABELS: &[&str] = &["ios", "android", "sync", "ui", "perf", "auth", "crash"];
const STATUSES: &[&str] = &["open", "open", "open", "in_progress", "closed", "closed"];

fn sample(rng: &mut StdRng, people: &[(Uuid, String)], projects: &[Uuid], i: usize) -> Record {
    let mut r = Record::new()
        .with(
            "title",
            format!("{} #{}", TITLES[rng.gen_range(0..TITLES.len())], i + 1),
        )
        .with("status", STATUSES[rng.gen_range(0..STATUSES.len())])
        .with("priority", rng.gen_range(1..=5i64))
        .with("estimate", (rng.gen_range(1..=32) as f64) / 2.0)
        .with("project", projects[rng.gen_range(0..projects.len())])
        .with(
            "createdAt",
            Value::Date(Timestamp::new(
                1_767_225_600 + rng.gen_range(0..30_000_000),
                0,
            )),
        )
        .with(
            "labels",
            Value::Array(
                (0..rng.gen_range(0..3))
                    .map(|_| Value::from(LABELS[rng.gen_range(0..LABELS.len())]))
                    .collect(),
            ),
        )
        .with(
            "reporter",
            Value::Dictionary(
                [
                    (
                        "id".to_string(),
                        Value::Uuid(people[rng.gen_range(0..people.len())].0),
                    ),
                    (
                        "device".to_string(),
                        Value::from(if rng.gen_bool(0.5) { "iPhone" } else { "Pixel" }),
                    ),
                ]
                .into_iter()
                .collect(),
            ),
        );
    if rng.gen_bool(0.7) {
        r.insert("assignee", people[rng.gen_range(0..people.len())].1.clone());
    }
    r
}

pub fn run(ctx: &Ctx, dir: Option<PathBuf>, issues: usize) -> CliResult {
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("blazedb-demo-{}", Uuid::new_v4().simple())),
    };
    std::fs::create_dir_all(&dir)?;
    let db_path = dir.join("tracker.blazedb");
    if db_path.exists() {
        return Err(CliError::new(
            exit::PATH,
            format!("{} already exists; pass another --dir", db_path.display()),
        ));
    }
    let say = |s: String| {
        if !ctx.json {
            println!("{s}");
        }
    };
    let started = Instant::now();
    let db = Database::open(&db_path, Options::default())?;
    let mut rng = StdRng::seed_from_u64(7);
    let names = ["ana", "ben", "chloe", "dev", "emma", "farid", "gus", "hana"];
    let people: Vec<(Uuid, String)> = names
        .iter()
        .map(|n| (Uuid::from_u128(rng.r#gen()), n.to_string()))
        .collect();
    let projects: Vec<Uuid> = (0..3).map(|_| Uuid::from_u128(rng.r#gen())).collect();
    let pb = ctx.progress(Some(issues as u64), "creating issues");
    db.write(|tx| {
        for (id, name) in &people {
            tx.insert(
                "users",
                Record::new()
                    .with("id", *id)
                    .with("name", name.as_str())
                    .with("email", format!("{name}@example.com")),
            )?;
        }
        for (i, p) in projects.iter().enumerate() {
            tx.insert(
                "projects",
                Record::new()
                    .with("id", *p)
                    .with("name", ["Mobile", "Sync", "Web"][i]),
            )?;
        }
        let batch: Vec<Record> = (0..issues)
            .map(|i| sample(&mut rng, &people, &projects, i))
            .collect();
        tx.insert_many("issues", batch)?;
        pb.set_position(issues as u64);
        Ok(())
    })?;
    pb.finish_and_clear();
    say(format!(
        "Created {} with {} issues, {} users and {} projects in one commit ({} ms).\n",
        db_path.display(),
        issues,
        people.len(),
        projects.len(),
        started.elapsed().as_millis()
    ));

    // A migration: version 1.0 adds a `triaged` flag to every open issue, in one transaction.
    let v1 = SchemaVersion::new(1, 0);
    let migrations = Migrations::new().step(
        SchemaVersion::ZERO,
        v1,
        "flag open issues for triage",
        |tx| {
            let open = tx.query(&Query::new("issues").filter(Filter::eq("status", "open")))?;
            for r in open {
                if let Some(id) = r.id() {
                    tx.update_fields("issues", id, Record::new().with("triaged", false))?;
                }
            }
            Ok(())
        },
    );
    let plan = migrations.plan(&db, v1)?;
    migrations.run(&db, v1)?;
    say(format!(
        "Migrated schema {} -> {} ({} step: {}).\n",
        plan.current.map_or("unset".into(), |v| v.to_string()),
        v1,
        plan.steps.len(),
        plan.steps.first().map_or("", |s| s.description.as_str())
    ));

    // A query: urgent open work.
    let q = Query::new("issues")
        .filter(Filter::eq("status", "open").and(Filter::gte("priority", 4)))
        .order_by("priority", Order::Descending)
        .order_by("createdAt", Order::Ascending)
        .limit(5);
    let urgent = db.query(&q)?;
    let urgent_total = db.query_count(&q)?;
    say(format!(
        "Open issues with priority >= 4 ({urgent_total} in all), highest first:\n  blazedb query {} issues 'status == \"open\" and priority >= 4' --order priority:desc --order createdAt --limit 5",
        db_path.display()
    ));
    say(table::records(
        &urgent,
        &[
            "title".into(),
            "priority".into(),
            "assignee".into(),
            "createdAt".into(),
        ],
    ));
    let by_status: Vec<(String, u64)> = ["open", "in_progress", "closed"]
        .iter()
        .map(|s| {
            db.query_count(&Query::new("issues").filter(Filter::eq("status", *s)))
                .map(|n| (s.to_string(), n))
        })
        .collect::<Result<_, _>>()?;
    let unassigned = db.query_count(
        &Query::new("issues").filter(Filter::eq("status", "open").and(Filter::is_nil("assignee"))),
    )?;
    say(format!(
        "By status: {}; {unassigned} open issues have no assignee.\n",
        by_status
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    // Churn: close and delete some, so the numbers below have something to show.
    let closed = db.query(&Query::new("issues").filter(Filter::eq("status", "closed")))?;
    let ids: Vec<Uuid> = closed.iter().filter_map(|r| r.id()).collect();
    let (gone, hidden) = ids.split_at(ids.len() / 2);
    db.delete_many("issues", gone)?;
    for id in hidden.iter().take(10) {
        db.soft_delete("issues", *id)?;
    }

    // Backup while a writer keeps writing, then verify it.
    let backup_path = dir.join("tracker.backup.blazedb");
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            for i in 0..50 {
                let _ = db.insert(
                    "issues",
                    Record::new()
                        .with("title", format!("Filed during the backup #{i}"))
                        .with("status", "open"),
                );
            }
        })
    };
    let backup = db.backup(&backup_path, BackupOptions::new())?;
    let _ = writer.join();
    let verified = ops::verify_backup(&backup_path, Options::default())?;
    say(format!(
        "Backup while writing: {} records in {} ({}, {} ms); verify: {}.",
        backup.records + backup.soft_deleted,
        backup_path.display(),
        mib(backup.bytes),
        backup.millis,
        if verified.ok { "sound" } else { "PROBLEMS" }
    ));

    // A dump, verified by hash.
    let dump_path = dir.join("tracker.blazedump");
    let exported = dump::export(&db, &dump_path)?;
    let info = dump::verify(&dump_path)?;
    say(format!(
        "Dump: {} records to {} ({}); verify: ok, payload sha256 {}…\n",
        exported.records,
        dump_path.display(),
        mib(exported.bytes),
        &info.payload_sha256[..16]
    ));

    // Stats and health.
    let stats = db.stats()?;
    let health = db.health_with(&HealthOptions::default())?;
    let check = db.check()?;
    say(format!(
        "Stats: {} live and {} soft-deleted records; file {}; {} fragmented ({:.0}%); cache hit rate {}; {} index(es).",
        stats.records,
        stats.soft_deleted,
        mib(stats.file_bytes),
        mib(stats.storage.fragmented_bytes),
        stats.storage.fragmentation * 100.0,
        stats
            .cache
            .hit_rate
            .map_or("n/a".into(), |r| format!("{:.1}%", r * 100.0)),
        stats.index_count
    ));
    say(format!(
        "Health: {} ({}); integrity: {} ({} record bodies decoded, redb page check {}).",
        health.status,
        if health.reasons.is_empty() {
            "no findings".to_string()
        } else {
            health.reasons.join("; ")
        },
        if check.ok { "ok" } else { "PROBLEMS" },
        check.records_checked,
        match check.storage {
            ops::StorageCheck::Passed => "passed",
            _ => "did not pass",
        }
    ));
    let reclaimed = db.compact()?;
    say(format!("Compacted: {} reclaimed.\n", mib(reclaimed)));
    db.close()?;
    say(format!(
        "Try next:\n  blazedb info {p}\n  blazedb doctor {p}\n  blazedb shell {p}\n  blazedb verify {d}\n  blazedb restore {d} {r}",
        p = db_path.display(),
        d = dump_path.display(),
        r = dir.join("restored.blazedb").display()
    ));
    if ctx.json {
        print_json(&json!({
            "dir": dir.display().to_string(),
            "database": db_path.display().to_string(),
            "backup": backup_path.display().to_string(),
            "dump": dump_path.display().to_string(),
            "issues": issues,
            "urgent_open": urgent_total,
            "backup_records": backup.records + backup.soft_deleted,
            "backup_ok": verified.ok,
            "dump_records": exported.records,
            "health": health.status,
            "integrity_ok": check.ok,
            "schema_version": v1,
        }));
    }
    Ok(if verified.ok && check.ok {
        exit::OK
    } else {
        exit::FAILURE
    })
}
