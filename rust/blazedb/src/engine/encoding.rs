//! The binary record encoding (format 1). `docs/design.md` specifies it byte by byte.
//!
//! Decoding treats its input as untrusted: every length is checked against the bytes that
//! remain before anything is allocated, nesting is capped, and every failure is a
//! `CorruptedData` error, never a panic.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::error::{Error, Result};
use crate::record::{ID_FIELD, Record};
use crate::value::{Timestamp, Value};

/// The first byte of every stored record body.
pub(crate) const RECORD_FORMAT_V1: u8 = 0x01;
/// Flag bit: the record is soft-deleted (hidden from reads, kept until `purge`).
pub(crate) const FLAG_SOFT_DELETED: u8 = 0x01;
/// Nesting deeper than this is refused on encode and decode, so recursion stays bounded.
pub const MAX_DEPTH: usize = 64;

pub(crate) const TAG_NULL: u8 = 0x00;
pub(crate) const TAG_FALSE: u8 = 0x01;
pub(crate) const TAG_TRUE: u8 = 0x02;
pub(crate) const TAG_INT: u8 = 0x03;
pub(crate) const TAG_DOUBLE: u8 = 0x04;
pub(crate) const TAG_STRING: u8 = 0x05;
pub(crate) const TAG_DATE: u8 = 0x06;
pub(crate) const TAG_UUID: u8 = 0x07;
pub(crate) const TAG_DATA: u8 = 0x08;
pub(crate) const TAG_ARRAY: u8 = 0x09;
pub(crate) const TAG_DICT: u8 = 0x0A;
pub(crate) const TAG_VECTOR: u8 = 0x0B;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Encodes one value. Fails only when nesting exceeds [`MAX_DEPTH`].
pub(crate) fn encode_value(out: &mut Vec<u8>, v: &Value, depth: usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::invalid_input(format!(
            "values nest deeper than {MAX_DEPTH} levels"
        )));
    }
    match v {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Int(i) => {
            out.push(TAG_INT);
            put_varint(out, zigzag(*i));
        }
        Value::Double(d) => {
            out.push(TAG_DOUBLE);
            out.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        Value::String(s) => {
            out.push(TAG_STRING);
            put_bytes(out, s.as_bytes());
        }
        Value::Date(t) => {
            out.push(TAG_DATE);
            put_varint(out, zigzag(t.unix_seconds()));
            put_varint(out, u64::from(t.subsec_nanos()));
        }
        Value::Uuid(u) => {
            out.push(TAG_UUID);
            out.extend_from_slice(u.as_bytes());
        }
        Value::Data(d) => {
            out.push(TAG_DATA);
            put_bytes(out, d);
        }
        Value::Array(a) => {
            out.push(TAG_ARRAY);
            put_varint(out, a.len() as u64);
            for item in a {
                encode_value(out, item, depth + 1)?;
            }
        }
        Value::Dictionary(d) => {
            out.push(TAG_DICT);
            put_varint(out, d.len() as u64);
            for (k, item) in d {
                put_bytes(out, k.as_bytes());
                encode_value(out, item, depth + 1)?;
            }
        }
        Value::Vector(vec) => {
            out.push(TAG_VECTOR);
            put_varint(out, vec.len() as u64);
            for f in vec {
                out.extend_from_slice(&f.to_bits().to_le_bytes());
            }
        }
    }
    Ok(())
}

/// Encodes a record body. The `id` field is left out: the id is the table key, and the
/// decoder puts it back, so the two can never disagree.
pub(crate) fn encode_record(record: &Record, flags: u8) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    encode_record_into(&mut out, record, flags)?;
    Ok(out)
}

