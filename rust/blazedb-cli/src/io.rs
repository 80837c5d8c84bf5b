//! `import`, `export` and `query`: records in and out as JSON, NDJSON and CSV.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use blazedb::json::{from_tagged_json, record_from_json, record_to_json, to_tagged_json};
use blazedb::{Database, Error, Options, Query, Record, Value};
use serde_json::{Value as Json, json};

use crate::open::{must_exist, must_not_exist, open_existing, with_secret};
use crate::{
    CliError, CliResult, Ctx, RemoveOnDrop, exit, expr, print_json, publish, table, temp_beside,
};

/// File formats for import and export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated values with a header row.
    Csv,
}

/// Output formats for `query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutFormat {
    /// A text table.
    Table,
    /// A JSON array.
    Json,
    /// One JSON object per line.
    Ndjson,
}

fn from_extension(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "json" => Some(Format::Json),
        "ndjson" | "jsonl" => Some(Format::Ndjson),
        "csv" => Some(Format::Csv),
        _ => None,
    }
}

/// Streams a cursor's records as a JSON array (`array`: one element per line, after
/// `indent`) or as NDJSON, calling `progress` with the running count after each batch.
/// Returns how many records it wrote.
fn write_json_records(
    w: &mut dyn Write,
    cursor: &mut blazedb::QueryCursor,
    array: bool,
    indent: &str,
    tagged: bool,
    mut progress: impl FnMut(u64),
) -> CliResult<u64> {
    let mut n = 0u64;
    if array {
        w.write_all(b"[")?;
    }
    loop {
        let batch = cursor.next_batch(1000)?;
        if batch.is_empty() {
            break;
        }
        for r in &batch {
            if array {
                if n > 0 {
                    w.write_all(b",")?;
                }
                w.write_all(b"\n")?;
                w.write_all(indent.as_bytes())?;
            }
            serde_json::to_writer(&mut *w, &record_json(r, tagged))
                .map_err(std::io::Error::other)?;
            if !array {
                w.write_all(b"\n")?;
            }
            n += 1;
        }
        progress(n);
    }
    if array {
        w.write_all(if n > 0 { b"\n]\n" } else { b"]\n" })?;
    }
    Ok(n)
}

fn record_json(r: &Record, tagged: bool) -> Json {
    if tagged {
        Json::Object(
            r.iter()
                .map(|(k, v)| (k.clone(), to_tagged_json(v)))
                .collect(),
        )
    } else {
        record_to_json(r)
    }
}

fn json_record(j: &Json, tagged: bool) -> blazedb::Result<Record> {
    if tagged {
        match from_tagged_json(j)? {
            Value::Dictionary(d) => Ok(Record::from(d)),
            _ => Err(Error::InvalidData("a record must be a JSON object".into())),
        }
    } else {
        record_from_json(j)
    }
}

fn csv_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => match blazedb::json::to_json(other) {
            Json::String(s) => s,
            j => j.to_string(),
        },
    }
}

fn csv_value(s: &str, strings: bool) -> Option<Value> {
    if s.is_empty() {
        return None;
    }
    if strings {
        return Some(Value::String(s.to_string()));
    }
    Some(match s {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => {
            if let Ok(i) = s.parse::<i64>() {
                Value::Int(i)
            } else if let Ok(d) = s.parse::<f64>()
                && d.is_finite()
                && s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
            {
                Value::Double(d)
            } else {
                Value::String(s.to_string())
            }
        }
    })
}

fn filter_query(collection: &str, filter: Option<&str>) -> CliResult<Query> {
    let mut q = Query::new(collection);
    if let Some(src) = filter {
        match expr::parse_filter(src) {
            Ok(Some(f)) => q = q.filter(f),
            Ok(None) => {}
            Err(e) => return Err(CliError::usage(format!("filter: {e}"))),
        }
    }
    Ok(q)
}

