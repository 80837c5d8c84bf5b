//! `Database::open_default`: the platform directory, upstream's name rules and file naming.
//!
//! One test in its own binary, because it changes the process environment.

use blazedb::{Database, Error, Options, Record};

#[test]
fn open_default_uses_the_platform_directory_and_upstream_name_rules() {
    let home = tempfile::tempdir().unwrap();
    // SAFETY: this binary runs this one test, so no other thread reads the environment.
    unsafe {
        std::env::set_var("HOME", home.path());
        std::env::remove_var("XDG_DATA_HOME");
    }
    let expected_dir = if cfg!(target_vendor = "apple") {
        home.path().join("Library/Application Support/BlazeDB")
    } else {
        home.path().join(".local/share/blazedb")
    };
    assert_eq!(blazedb::default_directory().unwrap(), expected_dir);

    let db = Database::open_default("notes", Options::default()).unwrap();
    assert_eq!(db.path(), expected_dir.join("notes.blazedb"));
    db.insert("c", Record::new()).unwrap();
    db.close().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&expected_dir)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "database directory must be private");
    }
    let db = Database::open_default("notes.blazedb", Options::default()).unwrap();
    assert_eq!(db.count("c").unwrap(), 1, "same file by either spelling");
    db.close().unwrap();
    let db = Database::open_default("v1.2", Options::default()).unwrap();
    assert_eq!(db.path(), expected_dir.join("v1.2.blazedb"));
    db.close().unwrap();

    let long = "n".repeat(256);
    for bad in [
        "",
        "  ",
        "..",
        ".",
        "a/b",
        "a\\b",
        "a\0b",
        &long,
        "x.sqlite",
        "x.db",
        "x.blaze",
        "x.SQLITE3",
    ] {
        match Database::open_default(bad, Options::default()) {
            Err(Error::InvalidInput(_)) => {}
            other => panic!("{bad:?} should be InvalidInput, got {other:?}"),
        }
    }
    let entries: Vec<_> = std::fs::read_dir(&expected_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut entries = entries;
    entries.sort();
    assert_eq!(entries, vec!["notes.blazedb", "v1.2.blazedb"]);

    // XDG_DATA_HOME wins on Linux.
    if !cfg!(target_vendor = "apple") {
        let xdg = tempfile::tempdir().unwrap();
        // SAFETY: as above.
        unsafe { std::env::set_var("XDG_DATA_HOME", xdg.path()) };
        assert_eq!(
            blazedb::default_directory().unwrap(),
            xdg.path().join("blazedb")
        );
    }
}
