//! Plain-text tables for records and reports.

use std::collections::BTreeSet;

use blazedb::{Record, Value};

/// A short, one-line rendering of a value for a table cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Double(d) => {
            if d.is_finite() && d.fract() == 0.0 && d.abs() < 1e15 {
                format!("{d:.1}")
            } else {
                d.to_string()
            }
        }
        Value::Bool(b) => b.to_string(),
        Value::Date(t) => t.to_rfc3339(),
        Value::Uuid(u) => u.to_string(),
        Value::Data(d) => format!("<{} bytes>", d.len()),
        Value::Null => "null".into(),
        other => blazedb::json::to_json(other).to_string(),
    }
}

fn clip(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut out: String = one_line.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// The columns to show: `fields` if given, else `id` and then every field name in order.
pub fn columns(records: &[Record], fields: &[String]) -> Vec<String> {
    if !fields.is_empty() {
        return fields.to_vec();
    }
    let mut names = BTreeSet::new();
    for r in records {
        for (k, _) in r.iter() {
            if k != "id" {
                names.insert(k.clone());
            }
        }
    }
    std::iter::once("id".to_string()).chain(names).collect()
}

/// Renders rows of strings under headers, with widths fitted to the content.
pub fn render(headers: &[String], rows: &[Vec<String>], max_width: usize) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clip(c, max_width)).collect())
        .collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, w) in widths.iter().enumerate() {
            let c = cells.get(i).map(String::as_str).unwrap_or("");
            let pad = w.saturating_sub(c.chars().count());
            s.push_str(if i == 0 { "| " } else { " | " });
            s.push_str(c);
            s.push_str(&" ".repeat(pad));
        }
        s.push_str(" |\n");
        s
    };
    let sep = {
        let mut s = String::from("+");
        for w in &widths {
            s.push_str(&"-".repeat(w + 2));
            s.push('+');
        }
        s.push('\n');
        s
    };
    let mut out = sep.clone();
    out.push_str(&line(headers));
    out.push_str(&sep);
    for r in &rows {
        out.push_str(&line(r));
    }
    out.push_str(&sep);
    out
}

/// A table of records.
pub fn records(records: &[Record], fields: &[String]) -> String {
    let cols = columns(records, fields);
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            cols.iter()
                .map(|c| r.get_path(c).map(cell).unwrap_or_default())
                .collect()
        })
        .collect();
    render(&cols, &rows, 40)
}
