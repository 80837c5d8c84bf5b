//! `blazedb`: the BlazeDB command-line tool. `docs/CLI.md` documents every command, its
//! flags, its JSON output and its exit codes.

mod demo;
mod expr;
mod io;
mod open;
mod shell;
mod table;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use blazedb::dump::{self, DumpFormat, DumpInfo, HashCheck, lossless, upstream_v1};
use blazedb::ops::{self, HealthOptions, HealthStatus, SchemaVersion};
use blazedb::{DEFAULT_COLLECTION, Database, Error, Options};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value as Json, json};

use open::{KeyFormat, SecretSource, must_exist, must_not_exist, open_existing, with_secret};

/// Exit codes (docs/CLI.md).
pub mod exit {
    /// Success; for checks: nothing wrong found.
    pub const OK: i32 = 0;
    /// The operation failed, or a check found problems (damage, a refused dump).
    pub const FAILURE: i32 = 1;
    /// Bad arguments: an unknown flag, a malformed filter expression, a bad value.
    pub const USAGE: i32 = 2;
    /// Password or key: wrong, missing (and no terminal to ask on), unreadable key file.
    pub const AUTH: i32 = 3;
    /// The database is open for writing by another process or handle.
    pub const LOCKED: i32 = 4;
    /// A path is wrong: an input that does not exist, an output that already does.
    pub const PATH: i32 = 5;
}

const EXIT_CODES: &str = "Exit codes: 0 ok · 1 failed or problems found · 2 usage · 3 password/key · 4 locked · 5 path missing or already exists\n\
Password: --key-file, or BLAZEDB_PASSWORD, or a prompt when stdin is a terminal (never on the command line).";

/// A failure to report: its exit code, message and an optional hint.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(exit::USAGE, message)
    }

    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }

    pub fn context(mut self, what: &str) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// The exit code a core error maps to.
    pub fn from_core(e: Error) -> Self {
        let code = match &e {
            Error::PasswordMismatch | Error::PasswordTooWeak { .. } => exit::AUTH,
            Error::DatabaseLocked { .. } => exit::LOCKED,
            Error::InvalidQuery(_) => exit::USAGE,
            _ => exit::FAILURE,
        };
        CliError::new(code, e.to_string())
    }

    fn kind(&self) -> &'static str {
        match self.code {
            exit::USAGE => "usage",
            exit::AUTH => "password",
            exit::LOCKED => "locked",
            exit::PATH => "path",
            _ => "failure",
        }
    }
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        CliError::from_core(e)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::new(exit::FAILURE, e.to_string())
    }
}

pub type CliResult<T = i32> = Result<T, CliError>;

#[derive(Parser, Debug)]
#[command(
    name = "blazedb",
    version,
    about = "Inspect, check, dump, restore, query and back up BlazeDB databases",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Debug, Clone)]