/// Appends a record body to `out` (a batch encodes into one buffer). On error `out` may
/// hold a partial body past its original length; callers truncate.
pub(crate) fn encode_record_into(out: &mut Vec<u8>, record: &Record, flags: u8) -> Result<()> {
    out.push(RECORD_FORMAT_V1);
    out.push(flags);
    let count = record.len() - usize::from(record.contains_key(ID_FIELD));
    put_varint(out, count as u64);
    for (k, v) in record.iter() {
        if k == ID_FIELD {
            continue;
        }
        put_bytes(out, k.as_bytes());
        encode_value(out, v, 1)?;
    }
    Ok(())
}

/// Encodes a free-standing value (used by index keys and metadata).
pub(crate) fn encode_standalone(v: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_value(&mut out, v, 0)?;
    Ok(out)
}

/// A cursor over untrusted bytes.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// The bytes from `start` to the current position.
    pub(crate) fn since(&self, start: usize) -> &'a [u8] {
        &self.buf[start..self.pos]
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn err(&self, what: &str) -> Error {
        Error::corrupted(format!("record encoding: {what} at byte {}", self.pos))
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.err("unexpected end"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.err("length runs past the end"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn varint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            if i == 9 && b > 1 {
                return Err(self.err("varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint longer than 10 bytes"))
    }

    /// A count of items each at least `min_item` bytes long; bounded by what remains so a
    /// forged count can never make us allocate more than the input's size.
    pub(crate) fn count(&mut self, min_item: usize) -> Result<usize> {
        let n = self.varint()?;
        let max = (self.remaining() / min_item.max(1)) as u64;
        if n > max {
            return Err(self.err("count larger than the remaining bytes"));
        }
        Ok(n as usize)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.varint()?;
        if n > self.remaining() as u64 {
            return Err(self.err("length runs past the end"));
        }
        self.take(n as usize)
    }

    fn string(&mut self) -> Result<String> {
        self.str().map(str::to_owned)
    }

    /// A length-prefixed UTF-8 string, borrowed from the input.
    pub(crate) fn str(&mut self) -> Result<&'a str> {
        let b = self.bytes()?;
        std::str::from_utf8(b).map_err(|_| self.err("string is not UTF-8"))
    }

    /// Steps over one value, checking it exactly as [`Reader::value`] would (tags, lengths,
    /// counts, UTF-8, date nanoseconds, depth) but allocating nothing. A projected decode
    /// skips the fields it does not need with this, so it fails on exactly the bodies a
    /// full decode fails on.
    pub(crate) fn skip_value(&mut self, depth: usize) -> Result<()> {
        self.check_depth(depth)?;
        match self.u8()? {
            TAG_NULL | TAG_FALSE | TAG_TRUE => {}
            TAG_INT => {
                self.varint()?;
            }
            TAG_DOUBLE => {
                self.take(8)?;
            }
            TAG_STRING => {
                self.str()?;
            }
            TAG_DATE => {
                self.date()?;
            }
            TAG_UUID => {
                self.take(16)?;
            }
            TAG_DATA => {
                self.bytes()?;
            }
            TAG_ARRAY => {
                for _ in 0..self.count(1)? {
                    self.skip_value(depth + 1)?;
                }
            }
            TAG_DICT => {
                for _ in 0..self.count(2)? {
                    self.str()?;
                    self.skip_value(depth + 1)?;
                }
            }
            TAG_VECTOR => {
                let n = self.count(8)?;
                self.take(n * 8)?;
            }
            other => return Err(self.unknown_tag(other)),
        }
        Ok(())
    }

    /// Refuses nesting deeper than [`MAX_DEPTH`].
    pub(crate) fn check_depth(&self, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        Ok(())
    }

    pub(crate) fn unknown_tag(&self, tag: u8) -> Error {
        self.err(&format!("unknown value tag 0x{tag:02x}"))
    }

    /// A date's payload: zigzag seconds, then nanoseconds below one billion.
    pub(crate) fn date(&mut self) -> Result<Timestamp> {
        let secs = unzigzag(self.varint()?);
        let nanos = self.varint()?;
        if nanos >= 1_000_000_000 {
            return Err(self.err("date nanoseconds out of range"));
        }
        Ok(Timestamp::new(secs, nanos as u32))
    }

    /// An int's payload: a zigzag varint.
    pub(crate) fn int(&mut self) -> Result<i64> {
        Ok(unzigzag(self.varint()?))
    }

    /// A uuid's 16 bytes.
    pub(crate) fn uuid(&mut self) -> Result<Uuid> {
        let mut a = [0u8; 16];
        a.copy_from_slice(self.take(16)?);
        Ok(Uuid::from_bytes(a))
    }

    pub(crate) fn f64(&mut self) -> Result<f64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_bits(u64::from_le_bytes(a)))
    }

    pub(crate) fn value(&mut self, depth: usize) -> Result<Value> {
        self.check_depth(depth)?;
        let tag = self.u8()?;
        Ok(match tag {
            TAG_NULL => Value::Null,
            TAG_FALSE => Value::Bool(false),
            TAG_TRUE => Value::Bool(true),
            TAG_INT => Value::Int(self.int()?),
            TAG_DOUBLE => Value::Double(self.f64()?),
            TAG_STRING => Value::String(self.string()?),
            TAG_DATE => Value::Date(self.date()?),
            TAG_UUID => Value::Uuid(self.uuid()?),
            TAG_DATA => Value::Data(self.bytes()?.to_vec()),
            TAG_ARRAY => {
                let n = self.count(1)?;
                let mut a = Vec::with_capacity(n);
                for _ in 0..n {
                    a.push(self.value(depth + 1)?);
                }
                Value::Array(a)
            }
            TAG_DICT => {
                let n = self.count(2)?;
                let mut d = BTreeMap::new();
                for _ in 0..n {
                    let k = self.string()?;
                    let v = self.value(depth + 1)?;
                    d.insert(k, v);
                }
                Value::Dictionary(d)
            }
            TAG_VECTOR => {
                let n = self.count(8)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.f64()?);
                }
                Value::Vector(v)
            }
            other => return Err(self.unknown_tag(other)),
        })
    }
}

