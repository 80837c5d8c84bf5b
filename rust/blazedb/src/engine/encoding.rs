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

const TAG_NULL: u8 = 0x00;
const TAG_FALSE: u8 = 0x01;
const TAG_TRUE: u8 = 0x02;
const TAG_INT: u8 = 0x03;
const TAG_DOUBLE: u8 = 0x04;
const TAG_STRING: u8 = 0x05;
const TAG_DATE: u8 = 0x06;
const TAG_UUID: u8 = 0x07;
const TAG_DATA: u8 = 0x08;
const TAG_ARRAY: u8 = 0x09;
const TAG_DICT: u8 = 0x0A;
const TAG_VECTOR: u8 = 0x0B;

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
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
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

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
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
    fn count(&mut self, min_item: usize) -> Result<usize> {
        let n = self.varint()?;
        let max = (self.remaining() / min_item.max(1)) as u64;
        if n > max {
            return Err(self.err("count larger than the remaining bytes"));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.varint()?;
        if n > self.remaining() as u64 {
            return Err(self.err("length runs past the end"));
        }
        self.take(n as usize)
    }

    fn string(&mut self) -> Result<String> {
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| self.err("string is not UTF-8"))
    }

    fn f64(&mut self) -> Result<f64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_bits(u64::from_le_bytes(a)))
    }

    pub(crate) fn value(&mut self, depth: usize) -> Result<Value> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        let tag = self.u8()?;
        Ok(match tag {
            TAG_NULL => Value::Null,
            TAG_FALSE => Value::Bool(false),
            TAG_TRUE => Value::Bool(true),
            TAG_INT => Value::Int(unzigzag(self.varint()?)),
            TAG_DOUBLE => Value::Double(self.f64()?),
            TAG_STRING => Value::String(self.string()?),
            TAG_DATE => {
                let secs = unzigzag(self.varint()?);
                let nanos = self.varint()?;
                if nanos >= 1_000_000_000 {
                    return Err(self.err("date nanoseconds out of range"));
                }
                Value::Date(Timestamp::new(secs, nanos as u32))
            }
            TAG_UUID => {
                let b = self.take(16)?;
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                Value::Uuid(Uuid::from_bytes(a))
            }
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
            other => return Err(self.err(&format!("unknown value tag 0x{other:02x}"))),
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
pub(crate) fn decode_record(bytes: &[u8], id: Option<Uuid>) -> Result<DecodedRecord> {
    let flags = record_flags(bytes)?;
    let mut r = Reader::new(&bytes[2..]);
    let n = r.count(2)?;
    let mut record = Record::new();
    for _ in 0..n {
        let k = r.string()?;
        let v = r.value(1)?;
        record.insert(k, v);
    }
    if !r.is_empty() {
        return Err(Error::corrupted("record encoding: trailing bytes"));
    }
    if let Some(id) = id {
        record.insert(ID_FIELD, Value::Uuid(id));
    }
    Ok(DecodedRecord { flags, record })
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

    /// Encodes one value on its own.
    pub fn encode_value(v: &Value) -> Result<Vec<u8>> {
        encode_standalone(v)
    }

    /// Decodes one value written by [`encode_value`]; untrusted input is fine.
    pub fn decode_value(bytes: &[u8]) -> Result<Value> {
        decode_standalone(bytes)
    }
}