struct Global {
    /// Print the report as JSON on standard output.
    #[arg(long, global = true)]
    json: bool,
    /// Read the password or key from this file (see --key-format).
    #[arg(long, global = true, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// How to read --key-file.
    #[arg(long, global = true, value_enum, default_value_t = KeyFormat::Auto)]
    key_format: KeyFormat,
    /// Never ask for a password, even on a terminal.
    #[arg(long, global = true)]
    no_prompt: bool,
    /// No progress bars (they are hidden anyway when stderr is not a terminal).
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DumpFmt {
    /// BlazeDB's lossless NDJSON dump (every collection, every value kind).
    Lossless,
    /// Upstream BlazeDB's `.blazedump` v1 (one collection, upstream's type limits).
    Upstream,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Summary of a database: size, collections, schema version, health (read-only).
    Info { db: PathBuf },
    /// Statistics: records per collection, fragmentation, cache hit rate (read-only).
    Stats { db: PathBuf },
    /// Health checks that never write to the database (read-only).
    Doctor {
        db: PathBuf,
        /// Skip redb's page check on a private copy of the file.
        #[arg(long)]
        quick: bool,
        /// Exit 1 on warnings too.
        #[arg(long)]
        strict: bool,
    },
    /// Integrity check: redb's page check plus BlazeDB's invariants (read-only: runs on a
    /// private copy unless --in-place).
    Check {
        db: PathBuf,
        /// Run redb's check on the file itself (opens it for writing; may repair it).
        #[arg(long)]
        in_place: bool,
    },
    /// Write a dump of a database: `blazedb dump <db> <dump>`.
    Dump {
        db: PathBuf,
        dump: PathBuf,
        /// Dump format.
        #[arg(long, value_enum, default_value_t = DumpFmt::Lossless)]
        format: DumpFmt,
        /// Only this collection (required for --format upstream when there are several).
        #[arg(long)]
        collection: Option<String>,
        /// Replace an existing dump file.
        #[arg(long)]
        force: bool,
    },
    /// Restore a dump into a database: `blazedb restore <dump> <db>`.
    Restore {
        dump: PathBuf,
        db: PathBuf,
        /// Target collection (upstream dumps: default "default"; lossless: every
        /// collection under its own name unless this is given).
        #[arg(long)]
        collection: Option<String>,
        /// Encrypt a new database (asks for a password when none is given).
        #[arg(long)]
        encrypt: bool,
    },
    /// Verify a dump's hashes, records and counts: `blazedb verify <dump>`.
    Verify { dump: PathBuf },
    /// Export a collection as JSON, NDJSON or CSV (to standard output without OUT).
    Export {
        db: PathBuf,
        collection: String,
        out: Option<PathBuf>,
        /// Output format (default: from OUT's extension, else json).
        #[arg(long, value_enum)]
        format: Option<io::Format>,
        /// Only records matching this filter expression.
        #[arg(long = "where", value_name = "EXPR")]
        filter: Option<String>,
        /// Tagged JSON ({"$date": …}) so every value kind survives a re-import.
        #[arg(long)]
        tagged: bool,
        /// Replace an existing OUT.
        #[arg(long)]
        force: bool,
    },
    /// Import records from JSON, NDJSON or CSV into a collection, all or nothing.
    Import {
        db: PathBuf,
        collection: String,
        /// Input file, or - for standard input.
        input: PathBuf,
        /// Input format (default: from the extension).
        #[arg(long, value_enum)]
        format: Option<io::Format>,
        /// Read tagged JSON ({"$date": …}).
        #[arg(long)]
        tagged: bool,
        /// CSV: keep every cell a string (default: numbers and true/false are typed).
        #[arg(long)]
        csv_strings: bool,
        /// Encrypt the database if the import creates it.
        #[arg(long)]
        encrypt: bool,
    },
    /// Query a collection with a filter expression (grammar in docs/CLI.md).
    Query {
        db: PathBuf,
        collection: String,
        /// Filter, e.g. 'status == "open" and priority >= 3 or not assignee?'.
        expr: Option<String>,
        /// Sort key, field[:asc|:desc]; repeat for more keys.
        #[arg(long)]
        order: Vec<String>,
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Print only the number of matches.
        #[arg(long)]
        count: bool,
        /// Columns for the table, comma-separated (default: all).
        #[arg(long, value_delimiter = ',')]
        fields: Vec<String>,
        /// Output: table (default), json or ndjson (--json is json).
        #[arg(long, value_enum)]
        format: Option<io::OutFormat>,
        /// Tagged JSON output.
        #[arg(long)]
        tagged: bool,
    },
    /// Interactive shell with history and table output.
    Shell {
        db: PathBuf,
        /// Collection to start in.
        #[arg(long)]
        collection: Option<String>,
        /// Open read-only.
        #[arg(long)]
        read_only: bool,
    },
    /// Compact the file and report the bytes reclaimed.
    Compact { db: PathBuf },
    /// Online backup to a new file, consistent to one commit (keeps the encryption).
    Backup {
        db: PathBuf,
        backup: PathBuf,
        /// Allow a plaintext backup of an encrypted database.
        #[arg(long)]
        plaintext: bool,
    },
    /// Verify a backup without writing to it.
    VerifyBackup { backup: PathBuf },
    /// Show (or with --set, store) the schema version.
    Schema {
        db: PathBuf,
        /// New version, major.minor.
        #[arg(long)]
        set: Option<String>,
    },
    /// Create a sample issue-tracker database and show what the tool does with it.
    Demo {
        /// Directory for the demo files (default: a new one in the temp directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Issues to create.
        #[arg(long, default_value_t = 500)]
        issues: usize,
    },
}

pub struct Ctx {
    pub json: bool,
    pub quiet: bool,
    pub src: SecretSource,
}

impl Ctx {
    /// A progress bar (or a spinner when `len` is unknown), hidden unless stderr is a
    /// terminal and --quiet is off.
    pub fn progress(&self, len: Option<u64>, msg: &str) -> ProgressBar {
        if self.quiet || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let pb = match len {
            Some(n) => {
                let pb = ProgressBar::new(n);
                pb.set_style(
                    ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                pb
            }
            None => {
                let pb = ProgressBar::new_spinner();
                pb.enable_steady_tick(Duration::from_millis(120));
                pb
            }
        };
        pb.set_message(msg.to_string());
        pb
    }
}

fn print_json(v: &Json) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, v);
    let _ = writeln!(out);
}

fn to_json<T: serde::Serialize>(v: &T) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

pub fn mib(b: u64) -> String {
    if b < 1024 * 1024 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
    }
}

fn version_text(v: Option<SchemaVersion>) -> String {
    v.map_or("unset".to_string(), |v| v.to_string())
}