#[allow(clippy::too_many_arguments)]
pub fn export(
    ctx: &Ctx,
    db_path: &Path,
    collection: &str,
    out: Option<&Path>,
    format: Option<Format>,
    filter: Option<String>,
    tagged: bool,
    force: bool,
) -> CliResult {
    let to_stdout = out.is_none_or(|p| p == Path::new("-"));
    let format = format
        .or_else(|| out.and_then(from_extension))
        .unwrap_or(Format::Json);
    if let (Some(p), false, false) = (out, to_stdout, force) {
        must_not_exist(p, "pass --force to replace it")?;
    }
    let q = filter_query(collection, filter.as_deref())?;
    let o = open_existing(db_path, Options::default().read_only(true), &ctx.src)?;
    let result = (|| -> CliResult<u64> {
        if !o.db.collections()?.iter().any(|c| c == collection) {
            return Err(CliError::new(
                exit::FAILURE,
                format!(
                    "no collection named {collection:?} in {}",
                    db_path.display()
                ),
            ));
        }
        let total = o.db.query_count(&q)?;
        let pb = ctx.progress(Some(total), "exporting");
        let mut cursor = o.db.query_cursor(q.clone())?;
        let mut write_all = |w: &mut dyn Write| -> CliResult<u64> {
            let mut n = 0u64;
            match format {
                Format::Json | Format::Ndjson => {
                    n = write_json_records(
                        w,
                        &mut cursor,
                        format == Format::Json,
                        "",
                        tagged,
                        |done| pb.set_position(done),
                    )?;
                }
                Format::Csv => {
                    // Columns: every top-level field of the matching records, id first.
                    let all = o.db.query(&q)?;
                    let cols = table::columns(&all, &[]);
                    let mut cw = csv::Writer::from_writer(&mut *w);
                    cw.write_record(&cols).map_err(std::io::Error::other)?;
                    for r in &all {
                        let row: Vec<String> = cols
                            .iter()
                            .map(|c| r.get(c).map(csv_cell).unwrap_or_default())
                            .collect();
                        cw.write_record(&row).map_err(std::io::Error::other)?;
                        n += 1;
                        pb.set_position(n);
                    }
                    cw.flush()?;
                }
            }
            Ok(n)
        };
        let n = if to_stdout {
            let stdout = std::io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            let n = write_all(&mut w)?;
            w.flush()?;
            n
        } else {
            let dest = out.expect("a file");
            let tmp = temp_beside(dest)?;
            let _cleanup = RemoveOnDrop(Some(tmp.clone()));
            let f = std::fs::File::create(&tmp)?;
            let mut w = BufWriter::new(&f);
            let n = write_all(&mut w)?;
            w.flush()?;
            drop(w);
            f.sync_all()?;
            if force {
                std::fs::rename(&tmp, dest)?;
            } else {
                publish(&tmp, dest)?;
            }
            n
        };
        pb.finish_and_clear();
        Ok(n)
    })();
    let _ = o.db.close();
    let n = result?;
    if !to_stdout {
        let dest = out.expect("a file");
        if ctx.json {
            print_json(
                &json!({"path": dest.display().to_string(), "format": format!("{format:?}").to_lowercase(), "records": n}),
            );
        } else {
            println!(
                "Exported {n} records from {collection:?} to {}",
                dest.display()
            );
        }
    }
    Ok(exit::OK)
}

fn read_input(input: &Path) -> CliResult<Vec<u8>> {
    let mut bytes = Vec::new();
    if input == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes)?;
    } else {
        must_exist(input, "input file")?;
        std::fs::File::open(input)?.read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}

fn bad_input(input: &Path, what: String) -> CliError {
    CliError::new(
        exit::FAILURE,
        format!("{}: {what}; nothing was imported", input.display()),
    )
}

