//! Opening databases: where the password comes from, and what each failure exits with.
//!
//! The password or key comes from, in this order: `--key-file`, the `BLAZEDB_PASSWORD`
//! environment variable, or a prompt (only when standard input is a terminal). It is never
//! taken from the command line.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use blazedb::{Database, Error, Options, Secret};

use crate::{CliError, exit};

/// How a `--key-file` is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyFormat {
    /// 32 bytes: a raw key; 64 hex digits (and an optional newline): a raw key in hex;
    /// anything else: a password (one trailing newline removed).
    Auto,
    /// Exactly 32 bytes: the raw key.
    Raw,
    /// 64 hex digits (surrounding whitespace ignored): the raw key.
    Hex,
    /// The file's text, without one trailing newline, is the password.
    Password,
}

/// Where secrets come from for this run.
#[derive(Clone, Debug)]
pub struct SecretSource {
    pub key_file: Option<PathBuf>,
    pub key_format: KeyFormat,
    pub no_prompt: bool,
}

fn describe(s: &Secret) -> &'static str {
    match s {
        Secret::Password(_) => "password",
        Secret::Key(_) => "key",
    }
}

fn hex_key(text: &str) -> Option<[u8; 32]> {
    let t = text.trim();
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut k = [0u8; 32];
    for (i, byte) in k.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(k)
}

fn strip_newline(mut b: Vec<u8>) -> Vec<u8> {
    if b.ends_with(b"\n") {
        b.pop();
        if b.ends_with(b"\r") {
            b.pop();
        }
    }
    b
}

impl SecretSource {
    /// The secret given without asking (key file, then environment), and where it came from.
    pub fn given(&self) -> Result<Option<(Secret, String)>, CliError> {
        if let Some(path) = &self.key_file {
            let bytes = std::fs::read(path).map_err(|e| {
                CliError::new(
                    exit::AUTH,
                    format!("cannot read key file {}: {e}", path.display()),
                )
            })?;
            let bad = |why: &str| {
                CliError::new(exit::AUTH, format!("key file {}: {why}", path.display()))
            };
            let secret = match self.key_format {
                KeyFormat::Raw => {
                    let k: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                        bad(&format!("has {} bytes, a raw key has 32", bytes.len()))
                    })?;
                    Secret::key(k)
                }
                KeyFormat::Hex => {
                    let text = std::str::from_utf8(&bytes).map_err(|_| bad("is not text"))?;
                    Secret::key(hex_key(text).ok_or_else(|| bad("is not 64 hex digits"))?)
                }
                KeyFormat::Password => {
                    let b = strip_newline(bytes);
                    let p = String::from_utf8(b).map_err(|_| bad("is not UTF-8 text"))?;
                    if p.is_empty() {
                        return Err(bad("is empty"));
                    }
                    Secret::password(p)
                }
                KeyFormat::Auto => {
                    if let Ok(k) = <[u8; 32]>::try_from(bytes.as_slice()) {
                        Secret::key(k)
                    } else if let Some(k) = std::str::from_utf8(&bytes).ok().and_then(hex_key) {
                        Secret::key(k)
                    } else {
                        let b = strip_newline(bytes);
                        let p = String::from_utf8(b).map_err(|_| {
                            bad("is neither a 32-byte key, 64 hex digits, nor UTF-8 password text")
                        })?;
                        if p.is_empty() {
                            return Err(bad("is empty"));
                        }
                        Secret::password(p)
                    }
                }
            };
            let what = format!("the {} in key file {}", describe(&secret), path.display());
            return Ok(Some((secret, what)));
        }
        match std::env::var("BLAZEDB_PASSWORD") {
            Ok(p) if !p.is_empty() => Ok(Some((
                Secret::password(p),
                "the password in BLAZEDB_PASSWORD".into(),
            ))),
            _ => Ok(None),
        }
    }

    fn can_prompt(&self) -> bool {
        !self.no_prompt && std::io::stdin().is_terminal()
    }

    fn prompt(&self, label: &str) -> Result<Secret, CliError> {
        let p = rpassword::prompt_password(label)
            .map_err(|e| CliError::new(exit::AUTH, format!("cannot read the password: {e}")))?;
        if p.is_empty() {
            return Err(CliError::new(exit::AUTH, "no password given"));
        }
        Ok(Secret::password(p))
    }

    /// The secret for a new database: the given one; with `encrypt`, a prompt (twice) when
    /// none is given. `None`: plaintext.
    pub fn for_new(&self, path: &Path, encrypt: bool) -> Result<Option<Secret>, CliError> {
        if let Some((s, _)) = self.given()? {
            return Ok(Some(s));
        }
        if !encrypt {
            return Ok(None);
        }
        if !self.can_prompt() {
            return Err(CliError::new(
                exit::AUTH,
                format!(
                    "--encrypt needs a password for {}: set BLAZEDB_PASSWORD, pass --key-file, or run in a terminal",
                    path.display()
                ),
            ));
        }
        let a = self.prompt(&format!("New password for {}: ", path.display()))?;
        let b = self.prompt("Repeat it: ")?;
        match (&a, &b) {
            (Secret::Password(x), Secret::Password(y)) if x == y => Ok(Some(a)),
            _ => Err(CliError::new(exit::AUTH, "the passwords do not match")),
        }
    }
}

