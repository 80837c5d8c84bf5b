//! `blazedb-bench --quick` end to end: every engine and every operation reported, the
//! rows of each query equal to a naive evaluation over the same seeded documents, and the
//! outputs (JSON, table, chart, doc section) written. Seconds, not minutes: CI runs it.

use std::collections::BTreeSet;
use std::process::Command;

use blazedb::{Record, Timestamp, Value};
use blazedb_benches::harness::engines::TEAMS;
use blazedb_benches::harness::report::{BEGIN, END};
use blazedb_benches::harness::run::{DOCS_PER_REPORTER, PAGE, PHRASES, SEED};
use blazedb_benches::harness::{EngineKind, Op, Results, Status};
use blazedb_benches::{CREATED_STEP, FIRST_CREATED, IssueStream, reporter_name};

const N: usize = 600;

fn s<'a>(r: &'a Record, f: &str) -> &'a str {
    r.get(f).and_then(Value::as_str).unwrap_or_default()
}

fn i(r: &Record, f: &str) -> i64 {
    r.get(f).and_then(Value::as_int).unwrap_or_default()
}

/// The rows each read's first call must return, computed by brute force over the
/// documents the harness loads.
fn expected(op: Op) -> Option<usize> {
    let users = (N / DOCS_PER_REPORTER).max(1);
    let docs: Vec<Record> = IssueStream::new(SEED)
        .with_reporters(users, SEED)
        .take(N)
        .collect();
    let words = |r: &Record| -> BTreeSet<String> {
        format!("{} {}", s(r, "title"), s(r, "body"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    Some(match op {
        Op::GetById | Op::ColdOpen => 1,
        Op::IndexedEq => docs
            .iter()
            .filter(|d| s(d, "reporter") == reporter_name(0))
            .count(),
        Op::RangeSortLimit => {
            let before = Timestamp::new(FIRST_CREATED + (N as i64 / 2) * CREATED_STEP + 30, 0);
            docs.iter()
                .filter(|d| i(d, "priority") >= 4)
                .filter(|d| {
                    d.get("createdAt")
                        .and_then(Value::as_date)
                        .is_some_and(|t| t < before)
                })
                .count()
                .min(PAGE)
        }
        Op::UnindexedFilter => docs
            .iter()
            .filter(|d| s(d, "body").contains(PHRASES[0]))
            .count(),
        Op::GroupByCount => docs
            .iter()
            .map(|d| s(d, "status"))
            .collect::<BTreeSet<_>>()
            .len(),
        Op::Join => docs
            .iter()
            .filter(|d| s(d, "status") == "open" && i(d, "priority") == 1)
            .filter(|d| {
                let k: usize = s(d, "reporter")["user".len()..].parse().unwrap();
                TEAMS[k % TEAMS.len()] == TEAMS[0]
            })
            .count(),
        Op::FullText => {
            let terms: Vec<&str> = PHRASES[0].split(' ').collect();
            docs.iter()
                .filter(|d| {
                    let w = words(d);
                    terms.iter().all(|t| w.contains(*t))
                })
                .count()
                .min(PAGE)
        }
        _ => return None,
    })
}

#[test]
fn quick_run_reports_every_engine_and_agrees_with_a_naive_evaluator() {
    let tmp = tempfile::tempdir().unwrap();
    let docs_dir = tmp.path().join("docs");
    let out = docs_dir.join("bench");
    std::fs::create_dir_all(&docs_dir).unwrap();
    let doc = docs_dir.join("BENCH.md");
    std::fs::write(&doc, "# Benchmarks\n\nHand-written text stays.\n").unwrap();

    let run = || {
        let st = Command::new(env!("CARGO_BIN_EXE_blazedb-bench"))
            .args(["--quick", "--no-progress", "--sizes", &N.to_string()])
            .arg("--out")
            .arg(&out)
            .arg("--doc")
            .arg(&doc)
            .arg("--work-dir")
            .arg(tmp.path().join("work"))
            .output()
            .unwrap();
        assert!(
            st.status.success(),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    };
    run();

    let results: Results =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results.sizes(), vec![N]);
    assert_eq!(results.engines(), EngineKind::ALL.to_vec());
    for e in EngineKind::ALL {
        let r = results.run(e, N).unwrap();
        for op in Op::ALL {
            let m = r.get(op).unwrap_or_else(|| panic!("{e} {op:?} missing"));
            assert_ne!(m.status, Status::Error, "{e} {op:?}: {:?}", m.note);
            match m.status {
                Status::Ok => assert!(m.median.is_some_and(|v| v > 0.0), "{e} {op:?}"),
                _ => assert!(m.note.as_deref().is_some_and(|n| !n.is_empty())),
            }
            if m.status == Status::Ok
                && let Some(want) = expected(op)
            {
                assert_eq!(m.rows, Some(want), "{e} {op:?}");
            }
        }
    }
    // The peers that have every operation ran every one of them.
    for e in [EngineKind::Sqlite, EngineKind::Sqlcipher] {
        let r = results.run(e, N).unwrap();
        assert!(r.measurements.iter().all(|m| m.status == Status::Ok), "{e}");
    }

    let table = std::fs::read_to_string(out.join("table.md")).unwrap();
    assert!(
        table.contains(
            "| Operation | BlazeDB | BlazeDB encrypted | SQLite | SQLCipher | raw redb |"
        )
    );
    assert!(table.contains("n/a (no secondary indexes)"));
    let svg = std::fs::read_to_string(out.join(format!("ratios-{N}.svg"))).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("raw redb"));

    // The doc keeps its own text, gains one generated section linking the chart
    // relative to itself, and a second run replaces that section rather than adding one.
    run();
    let text = std::fs::read_to_string(&doc).unwrap();
    assert!(text.starts_with("# Benchmarks\n\nHand-written text stays.\n"));
    assert_eq!(text.matches(BEGIN).count(), 1);
    assert_eq!(text.matches(END).count(), 1);
    assert!(text.contains(&format!("](bench/ratios-{N}.svg)")));
}
