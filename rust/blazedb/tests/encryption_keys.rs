//! Encryption keys: passwords, raw keys, wrong secrets, the policy, rekeying, and copies
//! between plaintext and encrypted files.

use blazedb::{Database, Error, KdfParams, Options, Record, Secret, Value};

const PASSWORD: &str = "Correct-Horse-42";

/// A cheaper KDF keeps the suite fast; the default cost is measured in the benchmarks.
fn fast() -> KdfParams {
    KdfParams {
        memory_kib: 8 * 1024,
        iterations: 1,
        parallelism: 1,
    }
}

fn pw(p: &str) -> Options {
    Options::default().password(p).kdf_params(fast())
}

fn fill(db: &Database, n: usize) -> Vec<blazedb::Uuid> {
    db.insert_many(
        "c",
        (0..n)
            .map(|i| {
                Record::new()
                    .with("i", i as i64)
                    .with("s", format!("value {i}"))
            })
            .collect(),
    )
    .unwrap()
}

#[test]
fn password_opens_and_wrong_password_is_password_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.blazedb");
    let db = Database::open(&path, pw(PASSWORD)).unwrap();
    assert!(db.is_encrypted());
    let ids = fill(&db, 100);
    db.close().unwrap();
    let before = std::fs::read(&path).unwrap();
    for wrong in ["correct-horse-42", "", "Correct-Horse-43"] {
        match Database::open(&path, pw(wrong)) {
            Err(Error::PasswordMismatch) => {}
            other => panic!("wrong password {wrong:?}: {other:?}"),
        }
    }
    assert!(matches!(
        Database::open(&path, Options::default()),
        Err(Error::PasswordMismatch)
    ));
    assert!(matches!(
        Database::open(&path, Options::default().key([7; 32])),
        Err(Error::PasswordMismatch)
    ));
    assert_eq!(std::fs::read(&path).unwrap(), before, "refused opens wrote");
    let db = Database::open(&path, pw(PASSWORD)).unwrap();
    assert_eq!(db.count("c").unwrap(), 100);
    let r = db.get("c", ids[42]).unwrap().unwrap();
    assert_eq!(r.get("s"), Some(&Value::from("value 42")));
    assert!(db.check_integrity().unwrap());
    assert!(db.verify_encryption().unwrap().is_empty());
}

#[test]
fn raw_key_opens_its_file_and_the_wrong_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.blazedb");
    let key = [0x5a; 32];
    let db = Database::open(&path, Options::default().key(key)).unwrap();
    fill(&db, 10);
    db.close().unwrap();
    let mut other = key;
    other[31] ^= 1;
    assert!(matches!(
        Database::open(&path, Options::default().key(other)),
        Err(Error::PasswordMismatch)
    ));
    assert!(matches!(
        Database::open(&path, pw(PASSWORD)),
        Err(Error::PasswordMismatch)
    ));
    let db = Database::open(&path, Options::default().key(key)).unwrap();
    assert_eq!(db.count("c").unwrap(), 10);
}

