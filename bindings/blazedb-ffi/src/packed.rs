//! The packed record transport: a transport codec only, no database logic.
//!
//! The `…_packed` read calls return their records as one byte buffer (UniFFI `bytes`, Swift
//! `Data`) instead of a list of `BlazeRecord` maps, because lifting a recursive enum in a
//! map per field is slow in the generated Swift. The layout is little-endian and documented
//! byte by byte in `docs/BINDINGS.md` ("Packed records"):
//!
//! ```text
//! buffer  = version:u8 (=1) shape:u8 (0 = records, 1 = optional records) count:u32 item*count
//! item    = record                 (shape 0)
//!         | 0x00 | 0x01 record     (shape 1: absent / present)
//! record  = fields:u32 (key value)*fields
//! key     = len:u32 utf8*len
//! value   = tag:u8 payload (see TAG_*)
//! ```

use blazedb::{Record, Value};

/// The layout version, the buffer's first byte.
pub const VERSION: u8 = 1;
/// Shape byte: every item is a record.
pub const SHAPE_RECORDS: u8 = 0;
/// Shape byte: every item is a presence byte, then a record if it is 1.
pub const SHAPE_OPTIONAL: u8 = 1;

/// Null: no payload.
pub const TAG_NULL: u8 = 0;
/// String: `len:u32` then UTF-8.
pub const TAG_STRING: u8 = 1;
/// Int: `i64`.
pub const TAG_INT: u8 = 2;
/// Double: the `f64`'s bits as `u64`.
pub const TAG_DOUBLE: u8 = 3;
/// Bool: one byte, 0 or 1.
pub const TAG_BOOL: u8 = 4;
/// Date: Unix seconds `i64` (floor), then nanoseconds `u32` (below one billion).
pub const TAG_DATE: u8 = 5;
/// UUID: its 16 bytes in RFC 4122 order.
pub const TAG_UUID: u8 = 6;
/// Data: `len:u32` then the bytes.
pub const TAG_DATA: u8 = 7;
/// Array: `count:u32` then that many values.
pub const TAG_ARRAY: u8 = 8;
/// Dictionary: `count:u32` then that many key-value pairs (keys as in a record).
pub const TAG_DICTIONARY: u8 = 9;
/// Vector: `count:u32` then that many `f64` bit patterns.
pub const TAG_VECTOR: u8 = 10;

fn header(shape: u8, count: usize, out: &mut Vec<u8>) {
    out.push(VERSION);
    out.push(shape);
    put_len(count, out);
}