fn parse_records(
    input: &Path,
    bytes: &[u8],
    format: Format,
    tagged: bool,
    csv_strings: bool,
) -> CliResult<Vec<Record>> {
    match format {
        Format::Json => {
            let j: Json = serde_json::from_slice(bytes)
                .map_err(|e| bad_input(input, format!("not valid JSON: {e}")))?;
            let items = match j {
                Json::Array(a) => a,
                obj @ Json::Object(_) => vec![obj],
                _ => return Err(bad_input(input, "expected a JSON array of objects".into())),
            };
            items
                .iter()
                .enumerate()
                .map(|(i, j)| {
                    json_record(j, tagged)
                        .map_err(|e| bad_input(input, format!("record {}: {e}", i + 1)))
                })
                .collect()
        }
        Format::Ndjson => {
            let mut out = Vec::new();
            for (i, line) in BufReader::new(bytes).lines().enumerate() {
                let line = line.map_err(|e| bad_input(input, format!("line {}: {e}", i + 1)))?;
                if line.trim().is_empty() {
                    continue;
                }
                let j: Json = serde_json::from_str(&line).map_err(|e| {
                    bad_input(input, format!("line {}: not valid JSON: {e}", i + 1))
                })?;
                out.push(
                    json_record(&j, tagged)
                        .map_err(|e| bad_input(input, format!("line {}: {e}", i + 1)))?,
                );
            }
            Ok(out)
        }
        Format::Csv => {
            let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
            let headers = rdr
                .headers()
                .map_err(|e| bad_input(input, format!("CSV header: {e}")))?
                .clone();
            if headers.iter().any(str::is_empty) {
                return Err(bad_input(
                    input,
                    "CSV header has an empty column name".into(),
                ));
            }
            let mut out = Vec::new();
            for (i, row) in rdr.records().enumerate() {
                let row = row.map_err(|e| bad_input(input, format!("CSV row {}: {e}", i + 2)))?;
                let mut r = Record::new();
                for (h, cell) in headers.iter().zip(row.iter()) {
                    if let Some(v) = csv_value(cell, csv_strings || h == "id") {
                        r.insert(h, v);
                    }
                }
                out.push(r);
            }
            Ok(out)
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn import(
    ctx: &Ctx,
    db_path: &Path,
    collection: &str,
    input: &Path,
    format: Option<Format>,
    tagged: bool,
    csv_strings: bool,
    encrypt: bool,
) -> CliResult {
    let format = format.or_else(|| from_extension(input)).ok_or_else(|| {
        CliError::usage(format!(
            "cannot tell the format of {}: pass --format json|ndjson|csv",
            input.display()
        ))
    })?;
    let bytes = read_input(input)?;
    let records = parse_records(input, &bytes, format, tagged, csv_strings)?;
    let n = records.len();
    let insert = |db: &Database| -> CliResult<()> {
        let max = 10_000;
        let pb = ctx.progress(Some(n as u64), "importing");
        let mut done = 0u64;
        let r = db.write(|tx| {
            let mut rest = records.clone();
            while !rest.is_empty() {
                let tail = rest.split_off(rest.len().min(max));
                let chunk = std::mem::replace(&mut rest, tail);
                done += chunk.len() as u64;
                tx.insert_many(collection, chunk)?;
                pb.set_position(done);
            }
            Ok(())
        });
        pb.finish_and_clear();
        r.map_err(|e| {
            CliError::from_core(e).context(&format!(
                "import into {collection:?} rolled back, nothing was written"
            ))
        })
    };
    let created = !db_path.exists();
    if created {
        let secret = ctx.src.for_new(db_path, encrypt)?;
        let tmp = temp_beside(db_path)?;
        let _cleanup = RemoveOnDrop(Some(tmp.clone()));
        let db = Database::open(&tmp, with_secret(Options::default(), secret.as_ref()))?;
        let r = insert(&db);
        let closed = db.close();
        r?;
        closed?;
        publish(&tmp, db_path)?;
    } else {
        // Refuse what we can on a read-only handle first, so a refused import does not
        // even open the file for writing.
        let o = open_existing(db_path, Options::default().read_only(true), &ctx.src)?;
        let clash = (|| -> CliResult<Option<String>> {
            let mut seen = std::collections::HashSet::new();
            for r in &records {
                let id = match r.get("id") {
                    Some(Value::Uuid(u)) => Some(*u),
                    Some(Value::String(s)) => blazedb::Uuid::parse_str(s).ok(),
                    _ => None,
                };
                if let Some(id) = id {
                    if !seen.insert(id) {
                        return Ok(Some(format!("id {id} appears twice in the input")));
                    }
                    if o.db.exists(collection, id)? {
                        return Ok(Some(format!(
                            "record {id} already exists in {collection:?}"
                        )));
                    }
                }
            }
            Ok(None)
        })();
        let _ = o.db.close();
        if let Some(why) = clash? {
            return Err(CliError::new(
                exit::FAILURE,
                format!("{why}; nothing was imported"),
            ));
        }
        let db = crate::open::reopen(db_path, Options::default(), o.secret.as_ref())?;
        let r = insert(&db);
        let _ = db.close();
        r?;
    }
    if ctx.json {
        print_json(
            &json!({"path": db_path.display().to_string(), "collection": collection, "records": n, "created": created}),
        );
    } else {
        println!(
            "Imported {n} records into {collection:?} of {}{}",
            db_path.display(),
            if created { " (new database)" } else { "" }
        );
    }
    Ok(exit::OK)
}

#[allow(clippy::too_many_arguments)]
pub fn query(
    ctx: &Ctx,
    db_path: &Path,
    collection: &str,
    filter: Option<&str>,
    order: &[String],
    limit: Option<usize>,
    offset: usize,
    count: bool,
    fields: &[String],
    format: Option<OutFormat>,
    tagged: bool,
) -> CliResult {
    let mut q = filter_query(collection, filter)?;
    for o in order {
        let (f, d) = expr::parse_order(o).map_err(CliError::usage)?;
        q = q.order_by(f, d);
    }
    q = q.offset(offset);
    if let Some(l) = limit {
        q = q.limit(l);
    }
    let format = match (format, ctx.json) {
        (Some(f), _) => f,
        (None, true) => OutFormat::Json,
        (None, false) => OutFormat::Table,
    };
    let o = open_existing(db_path, Options::default().read_only(true), &ctx.src)?;
    let result = (|| -> CliResult {
        if count {
            let n = o.db.query_count(&q)?;
            if ctx.json || format != OutFormat::Table {
                print_json(&json!({"count": n}));
            } else {
                println!("{n}");
            }
            return Ok(exit::OK);
        }
        let stdout = std::io::stdout();
        let mut w = BufWriter::new(stdout.lock());
        match format {
            OutFormat::Table => {
                let rows = o.db.query(&q)?;
                write!(w, "{}", table::records(&rows, fields))?;
                writeln!(w, "{} record(s)", rows.len())?;
            }
            OutFormat::Json | OutFormat::Ndjson => {
                let mut cursor = o.db.query_cursor(q.clone())?;
                write_json_records(
                    &mut w,
                    &mut cursor,
                    format == OutFormat::Json,
                    "  ",
                    tagged,
                    |_| {},
                )?;
            }
        }
        w.flush()?;
        Ok(exit::OK)
    })();
    let _ = o.db.close();
    result
}
