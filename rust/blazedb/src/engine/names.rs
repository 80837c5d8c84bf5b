//! Name rules shared by database and collection names (upstream's rules).

use crate::error::{Error, Result};

/// Longest name accepted, in characters.
pub(crate) const MAX_NAME_CHARS: usize = 255;

/// Rejects what upstream rejects: empty, `..`, path separators, NUL, over 255 characters.
pub(crate) fn validate_name(kind: &str, name: &str) -> Result<()> {
    let problem = if name.trim().is_empty() {
        Some("is empty")
    } else if name.contains('\0') {
        Some("contains NUL")
    } else if name.contains('/') || name.contains('\\') {
        Some("contains a path separator")
    } else if name == ".." || name == "." {
        Some("is a relative path component")
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some("is longer than 255 characters")
    } else {
        None
    };
    match problem {
        Some(p) => Err(Error::InvalidInput(format!(
            "{kind} name {:?} {p}",
            truncate(name)
        ))),
        None => Ok(()),
    }
}

fn truncate(name: &str) -> String {
    name.chars().take(40).collect()
}

/// Upstream's file-name normalization: `foo` becomes `foo.blazedb`; names already ending in
/// `.blazedb` are kept; other database extensions are refused so that nobody opens
/// `notes.sqlite` as a BlazeDB file by mistake.
pub(crate) fn database_file_name(name: &str) -> Result<String> {
    validate_name("database", name)?;
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".blazedb") {
        return Ok(name.to_string());
    }
    for ext in [".db", ".blaze", ".sqlite", ".sqlite3"] {
        if lower.ends_with(ext) {
            return Err(Error::InvalidInput(format!(
                "database name {name:?} ends in {ext}; give the name without an extension"
            )));
        }
    }
    Ok(format!("{name}.blazedb"))
}