#[test]
fn plaintext_file_opened_with_a_password_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.blazedb");
    let db = Database::open(&path, Options::default()).unwrap();
    fill(&db, 3);
    db.close().unwrap();
    assert!(matches!(
        Database::open(&path, pw(PASSWORD)),
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(
        Database::open(&path, Options::default())
            .unwrap()
            .count("c")
            .unwrap(),
        3
    );
}

#[test]
fn rekey_makes_the_new_secret_work_and_refuses_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.blazedb");
    let db = Database::open(&path, pw(PASSWORD)).unwrap();
    let ids = fill(&db, 50);
    db.change_password("Another-Pass-99").unwrap();
    // The open handle keeps working across the change.
    db.insert("c", Record::new().with("after", true)).unwrap();
    db.close().unwrap();
    assert!(matches!(
        Database::open(&path, pw(PASSWORD)),
        Err(Error::PasswordMismatch)
    ));
    let db = Database::open(&path, pw("Another-Pass-99")).unwrap();
    assert_eq!(db.count("c").unwrap(), 51);
    assert!(db.get("c", ids[0]).unwrap().is_some());
    // From a password to a raw key.
    let key = [9u8; 32];
    db.rekey(Secret::key(key)).unwrap();
    db.close().unwrap();
    assert!(matches!(
        Database::open(&path, pw("Another-Pass-99")),
        Err(Error::PasswordMismatch)
    ));
    let db = Database::open(&path, Options::default().key(key)).unwrap();
    assert_eq!(db.count("c").unwrap(), 51);
    // Rekeying a plaintext database is refused with a pointer to copy_to.
    let plain = Database::open(dir.path().join("plain.blazedb"), Options::default()).unwrap();
    assert!(matches!(
        plain.change_password(PASSWORD),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn password_policy_is_off_by_default_and_lists_what_is_missing_when_on() {
    let dir = tempfile::tempdir().unwrap();
    let weak = Database::open(dir.path().join("w.blazedb"), pw("abc")).unwrap();
    weak.close().unwrap();
    let strict = |p: &str| pw(p).password_policy(true);
    match Database::open(dir.path().join("s.blazedb"), strict("short1A")) {
        Err(Error::PasswordTooWeak { missing }) => {
            assert_eq!(missing, vec!["at least 12 characters".to_string()]);
        }
        other => panic!("{other:?}"),
    }
    match Database::open(dir.path().join("s.blazedb"), strict("alllowercaseletters")) {
        Err(Error::PasswordTooWeak { missing }) => {
            assert_eq!(
                missing,
                vec!["an upper-case letter".to_string(), "a digit".to_string()]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !dir.path().join("s.blazedb").exists(),
        "a refused open created a file"
    );
    let db = Database::open(dir.path().join("s.blazedb"), strict("DemoPass123!")).unwrap();
    assert!(matches!(
        db.change_password("weak"),
        Err(Error::PasswordTooWeak { .. })
    ));
    // The refused change left the old password in place.
    db.close().unwrap();
    Database::open(dir.path().join("s.blazedb"), strict("DemoPass123!")).unwrap();
}

#[test]
fn copy_to_encrypts_and_decrypts_whole_databases() {
    let dir = tempfile::tempdir().unwrap();
    let plain = Database::open(dir.path().join("plain.blazedb"), Options::default()).unwrap();
    let ids = fill(&plain, 2500);
    plain
        .insert("other", Record::new().with("x", Value::Data(vec![1, 2, 3])))
        .unwrap();
    let enc_path = dir.path().join("enc.blazedb");
    assert_eq!(plain.copy_to(&enc_path, pw(PASSWORD)).unwrap(), 2501);
    let enc = Database::open(&enc_path, pw(PASSWORD)).unwrap();
    assert!(enc.is_encrypted());
    assert_eq!(enc.collections().unwrap(), plain.collections().unwrap());
    assert_eq!(enc.all("c").unwrap(), plain.all("c").unwrap());
    assert_eq!(
        enc.get("c", ids[7]).unwrap(),
        plain.get("c", ids[7]).unwrap()
    );
    let back = dir.path().join("back.blazedb");
    enc.copy_to(&back, Options::default()).unwrap();
    let back = Database::open(&back, Options::default()).unwrap();
    assert!(!back.is_encrypted());
    assert_eq!(back.all("other").unwrap(), plain.all("other").unwrap());
    // copy_to never overwrites.
    assert!(matches!(
        plain.copy_to(&enc_path, Options::default()),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn encrypted_database_survives_reopen_after_many_commits_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.blazedb");
    let db = Database::open(&path, pw(PASSWORD)).unwrap();
    let mut ids = Vec::new();
    for round in 0..30 {
        ids.extend(fill(&db, 40));
        let victims: Vec<_> = ids.drain(..10).collect();
        db.delete_many("c", &victims).unwrap();
        if round % 10 == 9 {
            db.update_fields("c", ids[0], Record::new().with("round", round as i64))
                .unwrap();
        }
    }
    let expected = db.all("c").unwrap();
    db.compact().unwrap();
    assert_eq!(db.all("c").unwrap(), expected);
    db.close().unwrap();
    let db = Database::open(&path, pw(PASSWORD)).unwrap();
    assert_eq!(db.all("c").unwrap(), expected);
    assert_eq!(db.count("c").unwrap(), expected.len() as u64);
    assert!(db.check_integrity().unwrap());
    let db2 = Database::open(&path, pw(PASSWORD));
    assert!(matches!(db2, Err(Error::DatabaseLocked { .. })));
    db.close().unwrap();
    let ro = Database::open(&path, pw(PASSWORD).read_only(true)).unwrap();
    assert_eq!(ro.count("c").unwrap(), expected.len() as u64);
}