/// A decoded record body with its flags.
pub(crate) struct DecodedRecord {
    pub(crate) flags: u8,
    pub(crate) record: Record,
}

/// Reads only the flags byte, for paths (count, exists) that need not decode the fields.
pub(crate) fn record_flags(bytes: &[u8]) -> Result<u8> {
    match bytes {
        [RECORD_FORMAT_V1, flags, ..] => Ok(*flags),
        [v, ..] => Err(Error::corrupted(format!(
            "record encoding: unknown format version {v}"
        ))),
        [] => Err(Error::corrupted("record encoding: empty record")),
    }
}

/// Decodes a stored record body and puts `id` back in.
///
/// Fields are stored in ascending key order, so they are collected into a vector and the
/// map is bulk-built from it (one pass, no per-field tree descent). A body whose keys are
/// not strictly ascending (never written by this encoder, but possible in a hand-made
/// file) is inserted field by field instead, so a repeated key keeps its last value as it
/// always has.
pub(crate) fn decode_record(bytes: &[u8], id: Option<Uuid>) -> Result<DecodedRecord> {
    let flags = record_flags(bytes)?;
    let mut r = Reader::new(&bytes[2..]);
    let n = r.count(2)?;
    let mut fields: Vec<(String, Value)> = Vec::with_capacity(n + usize::from(id.is_some()));
    let mut ascending = true;
    for _ in 0..n {
        let k = r.string()?;
        let v = r.value(1)?;
        if let Some((prev, _)) = fields.last() {
            ascending &= prev.as_str() < k.as_str();
        }
        fields.push((k, v));
    }
    if !r.is_empty() {
        return Err(Error::corrupted("record encoding: trailing bytes"));
    }
    let record = if ascending {
        if let Some(id) = id {
            // `id` is never stored, so putting it at its sorted place keeps the run
            // strictly ascending.
            let at = fields.partition_point(|(k, _)| k.as_str() < ID_FIELD);
            if fields.get(at).is_some_and(|(k, _)| k == ID_FIELD) {
                fields[at].1 = Value::Uuid(id);
            } else {
                fields.insert(at, (ID_FIELD.to_string(), Value::Uuid(id)));
            }
        }
        Record::from(fields.into_iter().collect::<BTreeMap<_, _>>())
    } else {
        let mut record = Record::new();
        for (k, v) in fields {
            record.insert(k, v);
        }
        if let Some(id) = id {
            record.insert(ID_FIELD, Value::Uuid(id));
        }
        record
    };
    Ok(DecodedRecord { flags, record })
}