/// Puts SIGPIPE back to its default action. Rust starts programs with SIGPIPE ignored, so
/// a write to a closed pipe (`blazedb export db issues | head`) fails with `BrokenPipe` and
/// `println!` panics; with the default action the process ends quietly, as `cat` does.
#[cfg(unix)]
fn default_sigpipe() {
    // SAFETY: `signal` with a valid signal number and `SIG_DFL` has no preconditions; this
    // runs first thing in `main`, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() {
    #[cfg(unix)]
    default_sigpipe();
    std::panic::set_hook(Box::new(|info| {
        eprintln!("blazedb: internal error: {info}");
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let json = cli.global.json;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli)));
    let code = match outcome {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            report_error(&e, json);
            e.code
        }
        Err(_) => exit::FAILURE,
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

fn report_error(e: &CliError, json: bool) {
    eprintln!("blazedb: error: {}", e.message);
    if let Some(h) = &e.hint {
        eprintln!("hint: {h}");
    }
    if json {
        print_json(&json!({
            "ok": false,
            "error": {"code": e.code, "kind": e.kind(), "message": e.message, "hint": e.hint},
        }));
    }
}

fn run(cli: Cli) -> CliResult {
    let ctx = Ctx {
        json: cli.global.json,
        quiet: cli.global.quiet,
        src: SecretSource {
            key_file: cli.global.key_file.clone(),
            key_format: cli.global.key_format,
            no_prompt: cli.global.no_prompt,
        },
    };
    match cli.cmd {
        Cmd::Info { db } => info(&ctx, &db),
        Cmd::Stats { db } => stats(&ctx, &db),
        Cmd::Doctor { db, quick, strict } => doctor(&ctx, &db, quick, strict),
        Cmd::Check { db, in_place } => check(&ctx, &db, in_place),
        Cmd::Dump {
            db,
            dump,
            format,
            collection,
            force,
        } => dump_cmd(&ctx, &db, &dump, format, collection, force),
        Cmd::Restore {
            dump,
            db,
            collection,
            encrypt,
        } => restore(&ctx, &dump, &db, collection, encrypt),
        Cmd::Verify { dump } => verify(&ctx, &dump),
        Cmd::Export {
            db,
            collection,
            out,
            format,
            filter,
            tagged,
            force,
        } => io::export(
            &ctx,
            &db,
            &collection,
            out.as_deref(),
            format,
            filter,
            tagged,
            force,
        ),
        Cmd::Import {
            db,
            collection,
            input,
            format,
            tagged,
            csv_strings,
            encrypt,
        } => io::import(
            &ctx,
            &db,
            &collection,
            &input,
            format,
            tagged,
            csv_strings,
            encrypt,
        ),
        Cmd::Query {
            db,
            collection,
            expr,
            order,
            limit,
            offset,
            count,
            fields,
            format,
            tagged,
        } => io::query(
            &ctx,
            &db,
            &collection,
            expr.as_deref(),
            &order,
            limit,
            offset,
            count,
            &fields,
            format,
            tagged,
        ),
        Cmd::Shell {
            db,
            collection,
            read_only,
        } => shell::run(&ctx, &db, collection, read_only),
        Cmd::Compact { db } => compact(&ctx, &db),
        Cmd::Backup {
            db,
            backup,
            plaintext,
        } => backup_cmd(&ctx, &db, &backup, plaintext),
        Cmd::VerifyBackup { backup } => verify_backup(&ctx, &backup),
        Cmd::Schema { db, set } => schema(&ctx, &db, set),
        Cmd::Demo { dir, issues } => demo::run(&ctx, dir, issues),
    }
}

fn ro() -> Options {
    Options::default()
}

fn collections_json(stats: &ops::Stats) -> Json {
    Json::Array(
        stats
            .collections
            .iter()
            .map(|c| json!({"name": c.name, "records": c.records, "soft_deleted": c.soft_deleted}))
            .collect(),
    )
}

fn collections_table(stats: &ops::Stats) -> String {
    let rows: Vec<Vec<String>> = stats
        .collections
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.records.to_string(),
                c.soft_deleted.to_string(),
                mib(c.stored_bytes),
            ]
        })
        .collect();
    table::render(
        &[
            "collection".into(),
            "records".into(),
            "soft-deleted".into(),
            "stored".into(),
        ],
        &rows,
        40,
    )
}