/// Lengths and counts are `u32`. Nothing the core stores comes near 4 GiB (its record size
/// limit is far lower), so saturating here would only ever turn an impossible case into a
/// buffer the decoder refuses.
fn put_len(n: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_str(s: &str, out: &mut Vec<u8>) {
    put_len(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

fn put_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.push(TAG_NULL),
        Value::String(s) => {
            out.push(TAG_STRING);
            put_str(s, out);
        }
        Value::Int(i) => {
            out.push(TAG_INT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Double(d) => {
            out.push(TAG_DOUBLE);
            out.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        Value::Bool(b) => {
            out.push(TAG_BOOL);
            out.push(u8::from(*b));
        }
        Value::Date(t) => {
            out.push(TAG_DATE);
            out.extend_from_slice(&t.unix_seconds().to_le_bytes());
            out.extend_from_slice(&t.subsec_nanos().to_le_bytes());
        }
        Value::Uuid(u) => {
            out.push(TAG_UUID);
            out.extend_from_slice(u.as_bytes());
        }
        Value::Data(d) => {
            out.push(TAG_DATA);
            put_len(d.len(), out);
            out.extend_from_slice(d);
        }
        Value::Array(a) => {
            out.push(TAG_ARRAY);
            put_len(a.len(), out);
            for v in a {
                put_value(v, out);
            }
        }
        Value::Dictionary(d) => {
            out.push(TAG_DICTIONARY);
            put_len(d.len(), out);
            for (k, v) in d {
                put_str(k, out);
                put_value(v, out);
            }
        }
        Value::Vector(vs) => {
            out.push(TAG_VECTOR);
            put_len(vs.len(), out);
            for x in vs {
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
        }
    }
}

fn put_record(r: &Record, out: &mut Vec<u8>) {
    put_len(r.len(), out);
    for (k, v) in r.iter() {
        put_str(k, out);
        put_value(v, out);
    }
}

/// Packs a list of records (shape 0).
pub fn records(rs: &[Record]) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + rs.len() * 128);
    header(SHAPE_RECORDS, rs.len(), &mut out);
    for r in rs {
        put_record(r, &mut out);
    }
    out
}

/// Packs a list of optional records (shape 1), as `get_many` returns them.
pub fn optional_records(rs: &[Option<Record>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + rs.len() * 128);
    header(SHAPE_OPTIONAL, rs.len(), &mut out);
    for r in rs {
        match r {
            None => out.push(0),
            Some(r) => {
                out.push(1);
                put_record(r, &mut out);
            }
        }
    }
    out
}

/// Packs one optional record as a shape-1 buffer of one item (`get`).
pub fn optional_record(r: Option<&Record>) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    header(SHAPE_OPTIONAL, 1, &mut out);
    match r {
        None => out.push(0),
        Some(r) => {
            out.push(1);
            put_record(r, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    //! A reference decoder into `BlazeValue`, checked against `value::from_record`.
    use super::*;
    use crate::value::{BlazeRecord, BlazeValue, from_record};
    use blazedb::{Timestamp, Uuid};
    use std::collections::{BTreeMap, HashMap};

    struct Reader<'a> {
        b: &'a [u8],
    }

    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            if self.b.len() < n {
                return None;
            }
            let (h, t) = self.b.split_at(n);
            self.b = t;
            Some(h)
        }
        fn u8(&mut self) -> Option<u8> {
            Some(self.take(1)?[0])
        }
        fn u32(&mut self) -> Option<u32> {
            Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
        }
        fn u64(&mut self) -> Option<u64> {
            Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
        }
        fn str(&mut self) -> Option<String> {
            let n = self.u32()? as usize;
            String::from_utf8(self.take(n)?.to_vec()).ok()
        }
        fn value(&mut self) -> Option<BlazeValue> {
            Some(match self.u8()? {
                TAG_NULL => BlazeValue::Null,
                TAG_STRING => BlazeValue::String { value: self.str()? },
                TAG_INT => BlazeValue::Int {
                    value: self.u64()? as i64,
                },
                TAG_DOUBLE => BlazeValue::Double {
                    value: f64::from_bits(self.u64()?),
                },
                TAG_BOOL => BlazeValue::Bool {
                    value: match self.u8()? {
                        0 => false,
                        1 => true,
                        _ => return None,
                    },
                },
                TAG_DATE => BlazeValue::Date {
                    secs: self.u64()? as i64,
                    nanos: self.u32()?,
                },
                TAG_UUID => BlazeValue::Uuid {
                    value: crate::value::id_string(Uuid::from_slice(self.take(16)?).ok()?),
                },
                TAG_DATA => {
                    let n = self.u32()? as usize;
                    BlazeValue::Data {
                        value: self.take(n)?.to_vec(),
                    }
                }
                TAG_ARRAY => {
                    let n = self.u32()?;
                    let values = (0..n).map(|_| self.value()).collect::<Option<_>>()?;
                    BlazeValue::Array { values }
                }
                TAG_DICTIONARY => {
                    let n = self.u32()?;
                    let mut entries = HashMap::new();
                    for _ in 0..n {
                        let k = self.str()?;
                        entries.insert(k, self.value()?);
                    }
                    BlazeValue::Dictionary { entries }
                }
                TAG_VECTOR => {
                    let n = self.u32()?;
                    let values = (0..n)
                        .map(|_| self.u64().map(f64::from_bits))
                        .collect::<Option<_>>()?;
                    BlazeValue::Vector { values }
                }
                _ => return None,
            })
        }
        fn record(&mut self) -> Option<BlazeRecord> {
            let n = self.u32()?;
            let mut r = HashMap::new();
            for _ in 0..n {
                let k = self.str()?;
                r.insert(k, self.value()?);
            }
            Some(r)
        }
    }

    /// Decodes a whole buffer; `None` if it is malformed or has bytes left over.
    fn decode(b: &[u8]) -> Option<Vec<Option<BlazeRecord>>> {
        let mut rd = Reader { b };
        if rd.u8()? != VERSION {
            return None;
        }
        let shape = rd.u8()?;
        let n = rd.u32()?;
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(match shape {
                SHAPE_RECORDS => Some(rd.record()?),
                SHAPE_OPTIONAL => match rd.u8()? {
                    0 => None,
                    1 => Some(rd.record()?),
                    _ => return None,
                },
                _ => return None,
            });
        }
        rd.b.is_empty().then_some(out)
    }

    /// Doubles compare by bits, so NaN and -0.0 are checked exactly.
    fn same(a: &BlazeValue, b: &BlazeValue) -> bool {
        match (a, b) {
            (BlazeValue::Double { value: x }, BlazeValue::Double { value: y }) => {
                x.to_bits() == y.to_bits()
            }
            (BlazeValue::Vector { values: x }, BlazeValue::Vector { values: y }) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits())
            }
            (BlazeValue::Array { values: x }, BlazeValue::Array { values: y }) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
            }
            (BlazeValue::Dictionary { entries: x }, BlazeValue::Dictionary { entries: y }) => {
                same_record(x, y)
            }
            _ => a == b,
        }
    }

    fn same_record(a: &BlazeRecord, b: &BlazeRecord) -> bool {
        a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
    }

    fn every_kind() -> Record {
        let mut nested = BTreeMap::new();
        nested.insert("ключ".to_string(), Value::Array(vec![Value::Null]));
        nested.insert(
            "deep".to_string(),
            Value::Dictionary(BTreeMap::from([(
                "x".to_string(),
                Value::Array(vec![Value::Int(1), Value::String("ü".into())]),
            )])),
        );
        Record::new()
            .with("id", Value::Uuid(Uuid::new_v4()))
            .with("s", Value::String("héllo 🌍".into()))
            .with("empty", Value::String(String::new()))
            .with("i_min", Value::Int(i64::MIN))
            .with("i_max", Value::Int(i64::MAX))
            .with("d", Value::Double(-0.0))
            .with("nan", Value::Double(f64::NAN))
            .with("inf", Value::Double(f64::NEG_INFINITY))
            .with("t", Value::Bool(true))
            .with("f", Value::Bool(false))
            .with("before1970", Value::Date(Timestamp::new(-1, 999_999_999)))
            .with("far", Value::Date(Timestamp::new(i64::MAX, 0)))
            .with("past", Value::Date(Timestamp::new(i64::MIN, 1)))
            .with("bytes", Value::Data(vec![0, 1, 255]))
            .with("nobytes", Value::Data(vec![]))
            .with(
                "arr",
                Value::Array(vec![Value::Null, Value::Bool(false), Value::Array(vec![])]),
            )
            .with("dict", Value::Dictionary(nested))
            .with("emptydict", Value::Dictionary(BTreeMap::new()))
            .with("vec", Value::Vector(vec![1.5, f64::INFINITY, -0.0]))
            .with("null", Value::Null)
            .with("日本語キー", Value::Int(7))
    }

    #[test]
    fn every_kind_matches_the_blazevalue_conversion() {
        let rs = vec![every_kind(), Record::new(), every_kind()];
        let got = decode(&records(&rs)).expect("decodes");
        assert_eq!(got.len(), 3);
        for (r, g) in rs.into_iter().zip(got) {
            let want = from_record(r);
            assert!(same_record(&want, &g.expect("present")), "{want:?}");
        }
    }

    #[test]
    fn optional_records_keep_their_gaps() {
        let r = every_kind();
        let rs = vec![None, Some(r.clone()), None, Some(Record::new())];
        let got = decode(&optional_records(&rs)).expect("decodes");
        assert_eq!(got.len(), 4);
        assert!(got[0].is_none() && got[2].is_none());
        assert!(same_record(
            &from_record(r.clone()),
            got[1].as_ref().unwrap()
        ));
        assert!(got[3].as_ref().unwrap().is_empty());

        let one = decode(&optional_record(Some(&r))).unwrap();
        assert_eq!(one.len(), 1);
        assert!(same_record(&from_record(r), one[0].as_ref().unwrap()));
        assert_eq!(decode(&optional_record(None)).unwrap(), vec![None]);
    }

    #[test]
    fn empty_lists_and_exact_bytes() {
        assert_eq!(records(&[]), vec![VERSION, SHAPE_RECORDS, 0, 0, 0, 0]);
        assert_eq!(
            optional_records(&[]),
            vec![VERSION, SHAPE_OPTIONAL, 0, 0, 0, 0]
        );
        // One record {"a": Int 1}: header, 1 field, key "a", tag 2, 1 as i64.
        let r = Record::new().with("a", Value::Int(1));
        let mut want = vec![1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, b'a', TAG_INT];
        want.extend_from_slice(&1i64.to_le_bytes());
        assert_eq!(records(&[r]), want);
    }

    #[test]
    fn nesting_to_the_core_limit_round_trips() {
        let mut v = Value::Int(1);
        for i in 0..60 {
            v = if i % 2 == 0 {
                Value::Array(vec![v])
            } else {
                Value::Dictionary(BTreeMap::from([("k".to_string(), v)]))
            };
        }
        let r = Record::new().with("deep", v);
        let got = decode(&records(std::slice::from_ref(&r))).unwrap();
        assert!(same_record(&from_record(r), got[0].as_ref().unwrap()));
    }

    #[test]
    fn truncation_is_detected_by_the_reference_decoder() {
        let b = records(&[every_kind()]);
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_none(), "prefix of {n} bytes decoded");
        }
    }

    fn unpack_all(b: &[u8]) -> Vec<BlazeRecord> {
        decode(b).unwrap().into_iter().map(Option::unwrap).collect()
    }

    fn same_list(a: &[BlazeRecord], b: &[BlazeRecord]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_record(x, y))
    }

    /// The exported `…_packed` calls return exactly what their unpacked twins return, on a
    /// database and in a transaction (which sees its own writes).
    #[test]
    fn exported_packed_calls_match_the_unpacked_ones() {
        use crate::{Database, OpenOptions, QueryFilter, QuerySpec, SortKey};
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(
            dir.path().join("p.blazedb").display().to_string(),
            OpenOptions::default(),
        )
        .unwrap();
        let c = "c".to_string();
        let mut ids = Vec::new();
        for i in 0..20 {
            let mut r = from_record(every_kind());
            r.remove("id");
            r.insert("n".into(), BlazeValue::Int { value: i % 3 });
            ids.push(db.insert(c.clone(), r).unwrap());
        }
        let missing = Uuid::new_v4().to_string();
        let spec = QuerySpec {
            collection: c.clone(),
            filters: vec![QueryFilter::Eq {
                field: "n".into(),
                value: BlazeValue::Int { value: 1 },
            }],
            order_by: vec![SortKey {
                field: "n".into(),
                descending: true,
            }],
            offset: Some(1),
            limit: Some(5),
        };
        let some = vec![ids[3].clone(), missing.clone(), ids[0].clone()];

        let got = decode(&db.get_packed(c.clone(), ids[2].clone()).unwrap()).unwrap();
        assert!(same_record(
            &db.get(c.clone(), ids[2].clone()).unwrap().unwrap(),
            got[0].as_ref().unwrap()
        ));
        assert_eq!(
            decode(&db.get_packed(c.clone(), missing.clone()).unwrap()).unwrap(),
            vec![None]
        );
        let many = decode(&db.get_many_packed(c.clone(), some.clone()).unwrap()).unwrap();
        let want = db.get_many(c.clone(), some.clone()).unwrap();
        assert_eq!(many.len(), 3);
        assert!(many[1].is_none() && want[1].is_none());
        assert!(same_record(
            want[0].as_ref().unwrap(),
            many[0].as_ref().unwrap()
        ));
        assert!(same_list(
            &db.all(c.clone()).unwrap(),
            &unpack_all(&db.all_packed(c.clone()).unwrap())
        ));
        assert!(same_list(
            &db.page(c.clone(), 3, 4).unwrap(),
            &unpack_all(&db.page_packed(c.clone(), 3, 4).unwrap())
        ));
        let q = db.query(spec.clone()).unwrap();
        assert_eq!(q.len(), 5);
        assert!(same_list(
            &q,
            &unpack_all(&db.query_packed(spec.clone()).unwrap())
        ));
        assert!(db.get_packed(c.clone(), "nope".into()).is_err());

        let tx = db.begin().unwrap();
        let mut r = from_record(every_kind());
        r.remove("id");
        r.insert("n".into(), BlazeValue::Int { value: 1 });
        let new = tx.insert(c.clone(), r).unwrap();
        let got = decode(&tx.get_packed(c.clone(), new.clone()).unwrap()).unwrap();
        assert!(same_record(
            &tx.get(c.clone(), new.clone()).unwrap().unwrap(),
            got[0].as_ref().unwrap()
        ));
        let some = vec![new.clone(), missing, ids[1].clone()];
        let many = decode(&tx.get_many_packed(c.clone(), some.clone()).unwrap()).unwrap();
        let want = tx.get_many(c.clone(), some).unwrap();
        assert!(many[1].is_none());
        assert!(same_record(
            want[0].as_ref().unwrap(),
            many[0].as_ref().unwrap()
        ));
        assert!(same_record(
            want[2].as_ref().unwrap(),
            many[2].as_ref().unwrap()
        ));
        let all = unpack_all(&tx.all_packed(c.clone()).unwrap());
        assert_eq!(all.len(), 21);
        assert!(same_list(&tx.all(c.clone()).unwrap(), &all));
        assert!(same_list(
            &tx.page(c.clone(), 10, 20).unwrap(),
            &unpack_all(&tx.page_packed(c.clone(), 10, 20).unwrap())
        ));
        let unbounded = QuerySpec {
            offset: None,
            limit: None,
            ..spec
        };
        let q = tx.query(unbounded.clone()).unwrap();
        assert_eq!(q.len(), 8);
        assert!(same_list(
            &q,
            &unpack_all(&tx.query_packed(unbounded).unwrap())
        ));
        tx.rollback().unwrap();
        assert!(matches!(
            tx.all_packed(c.clone()),
            Err(crate::BlazeError::Closed)
        ));
        db.close_database().unwrap();
        assert!(matches!(db.all_packed(c), Err(crate::BlazeError::Closed)));
    }
}
