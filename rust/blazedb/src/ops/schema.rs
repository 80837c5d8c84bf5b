//! The schema version stored in the database, and migrations as ordered steps.
//!
//! The version lives in `blazedb.meta` under [`META_SCHEMA_VERSION`]: 16 bytes, the major
//! and the minor part as `i64` little-endian. A database that never had one set is
//! *unversioned* (`None`); migrations start such a database at 0.0, the version upstream
//! writes for an unversioned database.
//!
//! Unlike upstream (whose migrations were not transactional: a failing step kept the half
//! it had done), each step here runs in **one write transaction** together with the
//! version bump: it commits whole, or it rolls back and the version stays where it was.

use std::path::Path;

use redb::ReadableTable;
use serde::Serialize;

use super::SchemaVersion;
use crate::db::Database;
use crate::engine::META;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::transactions::{ReadTx, WriteTx};

/// The `blazedb.meta` key holding the schema version (16 bytes: major, minor; `i64` LE).
pub const META_SCHEMA_VERSION: &str = "schema_version";

impl SchemaVersion {
    /// `major.minor`.
    pub const fn new(major: i64, minor: i64) -> Self {
        SchemaVersion { major, minor }
    }

    /// The version upstream writes for an unversioned database, and where migrations of an
    /// unversioned database start.
    pub const ZERO: SchemaVersion = SchemaVersion::new(0, 0);

    /// Parses `"1.2"` (or `"3"`, meaning 3.0).
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        let bad = || Error::InvalidInput(format!("{s:?} is not a schema version (major.minor)"));
        let (major, minor) = match s.split_once('.') {
            Some((a, b)) => (a, b),
            None => (s, "0"),
        };
        let major: i64 = major.parse().map_err(|_| bad())?;
        let minor: i64 = minor.parse().map_err(|_| bad())?;
        if major < 0 || minor < 0 {
            return Err(bad());
        }
        Ok(SchemaVersion { major, minor })
    }

    fn encode(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.major.to_le_bytes());
        b[8..].copy_from_slice(&self.minor.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Result<Self> {
        if b.len() != 16 {
            return Err(Error::CorruptedData(format!(
                "the stored schema version has {} bytes, expected 16",
                b.len()
            )));
        }
        let mut major = [0u8; 8];
        let mut minor = [0u8; 8];
        major.copy_from_slice(&b[..8]);
        minor.copy_from_slice(&b[8..]);
        Ok(SchemaVersion {
            major: i64::from_le_bytes(major),
            minor: i64::from_le_bytes(minor),
        })
    }
}

impl Serialize for SchemaVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("SchemaVersion", 2)?;
        st.serialize_field("major", &self.major)?;
        st.serialize_field("minor", &self.minor)?;
        st.end()
    }
}