/// The top-level fields a projected decode keeps (see [`decode_projected`]).
///
/// A dotted path `a.b` needs the top-level field `a.b` (a key with a dot in it wins over
/// the nested reading) and the top-level field `a`; both are kept, so
/// [`Record::get_path`] on the projection returns exactly what it returns on the whole
/// record for every path the projection was built from.
#[derive(Clone, Debug, Default)]
pub(crate) struct Projection {
    keys: Vec<String>,
    wants_id: bool,
}

impl Projection {
    /// The fields `paths` read.
    pub(crate) fn of<'p>(paths: impl IntoIterator<Item = &'p str>) -> Projection {
        let mut p = Projection::default();
        for path in paths {
            p.add(path);
            if let Some((first, _)) = path.split_once('.') {
                p.add(first);
            }
        }
        p
    }

    fn add(&mut self, key: &str) {
        if key == ID_FIELD {
            self.wants_id = true;
        } else if !self.keys.iter().any(|k| k == key) {
            self.keys.push(key.to_string());
        }
    }

    /// How many top-level fields are kept (`id` included).
    pub(crate) fn len(&self) -> usize {
        self.keys.len() + usize::from(self.wants_id)
    }

    fn wants(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k == key)
    }
}

/// Decodes only the fields of `p` from a stored body (plus `id` when `p` reads it),
/// stepping over the rest without allocating. The body is checked exactly as by
/// [`decode_record`]: a body that fails a full decode fails this one too. Used to evaluate
/// filters and aggregations on the fields they read; a filter's matches are then decoded
/// in full.
pub(crate) fn decode_projected(bytes: &[u8], id: Option<Uuid>, p: &Projection) -> Result<Record> {
    record_flags(bytes)?;
    let mut r = Reader::new(&bytes[2..]);
    let n = r.count(2)?;
    let mut record = Record::new();
    for _ in 0..n {
        let k = r.str()?;
        if p.wants(k) {
            let v = r.value(1)?;
            record.insert(k, v);
        } else {
            r.skip_value(1)?;
        }
    }
    if !r.is_empty() {
        return Err(Error::corrupted("record encoding: trailing bytes"));
    }
    if p.wants_id
        && let Some(id) = id
    {
        record.insert(ID_FIELD, Value::Uuid(id));
    }
    Ok(record)
}

/// Decodes a free-standing value written by [`encode_standalone`].
pub(crate) fn decode_standalone(bytes: &[u8]) -> Result<Value> {
    let mut r = Reader::new(bytes);
    let v = r.value(0)?;
    if !r.is_empty() {
        return Err(Error::corrupted("value encoding: trailing bytes"));
    }
    Ok(v)
}

/// Public entry points to the record encoding, for tools, fuzzers and the tests.
pub mod codec {
    use super::*;

    /// Encodes a record exactly as it is stored (without its `id`).
    pub fn encode(record: &Record) -> Result<Vec<u8>> {
        encode_record(record, 0)
    }

    /// Decodes bytes as a stored record body. Untrusted input is fine: every failure is
    /// `CorruptedData`.
    pub fn decode(bytes: &[u8]) -> Result<Record> {
        decode_record(bytes, None).map(|d| d.record)
    }