/// Where the file's pages go: each collection's records and each of its indexes, with how
/// full their pages are (stored bytes over page bytes).
fn space_table(stats: &ops::Stats) -> String {
    let fill = |stored: u64, pages: u64| {
        if pages == 0 {
            "-".to_string()
        } else {
            format!("{:.0}%", stored as f64 * 100.0 / pages as f64)
        }
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    for c in &stats.collections {
        rows.push(vec![
            c.name.clone(),
            "records".into(),
            (c.records + c.soft_deleted).to_string(),
            mib(c.stored_bytes),
            mib(c.page_bytes),
            fill(c.stored_bytes, c.page_bytes),
        ]);
        for i in &c.indexes {
            rows.push(vec![
                c.name.clone(),
                format!("index {} ({})", i.name, i.kind),
                i.entries.to_string(),
                mib(i.stored_bytes),
                mib(i.page_bytes),
                fill(i.stored_bytes, i.page_bytes),
            ]);
        }
    }
    table::render(
        &[
            "collection".into(),
            "tree".into(),
            "entries".into(),
            "stored".into(),
            "in pages".into(),
            "fill".into(),
        ],
        &rows,
        40,
    )
}

fn info(ctx: &Ctx, path: &Path) -> CliResult {
    let o = open_existing(path, ro().read_only(true), &ctx.src)?;
    let stats = o.db.stats();
    let _ = o.db.close();
    let stats = stats?;
    let health = ops::analyze(&stats, &HealthOptions::default());
    if ctx.json {
        print_json(&json!({
            "path": stats.path,
            "file_bytes": stats.file_bytes,
            "encrypted": stats.encrypted,
            "schema_version": stats.schema_version,
            "records": stats.records,
            "soft_deleted": stats.soft_deleted,
            "collections": collections_json(&stats),
            "index_count": stats.index_count,
            "indexes_supported": stats.indexes_supported,
            "health": {"status": health.status, "reasons": health.reasons},
        }));
        return Ok(exit::OK);
    }
    println!("Path:            {}", stats.path);
    println!(
        "Size:            {}{}",
        mib(stats.file_bytes),
        if stats.encrypted {
            " (encrypted)"
        } else {
            " (plaintext)"
        }
    );
    println!("Schema version:  {}", version_text(stats.schema_version));
    println!(
        "Records:         {} live, {} soft-deleted, in {} collection(s)",
        stats.records,
        stats.soft_deleted,
        stats.collections.len()
    );
    println!("Indexes:         {}", stats.index_count);
    println!("Health:          {}", health.status);
    for r in &health.reasons {
        println!("  - {r}");
    }
    if !stats.collections.is_empty() {
        print!("{}", collections_table(&stats));
    }
    Ok(exit::OK)
}

fn stats(ctx: &Ctx, path: &Path) -> CliResult {
    let o = open_existing(path, ro().read_only(true), &ctx.src)?;
    let stats = o.db.stats();
    let _ = o.db.close();
    let stats = stats?;
    if ctx.json {
        print_json(&to_json(&stats));
        return Ok(exit::OK);
    }
    let s = &stats.storage;
    println!("Path:             {}", stats.path);
    println!(
        "File:             {} on disk{}",
        mib(stats.file_bytes),
        if stats.encrypted {
            format!(", {} of pages (encrypted)", mib(stats.logical_bytes))
        } else {
            String::new()
        }
    );
    println!(
        "Records:          {} live, {} soft-deleted",
        stats.records, stats.soft_deleted
    );
    println!("Indexes:          {}", stats.index_count);
    println!(
        "Stored:           {} in {} leaf + {} branch pages of {} bytes",
        mib(s.stored_bytes),
        s.leaf_pages,
        s.branch_pages,
        s.page_size
    );
    println!(
        "Fragmented:       {} ({:.1}% of the file){}",
        mib(s.fragmented_bytes),
        s.fragmentation * 100.0,
        if s.exact {
            ""
        } else {
            ", estimated (read-only)"
        }
    );
    let c = &stats.cache;
    println!(
        "Cache:            {} of {} used; hit rate {} ({} hits, {} misses since open)",
        mib(c.used_bytes),
        mib(c.capacity_bytes),
        c.hit_rate
            .map_or("n/a".to_string(), |r| format!("{:.1}%", r * 100.0)),
        c.read_hits + c.write_hits,
        c.read_misses + c.write_misses
    );
    println!("Schema version:   {}", version_text(stats.schema_version));
    if !stats.collections.is_empty() {
        print!("{}", space_table(&stats));
    }
    Ok(exit::OK)
}

fn doctor(ctx: &Ctx, path: &Path, quick: bool, strict: bool) -> CliResult {
    let mut checks: Vec<Json> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut add = |name: &str, passed: bool, message: String, errors: &mut Vec<String>| {
        if !passed {
            errors.push(format!("{name}: {message}"));
        }
        checks.push(json!({"name": name, "passed": passed, "message": message}));
    };
    let exists = path.is_file();
    add(
        "file exists",
        exists,
        if exists {
            format!(
                "{} ({})",
                path.display(),
                mib(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
            )
        } else {
            format!("no database at {}", path.display())
        },
        &mut errors,
    );
    if !exists {
        must_exist(path, "database")?;
    }
    let o = match open_existing(path, ro().read_only(true), &ctx.src) {
        Ok(o) => o,
        Err(e) if e.code == exit::FAILURE => {
            add("opens", false, e.message.clone(), &mut errors);
            return doctor_out(
                ctx,
                path,
                checks,
                errors,
                Json::Null,
                Json::Null,
                Json::Null,
                strict,
                None,
            );
        }
        Err(e) => return Err(e),
    };
    add(
        "opens",
        true,
        format!(
            "opened read-only{}",
            if o.db.is_encrypted() {
                "; the password or key is right"
            } else {
                "; plaintext"
            }
        ),
        &mut errors,
    );
    let stats = o.db.stats();
    // Encryption is authenticated once, by the integrity check below.
    let health = o.db.health_with(&HealthOptions {
        verify_encryption: false,
        ..HealthOptions::default()
    });
    let local = quick.then(|| {
        o.db.check_with(&ops::CheckOptions {
            storage: false,
            records: true,
            encryption: true,
        })
    });
    let _ = o.db.close();
    let stats = stats?;
    add(
        "catalog",
        true,
        format!(
            "{} collection(s), {} live and {} soft-deleted records",
            stats.collections.len(),
            stats.records,
            stats.soft_deleted
        ),
        &mut errors,
    );
    let health = health?;
    let integrity = match local {
        Some(r) => r?,
        None => match ops::check_file(path, with_secret(Options::default(), o.secret.as_ref())) {
            Ok(r) => r,
            // The private copy would not even open for the page check: damage.
            Err(e @ (Error::CorruptedData(_) | Error::InvalidData(_))) => {
                add(
                    "pages",
                    false,
                    format!("the file's copy does not open for redb's check: {e}"),
                    &mut errors,
                );
                let status = health.status;
                return doctor_out(
                    ctx,
                    path,
                    checks,
                    errors,
                    to_json(&stats),
                    to_json(&health),
                    Json::Null,
                    strict,
                    Some((status, health)),
                );
            }
            Err(e) => return Err(e.into()),
        },
    };
    let decode_errors: Vec<&str> = integrity
        .errors()
        .filter(|i| !i.message.starts_with("encryption") && !i.message.starts_with("redb"))
        .map(|i| i.message.as_str())
        .collect();
    add(
        "records and counters",
        decode_errors.is_empty(),
        if decode_errors.is_empty() {
            format!(
                "{} record bodies decode; tombstone counters match",
                integrity.records_checked
            )
        } else {
            decode_errors.join("; ")
        },
        &mut errors,
    );
    if integrity.encrypted {
        add(
            "encryption",
            integrity.encryption.is_empty(),
            if integrity.encryption.is_empty() {
                "every block, key slot and header copy authenticates".into()
            } else {
                integrity.encryption.join("; ")
            },
            &mut errors,
        );
    }
    let (passed, msg) = match &integrity.storage {
        ops::StorageCheck::Passed => (
            true,
            "redb's page check passed (on a private copy)".to_string(),
        ),
        ops::StorageCheck::Repaired => (
            false,
            "redb found damaged pages (it could repair a copy)".into(),
        ),
        ops::StorageCheck::Failed { error } => (false, error.clone()),
        ops::StorageCheck::Skipped { reason } => (
            true,
            format!("skipped: {}", if quick { "--quick" } else { reason }),
        ),
    };
    add("pages", passed, msg, &mut errors);
    let status = health.status;
    doctor_out(
        ctx,
        path,
        checks,
        errors,
        to_json(&stats),
        to_json(&health),
        to_json(&integrity),
        strict,
        Some((status, health)),
    )
}

#[allow(clippy::too_many_arguments)]
fn doctor_out(
    ctx: &Ctx,
    path: &Path,
    checks: Vec<Json>,
    errors: Vec<String>,
    stats: Json,
    health_json: Json,
    integrity: Json,
    strict: bool,
    health: Option<(HealthStatus, ops::HealthReport)>,
) -> CliResult {
    let status = health.as_ref().map_or(HealthStatus::Error, |h| h.0);
    let healthy = errors.is_empty()
        && status != HealthStatus::Error
        && !(strict && status == HealthStatus::Warn);
    if ctx.json {
        print_json(&json!({
            "healthy": healthy,
            "status": if errors.is_empty() { status } else { HealthStatus::Error },
            "database": path.file_stem().map(|s| s.to_string_lossy().to_string()),
            "path": path.display().to_string(),
            "checks": checks,
            "stats": stats,
            "health": health_json,
            "integrity": integrity,
            "errors": errors,
        }));
    } else {
        println!("Doctor: {}", path.display());
        for c in &checks {
            println!(
                "  [{}] {}: {}",
                if c["passed"].as_bool() == Some(true) {
                    " ok "
                } else {
                    "FAIL"
                },
                c["name"].as_str().unwrap_or(""),
                c["message"].as_str().unwrap_or("")
            );
        }
        if let Some((_, h)) = &health {
            println!("Health: {}", h.status);
            for r in &h.reasons {
                println!("  - {r}");
            }
            for a in &h.suggested_actions {
                println!("  > {a}");
            }
        }
        println!(
            "{}",
            if healthy {
                "Result: healthy"
            } else {
                "Result: problems found"
            }
        );
    }
    Ok(if healthy { exit::OK } else { exit::FAILURE })
}

fn check(ctx: &Ctx, path: &Path, in_place: bool) -> CliResult {
    let report = if in_place {
        let o = open_existing(path, ro(), &ctx.src)?;
        let r = o.db.check();
        let _ = o.db.close();
        r?
    } else {
        let o = open_existing(path, ro().read_only(true), &ctx.src)?;
        let _ = o.db.close();
        ops::check_file(path, with_secret(Options::default(), o.secret.as_ref()))?
    };
    if ctx.json {
        print_json(&to_json(&report));
    } else {
        println!("Check: {}", report.path);
        println!(
            "  pages (redb): {}",
            match &report.storage {
                ops::StorageCheck::Passed => "passed".to_string(),
                ops::StorageCheck::Repaired => "damaged, repaired".to_string(),
                ops::StorageCheck::Failed { error } => format!("FAILED: {error}"),
                ops::StorageCheck::Skipped { reason } => format!("skipped ({reason})"),
            }
        );
        println!("  records decoded: {}", report.records_checked);
        for c in &report.collections {
            println!(
                "  {}: {} stored, {} soft-deleted (catalog says {}), {} undecodable",
                c.name, c.stored, c.tombstones_found, c.tombstones_recorded, c.undecodable
            );
        }
        if report.encrypted {
            println!(
                "  encryption: {}",
                if report.encryption.is_empty() {
                    "every block authenticates"
                } else {
                    "PROBLEMS"
                }
            );
        }
        for i in &report.issues {
            println!("  {:?}: {}", i.severity, i.message);
        }
        println!("{}", if report.ok { "OK" } else { "PROBLEMS FOUND" });
    }
    Ok(if report.ok { exit::OK } else { exit::FAILURE })
}

fn dump_cmd(
    ctx: &Ctx,
    db_path: &Path,
    dump_path: &Path,
    format: DumpFmt,
    collection: Option<String>,
    force: bool,
) -> CliResult {
    if !force {
        must_not_exist(dump_path, "pass --force to replace it")?;
    }
    let o = open_existing(db_path, ro().read_only(true), &ctx.src)?;
    let db = &o.db;
    let result = (|| -> CliResult<dump::ExportReport> {
        let schema_version = db.schema_version()?;
        let pb = ctx.progress(None, "dumping");
        let r = match format {
            DumpFmt::Lossless => {
                let only: Vec<&str> = collection.iter().map(String::as_str).collect();
                if let Some(c) = &collection
                    && !db.collections()?.contains(c)
                {
                    return Err(CliError::new(
                        exit::FAILURE,
                        format!("no collection named {c:?}"),
                    ));
                }
                lossless::export_with(
                    db,
                    &only,
                    dump_path,
                    &lossless::ExportOptions {
                        schema_version,
                        source: None,
                    },
                )
            }
            DumpFmt::Upstream => {
                let names = db.collections()?;
                let c = match collection {
                    Some(c) => c,
                    None if names.len() == 1 => names[0].clone(),
                    None if names.iter().any(|n| n == DEFAULT_COLLECTION) => {
                        DEFAULT_COLLECTION.into()
                    }
                    None => {
                        return Err(CliError::usage(format!(
                            "an upstream dump holds one collection; choose one with --collection ({})",
                            names.join(", ")
                        )));
                    }
                };
                upstream_v1::export_with(
                    db,
                    &c,
                    dump_path,
                    &upstream_v1::ExportOptions {
                        schema_version,
                        ..Default::default()
                    },
                )
            }
        };
        pb.finish_and_clear();
        Ok(r?)
    })();
    let _ = o.db.close();
    let r = result?;
    if ctx.json {
        print_json(&json!({
            "path": r.path.display().to_string(),
            "format": format_name(r.format),
            "records": r.records,
            "collections": r.collections.iter().map(|c| json!({"name": c.name, "records": c.records})).collect::<Vec<_>>(),
            "bytes": r.bytes,
            "header_sha256": r.header_sha256,
            "payload_sha256": r.payload_sha256,
        }));
    } else {
        println!(
            "Dumped {} records from {} collection(s) to {} ({}, {})",
            r.records,
            r.collections.len(),
            r.path.display(),
            format_name(r.format),
            mib(r.bytes)
        );
        println!("payload sha256 {}", r.payload_sha256);
    }
    Ok(exit::OK)
}

fn format_name(f: DumpFormat) -> &'static str {
    match f {
        DumpFormat::Lossless => "lossless",
        DumpFormat::UpstreamV1 => "upstream-v1",
    }
}

fn dump_info_json(info: &DumpInfo) -> Json {
    json!({
        "ok": true,
        "format": format_name(info.format),
        "format_version": info.format_version,
        "created": info.created.to_rfc3339(),
        "source": info.source,
        "database_id": info.database_id.map(|u| u.to_string()),
        "tool_version": info.tool_version,
        "schema_version": info.schema_version,
        "record_count": info.record_count,
        "collections": info.collections.iter().map(|c| json!({"name": c.name, "records": c.records})).collect::<Vec<_>>(),
        "payload_bytes": info.payload_bytes,
        "header_sha256": info.header_sha256,
        "payload_sha256": info.payload_sha256,
        "hash_check": match &info.hash_check {
            HashCheck::Exact => json!({"kind": "exact"}),
            HashCheck::LegacyKeyOrder { header, payload, bytes_hashed } => json!({
                "kind": "legacy_key_order", "header": header, "payload": payload, "bytes_hashed": bytes_hashed,
            }),
        },
    })
}

fn refused(path: &Path, e: Error) -> CliError {
    match e {
        Error::CorruptedData(m) | Error::InvalidData(m) => CliError::new(
            exit::FAILURE,
            format!("dump {} is refused: {m}", path.display()),
        ),
        other => CliError::from_core(other).context(&format!("dump {}", path.display())),
    }
}

fn verify(ctx: &Ctx, path: &Path) -> CliResult {
    must_exist(path, "dump")?;
    let pb = ctx.progress(None, "verifying");
    let info = dump::verify(path).map_err(|e| refused(path, e));
    pb.finish_and_clear();
    let info = info?;
    if ctx.json {
        print_json(&dump_info_json(&info));
    } else {
        println!("OK: {} verifies", path.display());
        println!(
            "  format:          {} v{}",
            format_name(info.format),
            info.format_version
        );
        println!("  source:          {}", info.source);
        println!("  exported at:     {}", info.created.to_rfc3339());
        println!("  schema version:  {}", version_text(info.schema_version));
        println!("  records:         {}", info.record_count);
        for c in &info.collections {
            println!("    {}: {}", c.name, c.records);
        }
        println!(
            "  hashes:          {}",
            match &info.hash_check {
                HashCheck::Exact => "exact".to_string(),
                HashCheck::LegacyKeyOrder {
                    header, payload, ..
                } => format!("legacy key order (header: {header}; records: {payload})"),
            }
        );
    }
    Ok(exit::OK)
}

fn restore(
    ctx: &Ctx,
    dump_path: &Path,
    db_path: &Path,
    collection: Option<String>,
    encrypt: bool,
) -> CliResult {
    must_exist(dump_path, "dump")?;
    if db_path.is_dir() {
        return Err(CliError::new(
            exit::PATH,
            format!("{} is a directory", db_path.display()),
        ));
    }
    let pb = ctx.progress(None, "verifying");
    let info = dump::verify(dump_path).map_err(|e| refused(dump_path, e));
    pb.finish_and_clear();
    let info = info?;
    let restore_into = |db: &Database| -> CliResult<dump::RestoreReport> {
        let pb = ctx.progress(None, "restoring");
        let r = match (info.format, &collection) {
            (DumpFormat::Lossless, None) => lossless::restore(dump_path, db),
            (DumpFormat::Lossless, Some(c)) => lossless::restore_into(dump_path, db, c),
            (DumpFormat::UpstreamV1, c) => {
                upstream_v1::restore(dump_path, db, c.as_deref().unwrap_or(DEFAULT_COLLECTION))
            }
        };
        pb.finish_and_clear();
        let r = r.map_err(|e| match e {
            Error::InvalidInput(m) => CliError::new(exit::FAILURE, m).hint(
                "restore needs empty target collections; restore into a new file or pick another --collection",
            ),
            other => refused(dump_path, other),
        })?;
        if let Some(v) = info.schema_version.filter(|v| *v != SchemaVersion::ZERO) {
            match db.schema_version()? {
                None => db.set_schema_version(v)?,
                Some(cur) if cur == v => {}
                Some(cur) => eprintln!(
                    "note: the dump has schema version {v}; the database keeps its own, {cur}"
                ),
            }
        }
        Ok(r)
    };
    let created = !db_path.exists();
    let report = if created {
        let secret = ctx.src.for_new(db_path, encrypt)?;
        let tmp = temp_beside(db_path)?;
        let _cleanup = RemoveOnDrop(Some(tmp.clone()));
        let db = Database::open(
            &tmp,
            with_secret(Options::default().stamp_fields(false), secret.as_ref()),
        )?;
        let r = restore_into(&db);
        let closed = db.close();
        let r = r?;
        closed?;
        publish(&tmp, db_path)?;
        r
    } else {
        // Check the targets on a read-only handle first: a refused restore must not even
        // open the file for writing (which rewrites redb's bookkeeping pages).
        let o = open_existing(db_path, ro().read_only(true), &ctx.src)?;
        let targets: Vec<String> = match (info.format, &collection) {
            (DumpFormat::Lossless, None) => {
                info.collections.iter().map(|c| c.name.clone()).collect()
            }
            (_, Some(c)) => vec![c.clone()],
            (DumpFormat::UpstreamV1, None) => vec![DEFAULT_COLLECTION.to_string()],
        };
        let occupied = (|| -> CliResult<Option<(String, u64)>> {
            for t in &targets {
                let n =
                    o.db.read(|tx| Ok(tx.count(t)? + tx.soft_deleted_count(t)?))?;
                if n > 0 {
                    return Ok(Some((t.clone(), n)));
                }
            }
            Ok(None)
        })();
        let _ = o.db.close();
        if let Some((t, n)) = occupied? {
            return Err(CliError::new(
                exit::FAILURE,
                format!(
                    "collection {t:?} of {} is not empty ({n} records); nothing was restored",
                    db_path.display()
                ),
            )
            .hint("restore needs empty target collections; restore into a new file or pick another --collection"));
        }
        let db = open::reopen(db_path, ro().stamp_fields(false), o.secret.as_ref())?;
        let r = restore_into(&db);
        let _ = db.close();
        r?
    };
    if ctx.json {
        print_json(&json!({
            "path": db_path.display().to_string(),
            "created": created,
            "records": report.records,
            "collections": report.collections.iter().map(|c| json!({"name": c.name, "records": c.records})).collect::<Vec<_>>(),
            "schema_version": info.schema_version,
        }));
    } else {
        println!(
            "Restored {} records into {} ({}): {}",
            report.records,
            db_path.display(),
            if created {
                "new database"
            } else {
                "existing database"
            },
            report
                .collections
                .iter()
                .map(|c| format!("{} {}", c.name, c.records))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(exit::OK)
}

/// A temporary name beside `dest` for a file being built.
pub fn temp_beside(dest: &Path) -> CliResult<PathBuf> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(CliError::new(
            exit::PATH,
            format!("directory {} does not exist", dir.display()),
        ));
    }
    let name = dest
        .file_name()
        .ok_or_else(|| CliError::usage(format!("{} names no file", dest.display())))?;
    Ok(dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    )))
}