/// The version in a snapshot's META table.
pub(crate) fn read_version(raw: &redb::ReadTransaction) -> Result<Option<SchemaVersion>> {
    match raw.open_table(META) {
        Ok(t) => match t.get(META_SCHEMA_VERSION)? {
            Some(v) => Ok(Some(SchemaVersion::decode(v.value())?)),
            None => Ok(None),
        },
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl ReadTx {
    /// The schema version as of this snapshot (`None`: never set).
    pub fn schema_version(&self) -> Result<Option<SchemaVersion>> {
        read_version(self.raw()?)
    }
}

impl WriteTx {
    /// The schema version as this transaction sees it.
    pub fn schema_version(&self) -> Result<Option<SchemaVersion>> {
        let t = self.raw()?.open_table(META)?;
        let v = t.get(META_SCHEMA_VERSION)?;
        match v {
            Some(v) => Ok(Some(SchemaVersion::decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// Sets the schema version; it commits (or rolls back) with the rest of the
    /// transaction.
    pub fn set_schema_version(&mut self, version: SchemaVersion) -> Result<()> {
        if version.major < 0 || version.minor < 0 {
            return Err(Error::InvalidInput(format!(
                "schema version {version} has a negative part"
            )));
        }
        let mut t = self.raw()?.open_table(META)?;
        t.insert(META_SCHEMA_VERSION, version.encode().as_slice())?;
        Ok(())
    }
}

impl Database {
    /// The stored schema version; `None` for a database that never had one set.
    pub fn schema_version(&self) -> Result<Option<SchemaVersion>> {
        self.read(|tx| tx.schema_version())
    }

    /// Stores the schema version (one commit). Migrations set it themselves; this is for
    /// a new database, or one whose version is known some other way.
    pub fn set_schema_version(&self, version: SchemaVersion) -> Result<()> {
        self.write(|tx| tx.set_schema_version(version))
    }

    /// Fails with `MigrationFailed` unless the stored version is `expected`: the check an
    /// app makes at open before it trusts the layout of its records.
    pub fn check_schema_version(&self, expected: SchemaVersion) -> Result<()> {
        match self.schema_version()? {
            Some(v) if v == expected => Ok(()),
            Some(v) => Err(Error::MigrationFailed(format!(
                "{} has schema version {v}, expected {expected}{}",
                self.path().display(),
                if v < expected {
                    "; run its migrations first"
                } else {
                    "; it was written by a newer version of the app"
                }
            ))),
            None => Err(Error::MigrationFailed(format!(
                "{} has no schema version, expected {expected}; run its migrations first",
                self.path().display()
            ))),
        }
    }
}

/// Opens a database and checks its schema version (see [`Database::check_schema_version`]);
/// on a mismatch the handle is closed again and the error returned. Nothing is written
/// either way.
pub fn open_expecting(
    path: impl AsRef<Path>,
    options: Options,
    expected: SchemaVersion,
) -> Result<Database> {
    let db = Database::open(path, options)?;
    match db.check_schema_version(expected) {
        Ok(()) => Ok(db),
        Err(e) => {
            let _ = db.close();
            Err(e)
        }
    }
}

type StepFn = dyn Fn(&mut WriteTx) -> Result<()> + Send + Sync;

/// One migration step: from one schema version to a higher one.
pub struct Migration {
    from: SchemaVersion,
    to: SchemaVersion,
    description: String,
    up: Box<StepFn>,
}

impl std::fmt::Debug for Migration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migration")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl Migration {
    /// A step that runs `up` inside one write transaction; the version becomes `to` in
    /// the same transaction.
    pub fn new<F>(
        from: SchemaVersion,
        to: SchemaVersion,
        description: impl Into<String>,
        up: F,
    ) -> Self
    where
        F: Fn(&mut WriteTx) -> Result<()> + Send + Sync + 'static,
    {
        Migration {
            from,
            to,
            description: description.into(),
            up: Box::new(up),
        }
    }

    /// The version this step starts from.
    pub fn from(&self) -> SchemaVersion {
        self.from
    }

    /// The version it leaves the database at.
    pub fn to(&self) -> SchemaVersion {
        self.to
    }

    /// What it does, in words.
    pub fn description(&self) -> &str {
        &self.description
    }
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedStep {
    /// Starting version.
    pub from: SchemaVersion,
    /// Resulting version.
    pub to: SchemaVersion,
    /// What the step does.
    pub description: String,
}

/// What [`Migrations::plan`] would do: the dry run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MigrationPlan {
    /// The stored version (`None`: unversioned, planned from 0.0).
    pub current: Option<SchemaVersion>,
    /// The version asked for.
    pub target: SchemaVersion,
    /// The steps, in the order they would run (empty when already at the target).
    pub steps: Vec<PlannedStep>,
    /// Whether the steps reach the target.
    pub is_valid: bool,
    /// Why not, when `is_valid` is false.
    pub errors: Vec<String>,
}

/// What [`Migrations::run`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MigrationResult {
    /// The version before the first step.
    pub from: Option<SchemaVersion>,
    /// The version now stored.
    pub to: SchemaVersion,
    /// The steps applied, each in its own committed transaction.
    pub applied: Vec<PlannedStep>,
}

/// An ordered set of migration steps.
///
/// ```
/// use blazedb::{Database, Options, Record, Value};
/// use blazedb::ops::{Migrations, SchemaVersion};
/// # let dir = tempfile::tempdir().unwrap();
/// let db = Database::open(dir.path().join("app.blazedb"), Options::default())?;
/// db.insert("bugs", Record::new().with("title", "Crash"))?;
/// let v1 = SchemaVersion::new(1, 0);
/// let v2 = SchemaVersion::new(2, 0);
/// let migrations = Migrations::new()
///     .step(SchemaVersion::ZERO, v1, "nothing to change", |_| Ok(()))
///     .step(v1, v2, "every bug gets a priority", |tx| {
///         for r in tx.all("bugs")? {
///             let id = r.id().expect("stored records have ids");
///             tx.update_fields("bugs", id, Record::new().with("priority", 3))?;
///         }
///         Ok(())
///     });
/// let plan = migrations.plan(&db, v2)?;           // the dry run
/// assert_eq!(plan.steps.len(), 2);
/// migrations.run(&db, v2)?;
/// assert_eq!(db.schema_version()?, Some(v2));
/// # Ok::<(), blazedb::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Migrations {
    steps: Vec<Migration>,
}

impl Migrations {
    /// No steps yet.
    pub fn new() -> Self {
        Migrations::default()
    }

    /// Adds a step.
    pub fn with(mut self, m: Migration) -> Self {
        self.steps.push(m);
        self
    }

    /// Adds a step built from its parts (see [`Migration::new`]).
    pub fn step<F>(self, from: SchemaVersion, to: SchemaVersion, description: &str, up: F) -> Self
    where
        F: Fn(&mut WriteTx) -> Result<()> + Send + Sync + 'static,
    {
        self.with(Migration::new(from, to, description, up))
    }

    /// The steps registered, in order.
    pub fn steps(&self) -> &[Migration] {
        &self.steps
    }

    /// The plan from `current` to `target`, without a database: the chain of steps that
    /// starts at `current` (0.0 when unversioned) and ends exactly at `target`.
    pub fn plan_from(
        &self,
        current: Option<SchemaVersion>,
        target: SchemaVersion,
    ) -> MigrationPlan {
        let mut errors = Vec::new();
        for m in &self.steps {
            if m.to <= m.from {
                errors.push(format!(
                    "step {} -> {} ({}) does not go up; downgrades are not supported",
                    m.from, m.to, m.description
                ));
            }
        }
        let mut steps = Vec::new();
        let start = current.unwrap_or(SchemaVersion::ZERO);
        if errors.is_empty() {
            if target < start {
                errors.push(format!(
                    "the database is at {start}, above the target {target}; downgrades are not supported"
                ));
            }
            let mut at = start;
            while errors.is_empty() && at < target {
                let next: Vec<&Migration> = self
                    .steps
                    .iter()
                    .filter(|m| m.from == at && m.to <= target)
                    .collect();
                match next.as_slice() {
                    [] => errors.push(format!(
                        "no step starts at {at} and stays at or below {target}"
                    )),
                    [m] => {
                        steps.push(PlannedStep {
                            from: m.from,
                            to: m.to,
                            description: m.description.clone(),
                        });
                        at = m.to;
                    }
                    many => errors.push(format!(
                        "{} steps start at {at} ({}); the path is ambiguous",
                        many.len(),
                        many.iter()
                            .map(|m| format!("-> {}", m.to))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                }
            }
        }
        let is_valid = errors.is_empty();
        if !is_valid {
            steps.clear();
        }
        MigrationPlan {
            current,
            target,
            steps,
            is_valid,
            errors,
        }
    }

    /// The plan for `db` (the dry run: nothing is written).
    pub fn plan(&self, db: &Database, target: SchemaVersion) -> Result<MigrationPlan> {
        Ok(self.plan_from(db.schema_version()?, target))
    }

    /// Applies the plan: each step in one write transaction with its version bump. A step
    /// that fails is rolled back whole and the run stops with `MigrationFailed`; the steps
    /// before it stay committed, so the database is at the last good version, never in
    /// between. An invalid plan fails before anything runs.
    pub fn run(&self, db: &Database, target: SchemaVersion) -> Result<MigrationResult> {
        let plan = self.plan(db, target)?;
        if !plan.is_valid {
            return Err(Error::MigrationFailed(plan.errors.join("; ")));
        }
        let mut applied = Vec::new();
        for planned in &plan.steps {
            let Some(m) = self
                .steps
                .iter()
                .find(|m| m.from == planned.from && m.to == planned.to)
            else {
                return Err(Error::MigrationFailed(format!(
                    "step {} -> {} vanished from the plan",
                    planned.from, planned.to
                )));
            };
            let outcome = db.write(|tx| {
                let now = tx.schema_version()?.unwrap_or(SchemaVersion::ZERO);
                if now != m.from {
                    return Err(Error::MigrationFailed(format!(
                        "the database moved to {now} while migrating; expected {}",
                        m.from
                    )));
                }
                (m.up)(tx)?;
                tx.set_schema_version(m.to)
            });
            if let Err(e) = outcome {
                let at = applied
                    .last()
                    .map_or(plan.current, |s: &PlannedStep| Some(s.to));
                return Err(Error::MigrationFailed(format!(
                    "step {} -> {} ({}) failed and was rolled back: {e}; the database stays at {}",
                    m.from,
                    m.to,
                    m.description,
                    at.map_or("no version".to_string(), |v| v.to_string())
                )));
            }
            applied.push(planned.clone());
        }
        Ok(MigrationResult {
            from: plan.current,
            to: db.schema_version()?.unwrap_or(target),
            applied,
        })
    }
}
