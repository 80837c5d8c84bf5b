//! `blazedb shell`: a REPL over one database, with history and table output.
//!
//! On a terminal it uses line editing and keeps history in `$BLAZEDB_HISTORY` (default
//! `~/.blazedb_history`). Otherwise it reads commands from standard input, one per line, so
//! it can be scripted: `printf 'use bugs\nfind limit 3\n' | blazedb shell app.blazedb`.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use blazedb::json::{record_from_json, record_to_json};
use blazedb::ops::HealthOptions;
use blazedb::{DEFAULT_COLLECTION, Database, Options, Query, Uuid};

use crate::open::open_existing;
use crate::{CliResult, Ctx, exit, expr, mib, table};

const HELP: &str = "\
Commands (the current collection is shown in the prompt):
  collections                 every collection with its record count
  use <collection>            switch collection
  count [<filter>]            number of (matching) records
  find [<filter>] [order <field> [asc|desc], …] [limit <n>] [offset <n>]
                              matching records as a table (filter grammar: docs/CLI.md)
  get <id>                    one record as JSON
  insert <json object>        insert a record; prints its id
  update <id> <json object>   merge fields into a record
  delete <id>                 delete a record
  softdelete <id>             soft-delete a record
  stats | health              numbers and the health report
  columns <a,b,…> | columns * choose the table's columns (* = all fields)
  json on|off                 print records as JSON instead of tables
  help                        this text
  exit | quit                 leave";

enum Flow {
    Continue,
    Exit,
}

struct State {
    db: Database,
    current: String,
    json: bool,
    columns: Vec<String>,
}

fn parse_id(s: &str) -> Result<Uuid, String> {
    Uuid::parse_str(s.trim()).map_err(|_| format!("{s:?} is not a record id (a UUID)"))
}

fn parse_object(s: &str) -> Result<blazedb::Record, String> {
    let j: serde_json::Value =
        serde_json::from_str(s.trim()).map_err(|e| format!("not valid JSON: {e}"))?;
    record_from_json(&j).map_err(|e| e.to_string())
}

impl State {
    fn exec(&mut self, line: &str) -> Result<Flow, String> {
        let line = line.trim();
        let (cmd, rest) = match line.split_once(char::is_whitespace) {
            Some((c, r)) => (c, r.trim()),
            None => (line, ""),
        };
        let e = |e: blazedb::Error| e.to_string();
        match cmd.to_ascii_lowercase().as_str() {
            "" => {}
            "help" | "?" | "\\h" => println!("{HELP}"),
            "exit" | "quit" | "\\q" => return Ok(Flow::Exit),
            "collections" => {
                let rows: Vec<Vec<String>> = self
                    .db
                    .collections()
                    .map_err(e)?
                    .into_iter()
                    .map(|c| {
                        let n = self.db.count(&c).unwrap_or(0);
                        vec![c, n.to_string()]
                    })
                    .collect();
                print!(
                    "{}",
                    table::render(&["collection".into(), "records".into()], &rows, 60)
                );
            }
            "use" => {
                if rest.is_empty() {
                    return Err("use <collection>".into());
                }
                self.current = rest.to_string();
            }
            "count" => {
                let mut q = Query::new(&self.current);
                if let Some(f) = expr::parse_filter(rest).map_err(|e| e.to_string())? {
                    q = q.filter(f);
                }
                println!("{}", self.db.query_count(&q).map_err(e)?);
            }
            "find" | "query" | "select" => {
                let spec = expr::parse_find(rest).map_err(|e| e.to_string())?;
                let mut q = Query::new(&self.current).offset(spec.offset);
                if let Some(f) = spec.filter {
                    q = q.filter(f);
                }
                for (f, o) in spec.order {
                    q = q.order_by(f, o);
                }
                if let Some(l) = spec.limit {
                    q = q.limit(l);
                }
                let rows = self.db.query(&q).map_err(e)?;
                if self.json {
                    for r in &rows {
                        println!("{}", record_to_json(r));
                    }
                } else {
                    print!("{}", table::records(&rows, &self.columns));
                    println!("{} record(s)", rows.len());
                }
            }
            "get" => {
                let id = parse_id(rest)?;
                match self.db.get(&self.current, id).map_err(e)? {
                    Some(r) => println!(
                        "{}",
                        serde_json::to_string_pretty(&record_to_json(&r)).unwrap_or_default()
                    ),
                    None => return Err(format!("no record {id} in {:?}", self.current)),
                }
            }
            "insert" => {
                let r = parse_object(rest)?;
                let id = self.db.insert(&self.current, r).map_err(e)?;
                println!("{id}");
            }
            "update" => {
                let (id, obj) = rest
                    .split_once(char::is_whitespace)
                    .ok_or("update <id> <json object>")?;
                let id = parse_id(id)?;
                self.db
                    .update_fields(&self.current, id, parse_object(obj)?)
                    .map_err(e)?;
                println!("updated {id}");
            }
            "delete" => {
                let id = parse_id(rest)?;
                let gone = self.db.delete(&self.current, id).map_err(e)?;
                println!("{}", if gone { "deleted" } else { "no such record" });
            }
            "softdelete" | "soft-delete" => {
                let id = parse_id(rest)?;
                self.db.soft_delete(&self.current, id).map_err(e)?;
                println!("soft-deleted {id}");
            }
            "stats" => {
                let s = self.db.stats().map_err(e)?;
                println!(
                    "{} live and {} soft-deleted records in {} collection(s); file {}; {} fragmented; cache hit rate {}",
                    s.records,
                    s.soft_deleted,
                    s.collections.len(),
                    mib(s.file_bytes),
                    mib(s.storage.fragmented_bytes),
                    s.cache
                        .hit_rate
                        .map_or("n/a".into(), |r| format!("{:.1}%", r * 100.0))
                );
            }
            "health" => {
                let h = self.db.health_with(&HealthOptions::default()).map_err(e)?;
                println!("{}", h.status);
                for r in &h.reasons {
                    println!("  - {r}");
                }
                for a in &h.suggested_actions {
                    println!("  > {a}");
                }
            }
            "columns" | "fields" => {
                self.columns = if rest.is_empty() || rest == "*" {
                    Vec::new()
                } else {
                    rest.split(',')
                        .map(|c| c.trim().to_string())
                        .filter(|c| !c.is_empty())
                        .collect()
                };
            }
            "json" => match rest {
                "on" => self.json = true,
                "off" => self.json = false,
                _ => return Err("json on|off".into()),
            },
            other => return Err(format!("unknown command {other:?}; try help")),
        }
        Ok(Flow::Continue)
    }
}

fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BLAZEDB_HISTORY") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".blazedb_history"))
}

pub fn run(ctx: &Ctx, path: &Path, collection: Option<String>, read_only: bool) -> CliResult {
    let o = open_existing(path, Options::default().read_only(read_only), &ctx.src)?;
    let current = match collection {
        Some(c) => c,
        None => {
            o.db.collections()?
                .into_iter()
                .next()
                .unwrap_or_else(|| DEFAULT_COLLECTION.to_string())
        }
    };
    let mut st = State {
        db: o.db,
        current,
        json: ctx.json,
        columns: Vec::new(),
    };
    let mut failures = 0u32;
    if std::io::stdin().is_terminal() {
        println!(
            "BlazeDB shell on {} ({}). Type help for commands.",
            path.display(),
            if read_only { "read-only" } else { "read-write" }
        );
        let mut rl = rustyline::DefaultEditor::new()
            .map_err(|e| crate::CliError::new(exit::FAILURE, format!("terminal: {e}")))?;
        let history = history_path();
        if let Some(h) = &history {
            let _ = rl.load_history(h);
        }
        loop {
            match rl.readline(&format!("{}> ", st.current)) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = rl.add_history_entry(line.as_str());
                    }
                    match st.exec(&line) {
                        Ok(Flow::Exit) => break,
                        Ok(Flow::Continue) => {}
                        Err(m) => eprintln!("error: {m}"),
                    }
                }
                Err(rustyline::error::ReadlineError::Interrupted) => continue,
                Err(_) => break,
            }
        }
        if let Some(h) = &history {
            let _ = rl.save_history(h);
        }
    } else {
        for line in std::io::stdin().lock().lines() {
            let line = line?;
            match st.exec(&line) {
                Ok(Flow::Exit) => break,
                Ok(Flow::Continue) => {}
                Err(m) => {
                    failures += 1;
                    eprintln!("error: {m}");
                }
            }
        }
    }
    st.db.close()?;
    Ok(if failures == 0 {
        exit::OK
    } else {
        exit::FAILURE
    })
}