pub fn with_secret(options: Options, secret: Option<&Secret>) -> Options {
    match secret {
        Some(Secret::Password(p)) => options.password(p.as_str()),
        Some(Secret::Key(k)) => options.key(**k),
        None => options,
    }
}

/// An opened database and the secret that opened it (to key backups alike).
pub struct Opened {
    pub db: Database,
    pub secret: Option<Secret>,
}

/// Fails with exit 5 unless `path` is an existing file.
pub fn must_exist(path: &Path, what: &str) -> Result<(), CliError> {
    if path.is_dir() {
        return Err(CliError::new(
            exit::PATH,
            format!("{} is a directory, not a {what}", path.display()),
        ));
    }
    if !path.exists() {
        return Err(CliError::new(
            exit::PATH,
            format!("no {what} at {}", path.display()),
        ));
    }
    Ok(())
}

/// Fails with exit 5 if `path` exists.
pub fn must_not_exist(path: &Path, hint: &str) -> Result<(), CliError> {
    if path.exists() {
        return Err(CliError::new(
            exit::PATH,
            format!("{} already exists; {hint}", path.display()),
        ));
    }
    Ok(())
}

/// Opens an existing database. Read-only handles never write to the file.
pub fn open_existing(path: &Path, base: Options, src: &SecretSource) -> Result<Opened, CliError> {
    must_exist(path, "database")?;
    let base = base.create(false);
    if !blazedb::ops::file_is_encrypted(path) {
        if src.key_file.is_some() {
            eprintln!(
                "note: {} is not encrypted; the key file is not used",
                path.display()
            );
        }
        let db = Database::open(path, base).map_err(|e| open_error(path, e, None))?;
        return Ok(Opened { db, secret: None });
    }
    let (secret, from) = match src.given()? {
        Some(g) => g,
        None if src.can_prompt() => (
            src.prompt(&format!("Password for {}: ", path.display()))?,
            "the password typed".to_string(),
        ),
        None => {
            return Err(CliError::new(
                exit::AUTH,
                format!(
                    "{} is encrypted: set BLAZEDB_PASSWORD, pass --key-file, or run in a terminal to be asked",
                    path.display()
                ),
            ));
        }
    };
    let db = Database::open(path, with_secret(base, Some(&secret)))
        .map_err(|e| open_error(path, e, Some(&from)))?;
    Ok(Opened {
        db,
        secret: Some(secret),
    })
}

/// The exit code and message for a failed open.
pub fn open_error(path: &Path, e: Error, from: Option<&str>) -> CliError {
    match e {
        Error::PasswordMismatch => CliError::new(
            exit::AUTH,
            format!(
                "wrong password or key for {} ({} does not open it)",
                path.display(),
                from.unwrap_or("no password")
            ),
        ),
        Error::DatabaseLocked { .. } => CliError::new(
            exit::LOCKED,
            format!(
                "{} is open for writing by another process (or handle); close it and retry",
                path.display()
            ),
        ),
        Error::CorruptedData(m) => CliError::new(
            exit::FAILURE,
            format!("{} is damaged and cannot be opened: {m}", path.display()),
        )
        .hint("restore it from a backup or a dump (`blazedb restore`)"),
        Error::InvalidData(m) => CliError::new(
            exit::FAILURE,
            format!("{} cannot be opened: {m}", path.display()),
        ),
        other => CliError::from_core(other).context(&format!("cannot open {}", path.display())),
    }
}

/// Opens an existing database again with the secret an earlier [`open_existing`] found
/// (so a typed password is asked for once).
pub fn reopen(path: &Path, base: Options, secret: Option<&Secret>) -> Result<Database, CliError> {
    Database::open(path, with_secret(base.create(false), secret))
        .map_err(|e| open_error(path, e, None))
}