    /// Views bytes as a stored record body with this id, without decoding it (see
    /// [`crate::RecordView`]); untrusted input is fine, as for [`decode`].
    pub fn view(bytes: &[u8], id: Uuid) -> Result<crate::RecordView<'_>> {
        crate::RecordView::new(bytes, id)
    }

    /// Encodes one value on its own.
    pub fn encode_value(v: &Value) -> Result<Vec<u8>> {
        encode_standalone(v)
    }

    /// Decodes one value written by [`encode_value`]; untrusted input is fine.
    pub fn decode_value(bytes: &[u8]) -> Result<Value> {
        decode_standalone(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        let nested: BTreeMap<String, Value> = [
            ("city".to_string(), Value::String("Oslo".into())),
            ("zip".to_string(), Value::Int(150)),
        ]
        .into_iter()
        .collect();
        Record::new()
            .with("a", 1)
            .with("a.b", "dotted")
            .with("address", Value::Dictionary(nested))
            .with("tags", Value::Array(vec!["x".into(), "y".into()]))
            .with("when", Value::Date(Timestamp::new(5, 7)))
            .with("v", Value::Vector(vec![1.0, 2.0]))
            .with("blob", Value::Data(vec![0, 1, 2]))
            .with("u", Value::Uuid(Uuid::from_u128(9)))
            .with("n", Value::Null)
            .with("f", 2.5)
            .with("t", true)
    }

    #[test]
    fn a_projection_answers_every_path_it_was_built_from_as_the_whole_record_does() {
        let id = Uuid::from_u128(42);
        let bytes = encode_record(&sample(), 0).unwrap();
        let full = decode_record(&bytes, Some(id)).unwrap().record;
        let paths = [
            "a",
            "a.b",
            "address.city",
            "address.zip",
            "address",
            "tags.1",
            "tags.9",
            "when",
            "v",
            "blob",
            "u",
            "n",
            "f",
            "t",
            "id",
            "missing",
            "missing.deeper",
            "a.b.c",
        ];
        for p in paths {
            let proj = decode_projected(&bytes, Some(id), &Projection::of([p])).unwrap();
            assert_eq!(proj.get_path(p), full.get_path(p), "{p}");
        }
        let all = decode_projected(&bytes, Some(id), &Projection::of(paths)).unwrap();
        assert_eq!(all, full);
        let none = decode_projected(&bytes, Some(id), &Projection::of([])).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn a_projected_decode_fails_exactly_where_a_full_decode_fails() {
        let bytes = encode_record(&sample(), 0).unwrap();
        let empty = Projection::of([]);
        // Every truncation and every single-byte change: both decoders agree on success.
        for cut in 0..bytes.len() {
            let b = &bytes[..cut];
            assert_eq!(
                decode_record(b, None).is_ok(),
                decode_projected(b, None, &empty).is_ok(),
                "cut at {cut}"
            );
        }
        for at in 0..bytes.len() {
            for x in [0x00, 0x01, 0x05, 0x09, 0x0A, 0x0C, 0x7F, 0x80, 0xC3, 0xFF] {
                let mut b = bytes.clone();
                b[at] = x;
                assert_eq!(
                    decode_record(&b, None).is_ok(),
                    decode_projected(&b, None, &empty).is_ok(),
                    "byte {at} set to {x:#04x}"
                );
            }
        }
    }

    #[test]
    fn bulk_built_records_equal_field_by_field_inserts() {
        let r = sample();
        let bytes = encode_record(&r, 0).unwrap();
        let id = Uuid::from_u128(3);
        let mut want = r.clone();
        want.insert(ID_FIELD, Value::Uuid(id));
        assert_eq!(decode_record(&bytes, Some(id)).unwrap().record, want);
        assert_eq!(decode_record(&bytes, None).unwrap().record, r);
    }
}
