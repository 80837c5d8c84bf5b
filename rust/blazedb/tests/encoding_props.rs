//! Scenario: the binary record encoding under property tests.
//!
//! Round trips for every value kind (records and free-standing values), `id` left out of
//! record bodies, hostile input (random bytes, mutated encodings, forged depths and
//! lengths) that must never panic, and a full round trip through a database file.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use blazedb::{
    Database, Durability, Error, MAX_DEPTH, Options, Record, Timestamp, Uuid, Value, codec,
};
use common::{any_record, any_value, nested_arrays, same_bits};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

// --- allocation tracking ------------------------------------------------------------------

/// Counts, per thread and only while armed, the largest single allocation requested, so a
/// test can prove a forged length did not turn into a huge `Vec::with_capacity`.
struct Tracking;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with` so an allocation during thread teardown cannot panic inside the allocator.
    if ARMED.try_with(Cell::get).unwrap_or(false) {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Runs `f` and returns its result with the largest single allocation it made and its time.
fn measured<T>(f: impl FnOnce() -> T) -> (T, usize, Duration) {
    LARGEST.with(|l| l.set(0));
    ARMED.with(|a| a.set(true));
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    ARMED.with(|a| a.set(false));
    (out, LARGEST.with(Cell::get), took)
}

// --- helpers ---------------------------------------------------------------------------

/// LEB128, the varint the format uses for lengths and counts.
fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

/// The one-byte tag the encoder writes for an empty value of this shape.
fn tag_of(v: &Value) -> u8 {
    codec::encode_value(v).unwrap()[0]
}

fn without_id(r: &Record) -> Record {
    let mut r = r.clone();
    r.remove("id");
    r
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Decoding untrusted bytes must give a value or `CorruptedData`, and a value it gives must
/// survive its own round trip.
fn check_hostile_record(bytes: &[u8]) -> Result<(), TestCaseError> {
    match codec::decode(bytes) {
        Ok(r) => {
            // A forged body may carry an `id` key; the encoder drops it again.
            let again = codec::decode(&codec::encode(&r).unwrap()).unwrap();
            prop_assert!(same_record_bits(&again, &without_id(&r)));
        }
        Err(Error::CorruptedData(_)) => {}
        Err(other) => prop_assert!(false, "decode gave {other:?}, not CorruptedData"),
    }
    Ok(())
}

fn check_hostile_value(bytes: &[u8]) -> Result<(), TestCaseError> {
    match codec::decode_value(bytes) {
        Ok(v) => {
            let again = codec::decode_value(&codec::encode_value(&v).unwrap()).unwrap();
            prop_assert!(same_bits(&again, &v));
        }
        Err(Error::CorruptedData(_)) => {}
        Err(other) => prop_assert!(false, "decode_value gave {other:?}, not CorruptedData"),
    }
    Ok(())
}

fn same_record_bits(a: &Record, b: &Record) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|((k1, v1), (k2, v2))| k1 == k2 && same_bits(v1, v2))
}

// --- round trips -------------------------------------------------------------------------

fn kinds_in(v: &Value, out: &mut std::collections::BTreeSet<blazedb::ValueKind>) {
    out.insert(v.kind());
    match v {
        Value::Array(a) => a.iter().for_each(|x| kinds_in(x, out)),
        Value::Dictionary(d) => d.values().for_each(|x| kinds_in(x, out)),
        _ => {}
    }
}

#[test]
fn strategies_cover_every_kind_nesting_and_the_id_field() {
    let mut runner = TestRunner::deterministic();
    let mut kinds = std::collections::BTreeSet::new();
    let mut nested_container = false;
    let mut saw_id = false;
    let records = any_record();
    for _ in 0..300 {
        let r = records.new_tree(&mut runner).unwrap().current();
        saw_id |= r.contains_key("id");
        for (_, v) in r.iter() {
            kinds_in(v, &mut kinds);
            if let Value::Array(a) = v {
                nested_container |= a
                    .iter()
                    .any(|x| matches!(x, Value::Array(_) | Value::Dictionary(_)));
            }
        }
    }
    assert_eq!(kinds.len(), 11, "kinds generated: {kinds:?}");
    assert!(nested_container, "no container nested in a container");
    assert!(saw_id, "no record carried an id field");
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn record_round_trips_without_its_id(r in any_record()) {
        let bytes = codec::encode(&r).unwrap();
        let back = codec::decode(&bytes).unwrap();
        let expected = without_id(&r);
        prop_assert_eq!(&back, &expected);
        // Bit for bit too: -0.0 stays -0.0.
        prop_assert!(same_record_bits(&back, &expected));
        prop_assert!(!back.contains_key("id"));
        // The id is not part of the body at all: with or without it, the same bytes.
        prop_assert_eq!(&codec::encode(&expected).unwrap(), &bytes);
        // Deterministic: a rebuilt equal record encodes to the same bytes.
        let rebuilt: Record = r.clone().into_iter().collect();
        prop_assert_eq!(codec::encode(&rebuilt).unwrap(), bytes);
    }

    #[test]
    fn value_round_trips(v in any_value()) {
        let bytes = codec::encode_value(&v).unwrap();
        let back = codec::decode_value(&bytes).unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert!(same_bits(&back, &v));
    }

    #[test]
    fn any_nan_payload_round_trips_by_bits(mantissa in 1u64..(1 << 52), negative in any::<bool>()) {
        let bits = (u64::from(negative) << 63) | (0x7FFu64 << 52) | mantissa;
        let nan = f64::from_bits(bits);
        prop_assert!(nan.is_nan());
        for v in [Value::Double(nan), Value::Vector(vec![1.0, nan])] {
            let back = codec::decode_value(&codec::encode_value(&v).unwrap()).unwrap();
            prop_assert!(same_bits(&back, &v), "{:?} came back as {:?}", v, back);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check_hostile_record(&bytes)?;
        check_hostile_value(&bytes)?;
        // Behind a valid record header the decoder gets much further than byte 0.
        let mut framed = codec::encode(&Record::new()).unwrap();
        framed.truncate(2);
        framed.extend_from_slice(&bytes);
        check_hostile_record(&framed)?;
    }

    #[test]
    fn flipped_bytes_never_panic(
        r in any_record(),
        at in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let mut bytes = codec::encode(&r).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        check_hostile_record(&bytes)?;
        check_hostile_value(&bytes[2..])?;
    }

    #[test]
    fn truncated_encodings_are_always_corrupt(r in any_record(), v in any_value(), at in any::<prop::sample::Index>()) {
        // The encoding is self-delimiting, so no proper prefix of a valid body can decode.
        let bytes = codec::encode(&r).unwrap();
        let cut = at.index(bytes.len());
        prop_assert!(matches!(codec::decode(&bytes[..cut]), Err(Error::CorruptedData(_))));
        let bytes = codec::encode_value(&v).unwrap();
        let cut = at.index(bytes.len());
        prop_assert!(matches!(codec::decode_value(&bytes[..cut]), Err(Error::CorruptedData(_))));
    }

    #[test]
    fn appended_bytes_are_always_corrupt(
        r in any_record(),
        v in any_value(),
        tail in prop::collection::vec(any::<u8>(), 1..16),
    ) {
        let mut bytes = codec::encode(&r).unwrap();
        bytes.extend_from_slice(&tail);
        prop_assert!(matches!(codec::decode(&bytes), Err(Error::CorruptedData(_))));
        let mut bytes = codec::encode_value(&v).unwrap();
        bytes.extend_from_slice(&tail);
        prop_assert!(matches!(codec::decode_value(&bytes), Err(Error::CorruptedData(_))));
    }
}

#[test]
fn nan_doubles_round_trip_as_nan_with_their_bits() {
    let nans = [
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7FF0_0000_0000_0001), // signalling
        f64::from_bits(0x7FF8_0000_DEAD_BEEF), // payload
    ];
    for nan in nans {
        let inner = Value::Dictionary([("x".to_string(), Value::Double(nan))].into());
        let values = [
            Value::Double(nan),
            Value::Vector(vec![0.5, nan, f64::INFINITY]),
            Value::Array(vec![Value::Double(nan), inner.clone()]),
            inner,
        ];
        for v in values {
            let back = codec::decode_value(&codec::encode_value(&v).unwrap()).unwrap();
            assert!(same_bits(&back, &v), "{v:?} came back as {back:?}");
            // And inside a record.
            let r = Record::new().with("f", v.clone());
            let back = codec::decode(&codec::encode(&r).unwrap()).unwrap();
            assert!(same_bits(back.get("f").unwrap(), &v));
        }
        let back = codec::decode_value(&codec::encode_value(&Value::Double(nan)).unwrap());
        match back.unwrap() {
            Value::Double(d) => {
                assert!(d.is_nan());
                assert_eq!(d.to_bits(), nan.to_bits());
            }
            other => panic!("NaN came back as {other:?}"),
        }
    }
}

#[test]
fn record_id_field_is_never_encoded() {
    let body = Record::new().with("title", "x").with("n", 3);
    let plain = codec::encode(&body).unwrap();
    for id in [
        Value::Uuid(Uuid::from_u128(0xfeed)),
        Value::String("not even a uuid".into()),
        Value::Int(7),
        Value::Null,
    ] {
        let with_id = body.clone().with("id", id.clone());
        assert_eq!(
            codec::encode(&with_id).unwrap(),
            plain,
            "id {id:?} leaked into the body"
        );
        assert_eq!(codec::decode(&plain).unwrap(), body);
    }
    // The uuid's 16 bytes do not appear anywhere in the body.
    let u = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    let bytes = codec::encode(&body.clone().with("id", u)).unwrap();
    assert!(!bytes.windows(16).any(|w| w == u.as_bytes()));
}

// --- depth ----------------------------------------------------------------------------

#[test]
fn encode_refuses_values_nested_deeper_than_max_depth() {
    let ok = nested_arrays(MAX_DEPTH);
    let bytes = codec::encode_value(&ok).unwrap();
    assert_eq!(codec::decode_value(&bytes).unwrap(), ok);
    let too_deep = nested_arrays(MAX_DEPTH + 1);
    assert!(matches!(
        codec::encode_value(&too_deep),
        Err(Error::InvalidInput(_))
    ));
    // Dictionaries count the same as arrays.
    let mut d = Value::Int(1);
    for _ in 0..=MAX_DEPTH {
        d = Value::Dictionary([("k".to_string(), d)].into());
    }
    assert!(matches!(
        codec::encode_value(&d),
        Err(Error::InvalidInput(_))
    ));
    // Inside a record: far too deep is refused, moderately deep is fine.
    let r = Record::new().with("f", nested_arrays(MAX_DEPTH + 1));
    assert!(matches!(codec::encode(&r), Err(Error::InvalidInput(_))));
    let r = Record::new().with("f", nested_arrays(MAX_DEPTH / 2));
    assert_eq!(codec::decode(&codec::encode(&r).unwrap()).unwrap(), r);
}

#[test]
fn encoder_and_decoder_agree_on_the_depth_limit() {
    let array = tag_of(&Value::Array(vec![]));
    let null = tag_of(&Value::Null);
    for n in 0..=MAX_DEPTH + 3 {
        // A forged value: n arrays of one element around a null.
        let mut forged = Vec::new();
        for _ in 0..n {
            forged.push(array);
            forged.extend(varint(1));
        }
        forged.push(null);
        match codec::encode_value(&nested_arrays(n)) {
            Ok(bytes) => {
                assert_eq!(bytes, forged, "depth {n}");
                assert_eq!(codec::decode_value(&forged).unwrap(), nested_arrays(n));
            }
            Err(Error::InvalidInput(_)) => assert!(
                matches!(codec::decode_value(&forged), Err(Error::CorruptedData(_))),
                "decode accepts depth {n}, which encode refuses"
            ),
            Err(e) => panic!("depth {n}: {e:?}"),
        }
        // The same value as a record field.
        let mut record = codec::encode(&Record::new()).unwrap();
        record.truncate(2);
        record.extend(varint(1));
        record.extend(varint(1));
        record.push(b'f');
        record.extend_from_slice(&forged);
        match codec::encode(&Record::new().with("f", nested_arrays(n))) {
            Ok(bytes) => {
                assert_eq!(bytes, record, "record depth {n}");
                assert!(codec::decode(&record).is_ok());
            }
            Err(Error::InvalidInput(_)) => assert!(
                matches!(codec::decode(&record), Err(Error::CorruptedData(_))),
                "decode accepts record depth {n}, which encode refuses"
            ),
            Err(e) => panic!("record depth {n}: {e:?}"),
        }
    }
}

#[test]
fn forged_very_deep_encoding_is_refused_without_recursing() {
    let array = tag_of(&Value::Array(vec![]));
    let null = tag_of(&Value::Null);
    // Deep enough to overflow the stack if the decoder recursed without a cap.
    let mut forged = [array, 1].repeat(200_000);
    forged.push(null);
    let (r, _, took) = measured(|| codec::decode_value(&forged));
    assert!(matches!(r, Err(Error::CorruptedData(_))), "{r:?}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let mut record = vec![1, 0, 1, 1, b'f'];
    record.extend_from_slice(&forged);
    assert!(matches!(
        codec::decode(&record),
        Err(Error::CorruptedData(_))
    ));
}

// --- forged lengths ---------------------------------------------------------------------

#[test]
fn forged_huge_lengths_and_counts_fail_fast_without_allocating() {
    let empty_record = codec::encode(&Record::new()).unwrap();
    assert_eq!(empty_record.len(), 3, "header, flags, field count");
    let prefixed = [
        tag_of(&Value::String(String::new())),
        tag_of(&Value::Data(vec![])),
        tag_of(&Value::Array(vec![])),
        tag_of(&Value::Dictionary(Default::default())),
        tag_of(&Value::Vector(vec![])),
    ];
    let huge = [u64::MAX, u64::MAX / 2, 1 << 40, 1 << 32, 100_000_000];
    for tag in prefixed {
        for &n in &huge {
            let mut forged = vec![tag];
            forged.extend(varint(n));
            forged.extend_from_slice(&[0u8; 64]);
            let (r, largest, took) = measured(|| codec::decode_value(&forged));
            assert!(
                matches!(r, Err(Error::CorruptedData(_))),
                "tag {tag} n {n}: {r:?}"
            );
            assert!(largest < 4096, "tag {tag} n {n}: allocated {largest} bytes");
            assert!(
                took < Duration::from_millis(500),
                "tag {tag} n {n}: {took:?}"
            );

            // The same value as a record field, and as the field count itself.
            let mut rec = empty_record[..2].to_vec();
            rec.extend(varint(1));
            rec.extend(varint(1));
            rec.push(b'f');
            rec.extend_from_slice(&forged);
            let (r, largest, _) = measured(|| codec::decode(&rec));
            assert!(
                matches!(r, Err(Error::CorruptedData(_))),
                "field tag {tag} n {n}"
            );
            assert!(
                largest < 4096,
                "field tag {tag} n {n}: allocated {largest} bytes"
            );
        }
    }
    for &n in &huge {
        let mut rec = empty_record[..2].to_vec();
        rec.extend(varint(n));
        rec.extend_from_slice(&[0u8; 64]);
        let (r, largest, took) = measured(|| codec::decode(&rec));
        assert!(
            matches!(r, Err(Error::CorruptedData(_))),
            "count {n}: {r:?}"
        );
        assert!(largest < 4096, "count {n}: allocated {largest} bytes");
        assert!(took < Duration::from_millis(500));
    }
    // A key length that runs past the end.
    let mut rec = empty_record[..2].to_vec();
    rec.extend(varint(1));
    rec.extend(varint(u64::MAX));
    assert!(matches!(codec::decode(&rec), Err(Error::CorruptedData(_))));
}

#[test]
fn malformed_varints_and_scalars_are_corrupt() {
    let int = tag_of(&Value::Int(0));
    // Eleven continuation bytes, and a tenth byte that overflows 64 bits.
    let mut long = vec![int];
    long.extend_from_slice(&[0x80; 11]);
    long.push(0);
    assert!(matches!(
        codec::decode_value(&long),
        Err(Error::CorruptedData(_))
    ));
    let mut overflow = vec![int];
    overflow.extend_from_slice(&[0xFF; 9]);
    overflow.push(0x02);
    assert!(matches!(
        codec::decode_value(&overflow),
        Err(Error::CorruptedData(_))
    ));
    // The largest varint that fits is fine: i64::MIN zigzags to u64::MAX.
    let max = codec::encode_value(&Value::Int(i64::MIN)).unwrap();
    assert_eq!(max.len(), 11);
    assert_eq!(codec::decode_value(&max).unwrap(), Value::Int(i64::MIN));

    // A date whose nanoseconds are out of range would break Timestamp's invariant.
    let date = codec::encode_value(&Value::Date(Timestamp::new(0, 0))).unwrap();
    assert_eq!(date.len(), 3, "tag, seconds, nanoseconds");
    let mut bad = date[..2].to_vec();
    bad.extend(varint(1_000_000_000));
    assert!(matches!(
        codec::decode_value(&bad),
        Err(Error::CorruptedData(_))
    ));
    let mut edge = date[..2].to_vec();
    edge.extend(varint(999_999_999));
    assert_eq!(
        codec::decode_value(&edge).unwrap(),
        Value::Date(Timestamp::new(0, 999_999_999))
    );

    // Invalid UTF-8 in a string and in a key.
    let mut s = vec![tag_of(&Value::String(String::new()))];
    s.extend(varint(2));
    s.extend_from_slice(&[0xC3, 0x28]);
    assert!(matches!(
        codec::decode_value(&s),
        Err(Error::CorruptedData(_))
    ));
    let mut rec = vec![1, 0];
    rec.extend(varint(1));
    rec.extend(varint(1));
    rec.push(0xFF);
    rec.push(tag_of(&Value::Null));
    assert!(matches!(codec::decode(&rec), Err(Error::CorruptedData(_))));

    // Unknown tags, unknown format versions, empty input.
    assert!(matches!(
        codec::decode_value(&[0xEE]),
        Err(Error::CorruptedData(_))
    ));
    assert!(matches!(
        codec::decode_value(&[]),
        Err(Error::CorruptedData(_))
    ));
    assert!(matches!(codec::decode(&[]), Err(Error::CorruptedData(_))));
    assert!(matches!(
        codec::decode(&[0x02, 0, 0]),
        Err(Error::CorruptedData(_))
    ));
    assert!(matches!(
        codec::decode(&[0x01]),
        Err(Error::CorruptedData(_))
    ));
}

#[test]
fn seeded_mutation_fuzz_never_panics() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xB1A2E);
    let seeds: Vec<Vec<u8>> = {
        let mut runner = TestRunner::deterministic();
        let strategy = any_record();
        (0..32)
            .map(|_| {
                let r = strategy.new_tree(&mut runner).unwrap().current();
                codec::encode(&r).unwrap()
            })
            .collect()
    };
    for _ in 0..5_000 {
        let mut bytes = seeds[rng.gen_range(0..seeds.len())].clone();
        for _ in 0..rng.gen_range(1..4) {
            match rng.gen_range(0..4) {
                0 => {
                    let i = rng.gen_range(0..bytes.len());
                    bytes[i] = rng.r#gen();
                }
                1 => {
                    let i = rng.gen_range(0..=bytes.len());
                    bytes.insert(i, rng.r#gen());
                }
                2 if bytes.len() > 2 => {
                    let i = rng.gen_range(2..bytes.len());
                    bytes.remove(i);
                }
                _ => {
                    let i = rng.gen_range(0..bytes.len());
                    bytes[i] = [0x00, 0x7F, 0x80, 0xFF][rng.gen_range(0..4)];
                }
            }
        }
        check_hostile_record(&bytes).unwrap();
        if bytes.len() > 2 {
            check_hostile_value(&bytes[2..]).unwrap();
        }
    }
}

// --- through the database -----------------------------------------------------------

#[test]
fn generated_records_round_trip_through_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("props.blazedb");
    let options = || {
        Options::default()
            .stamp_fields(false)
            .durability(Durability::Relaxed)
    };
    let db = Database::open(&path, options()).unwrap();
    let stored = std::cell::RefCell::new(Vec::new());
    let mut runner = TestRunner::new(config(32));
    runner
        .run(&any_record(), |r| {
            let r = without_id(&r);
            let id = db.insert("props", r.clone()).unwrap();
            let expected = r.with("id", id);
            let got = db.get("props", id).unwrap();
            prop_assert_eq!(got.as_ref(), Some(&expected));
            prop_assert!(same_record_bits(got.as_ref().unwrap(), &expected));
            stored.borrow_mut().push(expected);
            Ok(())
        })
        .unwrap();
    db.sync().unwrap();
    db.close().unwrap();

    let db = Database::open(&path, options()).unwrap();
    let mut stored = stored.into_inner();
    stored.sort_by_key(|r| r.id());
    let all = db.all("props").unwrap();
    assert_eq!(all.len(), stored.len());
    assert_eq!(all, stored);
    assert!(all.iter().zip(&stored).all(|(a, b)| same_record_bits(a, b)));
    db.close().unwrap();
}