/// Removes the file when dropped, if it is still there.
pub struct RemoveOnDrop(pub Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Moves a finished file into place, never over an existing one.
pub fn publish(tmp: &Path, dest: &Path) -> CliResult<()> {
    match std::fs::hard_link(tmp, dest) {
        Ok(()) => {
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(CliError::new(
            exit::PATH,
            format!(
                "{} appeared while this ran; it was not replaced",
                dest.display()
            ),
        )),
        Err(_) => {
            must_not_exist(dest, "it was not replaced")?;
            std::fs::rename(tmp, dest)?;
            Ok(())
        }
    }
}

fn compact(ctx: &Ctx, path: &Path) -> CliResult {
    let o = open_existing(path, ro(), &ctx.src)?;
    let before = std::fs::metadata(path)?.len();
    let pb = ctx.progress(None, "compacting");
    let r = o.db.compact();
    pb.finish_and_clear();
    let closed = o.db.close();
    let reclaimed = r?;
    closed?;
    let after = std::fs::metadata(path)?.len();
    if ctx.json {
        print_json(&json!({
            "path": path.display().to_string(),
            "bytes_before": before,
            "bytes_after": after,
            "bytes_reclaimed": reclaimed,
        }));
    } else {
        println!(
            "Compacted {}: {} -> {} ({} reclaimed)",
            path.display(),
            mib(before),
            mib(after),
            mib(reclaimed)
        );
    }
    Ok(exit::OK)
}

fn backup_cmd(ctx: &Ctx, path: &Path, dest: &Path, plaintext: bool) -> CliResult {
    must_not_exist(dest, "a backup writes a new file")?;
    let o = open_existing(path, ro().read_only(true), &ctx.src)?;
    let mut options = ops::BackupOptions::new().allow_plaintext(plaintext);
    if let (Some(s), false) = (&o.secret, plaintext) {
        options = options.secret(s.clone());
    }
    let total =
        o.db.stats()
            .map(|s| s.records + s.soft_deleted)
            .unwrap_or(0);
    let pb = ctx.progress(Some(total), "backing up");
    let pb2 = pb.clone();
    options = options.progress(move |p| {
        pb2.set_length(p.total);
        pb2.set_position(p.copied);
    });
    let r = o.db.backup(dest, options);
    pb.finish_and_clear();
    let _ = o.db.close();
    let r = r?;
    if ctx.json {
        print_json(&to_json(&r));
    } else {
        println!(
            "Backed up {} records ({} soft-deleted) from {} collection(s) to {} ({}, {}, {} ms)",
            r.records,
            r.soft_deleted,
            r.collections.len(),
            r.path,
            mib(r.bytes),
            if r.encrypted {
                "encrypted"
            } else {
                "plaintext"
            },
            r.millis
        );
    }
    Ok(exit::OK)
}

fn verify_backup(ctx: &Ctx, path: &Path) -> CliResult {
    let o = open_existing(path, ro().read_only(true), &ctx.src)?;
    let _ = o.db.close();
    let pb = ctx.progress(None, "verifying");
    let v = ops::verify_backup(path, with_secret(Options::default(), o.secret.as_ref()));
    pb.finish_and_clear();
    let v = v?;
    if ctx.json {
        print_json(&to_json(&v));
    } else {
        println!(
            "{}: {} records in {} collection(s), schema version {}",
            v.path,
            v.records,
            v.collections.len(),
            version_text(v.schema_version)
        );
        for i in &v.integrity.issues {
            println!("  {:?}: {}", i.severity, i.message);
        }
        println!(
            "{}",
            if v.ok {
                "OK: the backup is sound"
            } else {
                "PROBLEMS FOUND"
            }
        );
    }
    Ok(if v.ok { exit::OK } else { exit::FAILURE })
}

fn schema(ctx: &Ctx, path: &Path, set: Option<String>) -> CliResult {
    let (version, changed) = match set {
        Some(s) => {
            let v = SchemaVersion::parse(&s).map_err(|e| CliError::usage(e.to_string()))?;
            let o = open_existing(path, ro(), &ctx.src)?;
            let r = o.db.set_schema_version(v);
            let closed = o.db.close();
            r?;
            closed?;
            (Some(v), true)
        }
        None => {
            let o = open_existing(path, ro().read_only(true), &ctx.src)?;
            let v = o.db.schema_version();
            let _ = o.db.close();
            (v?, false)
        }
    };
    if ctx.json {
        print_json(
            &json!({"path": path.display().to_string(), "schema_version": version, "changed": changed}),
        );
    } else {
        println!("{}", version_text(version));
    }
    Ok(exit::OK)
}
