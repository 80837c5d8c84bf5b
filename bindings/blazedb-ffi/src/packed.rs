//! The packed record transport: a transport codec only, no database logic.
//!
//! The `…_packed` read calls return their records as one byte buffer (UniFFI `bytes`, Swift
//! `Data`) instead of a list of `BlazeRecord` maps, because lifting a recursive enum in a
//! map per field is slow in the generated Swift. The layout is little-endian and documented
//! byte by byte in `docs/BINDINGS.md` ("Packed records"):
//!
//! ```text
//! buffer  = version:u8 (=2) shape:u8 (0 = records, 1 = optional records) count:u32
//!           keys:u32 key*keys  lists:u32 list*lists  item*count
//! key     = len:u32 utf8*len                 (every distinct field name, once)
//! list    = fields:u32 key_index:u32*fields  (a distinct field-name list, in order)
//! item    = record                           (shape 0)
//!         | 0x00 | 0x01 record               (shape 1: absent / present)
//! record  = list_index:u32 value*fields(list)
//! value   = tag:u8 payload (see TAG_*; a dictionary's payload is a record)
//! ```
//!
//! Version 2 names each field once per buffer instead of once per record: the records of a
//! collection share a few field-name lists, so the decoder builds each key string, and each
//! record's hash table layout, once per list and then only fills in values. (Version 1,
//! with the keys inline in every record, spent most of Swift's decoding time creating and
//! hashing the same key strings again for every record.)

use std::collections::{BTreeMap, HashMap};

use blazedb::{Record, RecordView, Value, ValueView};

/// The layout version, the buffer's first byte.
pub const VERSION: u8 = 2;
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
/// Dictionary: a record (`list_index:u32`, then one value per name of that list).
pub const TAG_DICTIONARY: u8 = 9;
/// Vector: `count:u32` then that many `f64` bit patterns.
pub const TAG_VECTOR: u8 = 10;

/// Encodes every value kind except the containers (arrays and dictionaries, whose layouts
/// differ between the read and the write layout: the caller encodes them) and returns
/// `true`; returns `false`, writing nothing, for a container. The read and the write
/// layout share these encodings byte for byte.
fn put_scalar(v: &Value, out: &mut Vec<u8>) -> bool {
    match v {
        Value::Null => out.push(TAG_NULL),
        Value::String(s) => put_string(s, out),
        Value::Int(i) => {
            out.push(TAG_INT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Double(d) => {
            out.push(TAG_DOUBLE);
            out.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        Value::Bool(b) => out.extend_from_slice(&[TAG_BOOL, u8::from(*b)]),
        Value::Date(t) => {
            out.push(TAG_DATE);
            out.extend_from_slice(&t.unix_seconds().to_le_bytes());
            out.extend_from_slice(&t.subsec_nanos().to_le_bytes());
        }
        Value::Uuid(u) => {
            out.push(TAG_UUID);
            out.extend_from_slice(u.as_bytes());
        }
        Value::Data(d) => put_data(d, out),
        Value::Vector(vs) => put_vector(vs.len(), vs.iter().copied(), out),
        Value::Array(_) | Value::Dictionary(_) => return false,
    }
    true
}

/// Lengths, counts and indexes are `u32`. Nothing the core stores comes near 4 GiB (its
/// record size limit is far lower), so saturating here would only ever turn an impossible
/// case into a buffer the decoder refuses.
fn put_len(n: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

/// Strings, data and vectors, shared by the value packer and the view packer (their
/// payloads are borrowed in a view).
fn put_string(s: &str, out: &mut Vec<u8>) {
    out.push(TAG_STRING);
    put_str(s, out);
}

fn put_data(d: &[u8], out: &mut Vec<u8>) {
    out.push(TAG_DATA);
    put_len(d.len(), out);
    out.extend_from_slice(d);
}

fn put_vector(len: usize, xs: impl Iterator<Item = f64>, out: &mut Vec<u8>) {
    out.push(TAG_VECTOR);
    put_len(len, out);
    for x in xs {
        out.extend_from_slice(&x.to_bits().to_le_bytes());
    }
}

fn put_str(s: &str, out: &mut Vec<u8>) {
    put_len(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

/// A packed buffer crossing the FFI as UniFFI `bytes` (Swift `Data`) with no per-byte work:
/// what the `…_packed` calls return, and the packed ids and records they take.
///
/// UniFFI serializes a `Vec<u8>` as an `i32` length and then the bytes, one `put_u8` call
/// per byte into a new buffer (and lifts one back byte by byte, checking the length each
/// time); for the §4 workload's 2,000-record `get_many` that loop cost as much as packing
/// the records. A `Packed` keeps that 4-byte length in front of its bytes, so its vector
/// *is* the serialized form: it is handed over as the `RustBuffer` itself, and taken over
/// from one after checking the length. Its metadata is `Vec<u8>`'s, so the generated
/// bindings are unchanged. Derefs to the bytes without the length.
pub struct Packed(Vec<u8>);

impl Packed {
    /// Takes over a serialized `bytes` value (length, then the bytes), checking the length.
    fn from_serialized(v: Vec<u8>) -> uniffi::Result<Self> {
        let Some(head) = v.first_chunk::<4>() else {
            uniffi::deps::anyhow::bail!("bytes value shorter than its length");
        };
        let n = i32::from_be_bytes(*head);
        if usize::try_from(n).ok() != Some(v.len() - 4) {
            uniffi::deps::anyhow::bail!("bytes length {n} for {} bytes", v.len() - 4);
        }
        Ok(Packed(v))
    }
}

impl From<Vec<u8>> for Packed {
    /// Copies `bytes` behind a length prefix (Rust callers and tests; the FFI never copies).
    fn from(bytes: Vec<u8>) -> Self {
        let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
        let mut v = Vec::with_capacity(4 + bytes.len());
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(&bytes);
        Packed(v)
    }
}

impl std::ops::Deref for Packed {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0[4..]
    }
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Packed({} bytes)", self.len())
    }
}

// SAFETY: `lower` hands UniFFI a vector this side owns, as every `RustBuffer` lowering does;
// `lower` and `write` both produce exactly the bytes `Vec<u8>`'s own lowering would: its
// length as a big-endian `i32` (UniFFI's `put_i32`, read back by the bindings' `readInt`),
// then the bytes, because every `Packed` starts with that prefix (`Encoder::finish`,
// `From<Vec<u8>>`, or checked by `from_serialized`).
unsafe impl<UT> uniffi::Lower<UT> for Packed {
    type FfiType = uniffi::RustBuffer;

    fn lower(obj: Self) -> uniffi::RustBuffer {
        uniffi::RustBuffer::from_vec(obj.0)
    }

    fn write(obj: Self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&obj.0);
    }
}

// SAFETY: `try_lift` takes the `RustBuffer` the bindings allocated for this call (as
// `Vec<u8>`'s lifting does) and reads exactly what `Vec<u8>`'s lifting would, refusing a
// length that does not match the buffer.
unsafe impl<UT> uniffi::Lift<UT> for Packed {
    type FfiType = uniffi::RustBuffer;

    fn try_lift(buf: uniffi::RustBuffer) -> uniffi::Result<Self> {
        Packed::from_serialized(buf.destroy_into_vec())
    }

    fn try_read(buf: &mut &[u8]) -> uniffi::Result<Self> {
        let Some(head) = buf.first_chunk::<4>() else {
            uniffi::deps::anyhow::bail!("bytes value shorter than its length");
        };
        let n = usize::try_from(i32::from_be_bytes(*head))?;
        if buf.len() - 4 < n {
            uniffi::deps::anyhow::bail!("bytes length {n} past the end");
        }
        let (v, rest) = buf.split_at(4 + n);
        *buf = rest;
        Ok(Packed(v.to_vec()))
    }
}

uniffi::derive_ffi_traits!(impl<UT> LowerReturn<UT> for Packed);
uniffi::derive_ffi_traits!(impl<UT> LiftRef<UT> for Packed);

impl<UT> uniffi::TypeId<UT> for Packed {
    const TYPE_ID_META: uniffi::MetadataBuffer = <Vec<u8> as uniffi::TypeId<UT>>::TYPE_ID_META;
}

/// The buffer being built: the key and list tables, which go first in the buffer but are
/// only known once every record has been seen, and the items.
///
/// Keys are owned: records packed from [`RecordView`]s borrow their names from a page that
/// is gone by the time the tables are written. There are only a few distinct names, so
/// that costs one string per name per buffer.
struct Encoder {
    /// Index of each distinct key (empty while there are few: see [`LINEAR`]), and the keys
    /// in index order.
    key_index: HashMap<String, u32>,
    keys: Vec<String>,
    /// Index of each distinct field-name list (as key indexes; empty while there are few),
    /// and the lists in order.
    list_index: HashMap<Vec<u32>, u32>,
    lists: Vec<Vec<u32>>,
    /// The list the previous record or dictionary used: records of one collection almost
    /// always repeat it, and comparing names is cheaper than hashing them.
    last: Option<u32>,
    scratch: Vec<u32>,
    items: Vec<u8>,
}

impl Encoder {
    fn new(capacity: usize) -> Self {
        Encoder {
            key_index: HashMap::new(),
            keys: Vec::new(),
            list_index: HashMap::new(),
            lists: Vec::new(),
            last: None,
            scratch: Vec::new(),
            items: Vec::with_capacity(capacity),
        }
    }

    /// The index of the list of the `len` field names `names()` yields (in order), added if
    /// new. `names` is called twice at most (to compare, then to intern), so no record or
    /// dictionary collects its names first.
    fn list<'n, I>(&mut self, len: usize, names: impl Fn() -> I) -> u32
    where
        I: Iterator<Item = &'n str>,
    {
        if let Some(l) = self.last {
            let list = &self.lists[l as usize];
            if list.len() == len
                && list
                    .iter()
                    .zip(names())
                    .all(|(&k, name)| self.keys[k as usize] == name)
            {
                return l;
            }
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        for name in names() {
            scratch.push(self.key(name));
        }
        let l = match lookup(&self.lists, &self.list_index, scratch.as_slice()) {
            Some(l) => l,
            None => add(
                &mut self.lists,
                &mut self.list_index,
                scratch.as_slice(),
                |s| s.to_vec(),
            ),
        };
        self.scratch = scratch;
        self.last = Some(l);
        l
    }

    /// The index of a field name, added if new.
    fn key(&mut self, name: &str) -> u32 {
        match lookup(&self.keys, &self.key_index, name) {
            Some(k) => k,
            None => add(&mut self.keys, &mut self.key_index, name, str::to_owned),
        }
    }

    fn record(&mut self, r: &Record) {
        let l = self.list(r.len(), || r.iter().map(|(k, _)| k.as_str()));
        self.items.extend_from_slice(&l.to_le_bytes());
        for (_, v) in r.iter() {
            self.value(v);
        }
    }

    fn value(&mut self, v: &Value) {
        if put_scalar(v, &mut self.items) {
            return;
        }
        match v {
            Value::Array(a) => {
                self.items.push(TAG_ARRAY);
                put_len(a.len(), &mut self.items);
                for v in a {
                    self.value(v);
                }
            }
            Value::Dictionary(d) => {
                self.items.push(TAG_DICTIONARY);
                let l = self.list(d.len(), || d.keys().map(String::as_str));
                self.items.extend_from_slice(&l.to_le_bytes());
                for v in d.values() {
                    self.value(v);
                }
            }
            _ => {}
        }
    }

    /// Packs a stored record straight from its bytes, with the bytes packing the decoded
    /// record gives. The view iterates as the record does when its keys are strictly
    /// ascending at every level, which holds for every body the core writes; a hand-made
    /// body that breaks it is packed from its decoded record instead (the lists interned on
    /// the way stay in the table, unused, which the layout allows).
    fn view(&mut self, r: &RecordView<'_>) -> blazedb::Result<()> {
        let start = self.items.len();
        let mut fields = Vec::with_capacity(r.stored_fields() + 1);
        for f in r.fields() {
            fields.push(f?);
        }
        if !self.fields(&fields)? {
            self.items.truncate(start);
            self.record(&r.to_record()?);
        }
        Ok(())
    }

    /// A record's or dictionary's list index and values, from its `(name, value)` views;
    /// `false` (with a partial write) if some keys are not strictly ascending. The list is
    /// interned before the values are written, as [`Encoder::record`] does, so that nested
    /// dictionaries get the same list numbers and the bytes come out the same.
    fn fields(&mut self, fields: &[(&str, ValueView<'_>)]) -> blazedb::Result<bool> {
        if !fields.windows(2).all(|w| w[0].0 < w[1].0) {
            return Ok(false);
        }
        let l = self.list(fields.len(), || fields.iter().map(|(k, _)| *k));
        self.items.extend_from_slice(&l.to_le_bytes());
        for (_, v) in fields {
            if !self.value_view(v)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One value; `false` as for [`Encoder::fields`].
    fn value_view(&mut self, v: &ValueView<'_>) -> blazedb::Result<bool> {
        let out = &mut self.items;
        match *v {
            // The plain values cost nothing to rebuild, and then share `put_scalar`.
            ValueView::Null => {
                put_scalar(&Value::Null, out);
            }
            ValueView::Int(i) => {
                put_scalar(&Value::Int(i), out);
            }
            ValueView::Double(d) => {
                put_scalar(&Value::Double(d), out);
            }
            ValueView::Bool(b) => {
                put_scalar(&Value::Bool(b), out);
            }
            ValueView::Date(t) => {
                put_scalar(&Value::Date(t), out);
            }
            ValueView::Uuid(u) => {
                put_scalar(&Value::Uuid(u), out);
            }
            ValueView::String(s) => put_string(s, out),
            ValueView::Data(d) => put_data(d, out),
            ValueView::Vector(vs) => put_vector(vs.len(), vs.iter(), out),
            ValueView::Array(a) => {
                out.push(TAG_ARRAY);
                put_len(a.len(), out);
                for item in a.iter() {
                    if !self.value_view(&item?)? {
                        return Ok(false);
                    }
                }
            }
            ValueView::Dictionary(d) => {
                out.push(TAG_DICTIONARY);
                let entries = d.iter().collect::<blazedb::Result<Vec<_>>>()?;
                return self.fields(&entries);
            }
        }
        Ok(true)
    }

    /// The whole buffer: UniFFI's length prefix (see [`Packed`]), then the header, the key
    /// table, the list table and the items.
    fn finish(self, shape: u8, count: usize) -> Packed {
        let tables: usize = self.keys.iter().map(|k| 4 + k.len()).sum::<usize>()
            + self.lists.iter().map(|l| 4 + 4 * l.len()).sum::<usize>();
        let mut out = Vec::with_capacity(4 + 14 + tables + self.items.len());
        out.extend_from_slice(&[0; 4]);
        out.push(VERSION);
        out.push(shape);
        put_len(count, &mut out);
        put_len(self.keys.len(), &mut out);
        for k in &self.keys {
            put_str(k, &mut out);
        }
        put_len(self.lists.len(), &mut out);
        for l in &self.lists {
            put_len(l.len(), &mut out);
            for k in l {
                out.extend_from_slice(&k.to_le_bytes());
            }
        }
        out.extend_from_slice(&self.items);
        // Past i32::MAX (never: the core's record size limit is far lower) the length
        // saturates and the bindings refuse the buffer as too short instead of misreading it.
        let len = i32::try_from(out.len() - 4).unwrap_or(i32::MAX);
        out[..4].copy_from_slice(&len.to_be_bytes());
        Packed(out)
    }
}

/// Tables up to this size are searched linearly and have no hash index: most buffers name
/// a handful of fields in one or two lists, and for a single record (a `get`) building hash
/// maps cost more than the rest of the packing.
const LINEAR: usize = 16;

/// Where `item` is in `table`: by linear search while `index` is empty (small tables), else
/// through `index`, which then covers the whole table.
fn lookup<T, Q>(table: &[T], index: &HashMap<T, u32>, item: &Q) -> Option<u32>
where
    T: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    if index.is_empty() {
        let i = table.iter().position(|t| t.borrow() == item)?;
        u32::try_from(i).ok()
    } else {
        index.get(item).copied()
    }
}

/// Appends `item` to `table` and returns its position, keeping `index` empty while the
/// table is small and complete once it is not.
fn add<T, Q>(
    table: &mut Vec<T>,
    index: &mut HashMap<T, u32>,
    item: &Q,
    own: impl Fn(&Q) -> T,
) -> u32
where
    T: std::hash::Hash + Eq + Clone,
    Q: ?Sized,
{
    let at = u32::try_from(table.len()).unwrap_or(u32::MAX);
    table.push(own(item));
    if !index.is_empty() {
        index.insert(own(item), at);
    } else if table.len() > LINEAR {
        *index = table.iter().cloned().zip(0..).collect();
    }
    at
}

/// Packs a list of records (shape 0).
pub fn records(rs: &[Record]) -> Packed {
    let mut e = Encoder::new(rs.len() * 256);
    for r in rs {
        e.record(r);
    }
    e.finish(SHAPE_RECORDS, rs.len())
}

/// Packs a list of optional records (shape 1), as `get_many` returns them: the reference
/// the view packer ([`optional_views`]) must match byte for byte.
#[cfg(test)]
pub fn optional_records(rs: &[Option<Record>]) -> Packed {
    let mut e = Encoder::new(rs.len() * 256);
    for r in rs {
        match r {
            None => e.items.push(0),
            Some(r) => {
                e.items.push(1);
                e.record(r);
            }
        }
    }
    e.finish(SHAPE_OPTIONAL, rs.len())
}

/// Packs one optional record as a shape-1 buffer of one item (`get`), the reference for
/// the view packer.
#[cfg(test)]
pub fn optional_record(r: Option<&Record>) -> Packed {
    let mut e = Encoder::new(128);
    match r {
        None => e.items.push(0),
        Some(r) => {
            e.items.push(1);
            e.record(r);
        }
    }
    e.finish(SHAPE_OPTIONAL, 1)
}

/// Builds a shape-1 buffer from stored records seen in place: `walk` is given a sink to
/// call once per item, in order, with the record's view or `None` (the core's
/// `get_many_with` is such a walk). The bytes are those [`optional_records`] makes from
/// the decoded records, without decoding them.
pub fn optional_views(
    capacity: usize,
    walk: impl FnOnce(
        &mut dyn FnMut(Option<RecordView<'_>>) -> blazedb::Result<()>,
    ) -> blazedb::Result<()>,
) -> blazedb::Result<Packed> {
    let mut e = Encoder::new(capacity * 256);
    let mut count = 0usize;
    walk(&mut |v| {
        count += 1;
        match v {
            None => e.items.push(0),
            Some(v) => {
                e.items.push(1);
                e.view(&v)?;
            }
        }
        Ok(())
    })?;
    Ok(e.finish(SHAPE_OPTIONAL, count))
}

/// Builds a shape-0 buffer from stored records seen in place (the core's `page_with`):
/// the bytes [`records`] makes from the decoded records.
pub fn views(
    walk: impl FnOnce(&mut dyn FnMut(RecordView<'_>) -> blazedb::Result<()>) -> blazedb::Result<()>,
) -> blazedb::Result<Packed> {
    let mut e = Encoder::new(4096);
    let mut count = 0usize;
    walk(&mut |v| {
        count += 1;
        e.view(&v)
    })?;
    Ok(e.finish(SHAPE_RECORDS, count))
}

/// Ids packed as 16 bytes each (RFC 4122 order, `uuid_t` in Swift), as `get_many_packed`
/// takes them: no text to format on one side and parse on the other.
pub fn ids(bytes: &[u8]) -> Result<Vec<blazedb::Uuid>, crate::BlazeError> {
    if !bytes.len().is_multiple_of(16) {
        return Err(crate::BlazeError::InvalidInput {
            reason: format!(
                "packed ids must be 16 bytes each; got {} bytes",
                bytes.len()
            ),
        });
    }
    Ok(bytes
        .chunks_exact(16)
        .map(|b| blazedb::Uuid::from_bytes(b.try_into().unwrap_or([0; 16])))
        .collect())
}

/// The layout version of the buffers `insert_many_packed` takes: records with their keys
/// inline (`record = fields:u32 (key value)*fields`, `key = len:u32 utf8*len`, and a
/// dictionary's payload the same), header `version:u8 (=1) shape:u8 (=0) count:u32`, values
/// as above. Writes keep the keys inline because a key table would make the Swift encoder
/// hash every key to share it, and this side allocates every key as a `String` anyway.
pub const WRITE_VERSION: u8 = 1;

/// Nesting the write decoder follows before refusing (the core itself refuses more than
/// 64 levels when it encodes); a bound, so recursion cannot exhaust the stack.
const WRITE_MAX_DEPTH: usize = 256;

/// Decodes an `insert_many_packed` buffer (see [`WRITE_VERSION`]) into records. Untrusted
/// input: every length and count is checked against the bytes left before anything is
/// allocated, and anything malformed is `InvalidInput` (a date's nanoseconds out of range
/// are `InvalidField`, as in the `BlazeValue` conversion), never a panic.
pub fn decode_write(bytes: &[u8]) -> Result<Vec<Record>, crate::BlazeError> {
    let mut r = WriteReader { b: bytes, pos: 0 };
    let v = r.u8()?;
    if v != WRITE_VERSION {
        return Err(r.bad(format!("unknown layout version {v}")));
    }
    let shape = r.u8()?;
    if shape != SHAPE_RECORDS {
        return Err(r.bad(format!("shape {shape}, expected {SHAPE_RECORDS}")));
    }
    let n = r.count(4)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(r.record()?);
    }
    if r.pos != bytes.len() {
        return Err(r.bad(format!("{} trailing bytes", bytes.len() - r.pos)));
    }
    Ok(out)
}

struct WriteReader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> WriteReader<'a> {
    fn bad(&self, reason: String) -> crate::BlazeError {
        crate::BlazeError::InvalidInput {
            reason: format!(
                "packed records: {reason} at byte {} of {}",
                self.pos,
                self.b.len()
            ),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], crate::BlazeError> {
        let left = self.b.len() - self.pos;
        if n > left {
            return Err(self.bad(format!("{n} bytes needed, {left} left")));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], crate::BlazeError> {
        let s = self.take(N)?;
        let mut a = [0; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, crate::BlazeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, crate::BlazeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, crate::BlazeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A count of items of at least `min_size` bytes each, checked against the bytes left
    /// so that a bad count cannot make a huge allocation.
    fn count(&mut self, min_size: usize) -> Result<usize, crate::BlazeError> {
        let n = self.u32()? as usize;
        let left = self.b.len() - self.pos;
        if n > left / min_size {
            return Err(self.bad(format!("count {n} exceeds the {left} bytes left")));
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, crate::BlazeError> {
        let n = self.u32()? as usize;
        let s = self.take(n)?;
        match std::str::from_utf8(s) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => {
                self.pos -= n;
                Err(self.bad("text that is not UTF-8".into()))
            }
        }
    }

    /// `count` then key-value pairs: a record's fields or a dictionary's entries. `path` is
    /// the dotted name of the dictionary ("" for a record), for errors only.
    fn fields(
        &mut self,
        path: &str,
        depth: usize,
    ) -> Result<BTreeMap<String, Value>, crate::BlazeError> {
        let n = self.count(5)?;
        let mut out = BTreeMap::new();
        for _ in 0..n {
            let k = self.string()?;
            let v = self.value(path, &k, depth)?;
            if out.contains_key(&k) {
                return Err(self.bad(format!("key {:?} twice", field_name(path, &k))));
            }
            out.insert(k, v);
        }
        Ok(out)
    }

    fn record(&mut self) -> Result<Record, crate::BlazeError> {
        Ok(Record::from(self.fields("", 0)?))
    }

    /// The value of field `key` of the dictionary at `path` (or of an array element there).
    fn value(&mut self, path: &str, key: &str, depth: usize) -> Result<Value, crate::BlazeError> {
        let tag = self.u8()?;
        Ok(match tag {
            TAG_NULL => Value::Null,
            TAG_STRING => Value::String(self.string()?),
            TAG_INT => Value::Int(self.u64()? as i64),
            TAG_DOUBLE => Value::Double(f64::from_bits(self.u64()?)),
            TAG_BOOL => match self.u8()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(self.bad(format!("bool byte {b}"))),
            },
            TAG_DATE => {
                let secs = self.u64()? as i64;
                let nanos = self.u32()?;
                if nanos >= 1_000_000_000 {
                    return Err(crate::BlazeError::InvalidField {
                        field: field_name(path, key),
                        reason: format!("date nanoseconds {nanos} are not below one billion"),
                    });
                }
                Value::Date(blazedb::Timestamp::new(secs, nanos))
            }
            TAG_UUID => Value::Uuid(blazedb::Uuid::from_bytes(self.array()?)),
            TAG_DATA => {
                let n = self.u32()? as usize;
                Value::Data(self.take(n)?.to_vec())
            }
            TAG_ARRAY | TAG_DICTIONARY if depth >= WRITE_MAX_DEPTH => {
                return Err(self.bad("values nest too deep".into()));
            }
            TAG_ARRAY => {
                let n = self.count(1)?;
                let mut a = Vec::with_capacity(n);
                for _ in 0..n {
                    a.push(self.value(path, key, depth + 1)?);
                }
                Value::Array(a)
            }
            TAG_DICTIONARY => Value::Dictionary(self.fields(&field_name(path, key), depth + 1)?),
            TAG_VECTOR => {
                let n = self.count(8)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(f64::from_bits(self.u64()?));
                }
                Value::Vector(v)
            }
            _ => return Err(self.bad(format!("unknown value tag {tag}"))),
        })
    }
}

/// `key` under the dotted `path` ("" at the top), as the `BlazeValue` conversion names fields.
fn field_name(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Ids as 16 bytes each, the form [`ids`] reads (`insert_many_packed`'s answer).
pub fn pack_ids(ids: &[blazedb::Uuid]) -> Packed {
    let n = i32::try_from(ids.len() * 16).unwrap_or(i32::MAX);
    let mut v = Vec::with_capacity(4 + ids.len() * 16);
    v.extend_from_slice(&n.to_be_bytes());
    for id in ids {
        v.extend_from_slice(id.as_bytes());
    }
    Packed(v)
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
        keys: Vec<String>,
        lists: Vec<Vec<usize>>,
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
        /// The key table and the list table; every list names distinct, known keys.
        fn tables(&mut self) -> Option<()> {
            let nk = self.u32()?;
            for _ in 0..nk {
                let k = self.str()?;
                if self.keys.contains(&k) {
                    return None;
                }
                self.keys.push(k);
            }
            let nl = self.u32()?;
            for _ in 0..nl {
                let n = self.u32()?;
                let mut l = Vec::new();
                for _ in 0..n {
                    let k = self.u32()? as usize;
                    if k >= self.keys.len() || l.contains(&k) {
                        return None;
                    }
                    l.push(k);
                }
                self.lists.push(l);
            }
            Some(())
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
                TAG_DICTIONARY => BlazeValue::Dictionary {
                    entries: self.record()?,
                },
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
            let i = self.u32()? as usize;
            let l = self.lists.get(i)?.clone();
            let mut r = HashMap::new();
            for k in l {
                let v = self.value()?;
                r.insert(self.keys[k].clone(), v);
            }
            Some(r)
        }
    }

    /// Decodes a whole buffer; `None` if it is malformed or has bytes left over.
    fn decode(b: &[u8]) -> Option<Vec<Option<BlazeRecord>>> {
        let mut rd = Reader {
            b,
            keys: Vec::new(),
            lists: Vec::new(),
        };
        if rd.u8()? != VERSION {
            return None;
        }
        let shape = rd.u8()?;
        let n = rd.u32()?;
        rd.tables()?;
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
        let empty = |shape| vec![VERSION, shape, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(*records(&[]), empty(SHAPE_RECORDS));
        assert_eq!(*optional_records(&[]), empty(SHAPE_OPTIONAL));
        // Records {"a": Int 1} and {"a": Int 2}: header, 1 key "a", 1 list [0], then each
        // record is list 0 and its one value.
        let r = |n: i64| Record::new().with("a", Value::Int(n));
        let mut want = vec![2, 0, 2, 0, 0, 0];
        want.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0, b'a']);
        want.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        for n in [1i64, 2] {
            want.extend_from_slice(&[0, 0, 0, 0, TAG_INT]);
            want.extend_from_slice(&n.to_le_bytes());
        }
        let got = records(&[r(1), r(2)]);
        assert_eq!(*got, want);
        // UniFFI's serialized `bytes`: the length as a big-endian i32, then the bytes, both
        // from `lower` (no copy) and from `write`.
        let mut uniffi_form = (want.len() as i32).to_be_bytes().to_vec();
        uniffi_form.extend_from_slice(&want);
        let mut written = Vec::new();
        <Packed as uniffi::Lower<crate::UniFfiTag>>::write(records(&[r(1), r(2)]), &mut written);
        assert_eq!(written, uniffi_form);
        let lowered = <Packed as uniffi::Lower<crate::UniFfiTag>>::lower(got);
        assert_eq!(lowered.destroy_into_vec(), uniffi_form);
        // Lifting takes the same form back, whole or from inside a larger buffer, and
        // refuses a length that does not match.
        type L = dyn Fn(uniffi::RustBuffer) -> uniffi::Result<Packed>;
        let lift: &L = &<Packed as uniffi::Lift<crate::UniFfiTag>>::try_lift;
        let lifted = lift(uniffi::RustBuffer::from_vec(uniffi_form.clone())).unwrap();
        assert_eq!(*lifted, want);
        let mut two = uniffi_form.clone();
        two.extend_from_slice(&uniffi_form);
        let mut rest = two.as_slice();
        for _ in 0..2 {
            let p = <Packed as uniffi::Lift<crate::UniFfiTag>>::try_read(&mut rest).unwrap();
            assert_eq!(*p, want);
        }
        assert!(rest.is_empty());
        for bad in [
            vec![],
            vec![0, 0, 0],
            vec![0, 0, 0, 2, 9],
            vec![0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(
                lift(uniffi::RustBuffer::from_vec(bad.clone())).is_err(),
                "{bad:?}"
            );
            let mut r = bad.as_slice();
            assert!(<Packed as uniffi::Lift<crate::UniFfiTag>>::try_read(&mut r).is_err());
        }
        assert_eq!(*Packed::from(vec![1, 2]), [1, 2]);
    }

    /// Each distinct key and each distinct key list is stored once per buffer, whatever
    /// order records with different lists come in, and dictionaries share the tables.
    /// The key and list tables of a shape-0 buffer, read by the reference decoder.
    fn tables_of(buf: &[u8]) -> Reader<'_> {
        let mut rd = Reader {
            b: &buf[6..],
            keys: Vec::new(),
            lists: Vec::new(),
        };
        rd.tables().unwrap();
        rd
    }

    #[test]
    fn keys_and_lists_are_stored_once() {
        let a = || Record::new().with("x", 1).with("y", 2);
        let b = || {
            Record::new().with("y", 3).with(
                "d",
                Value::Dictionary(BTreeMap::from([("x".to_string(), Value::Int(4))])),
            )
        };
        let rs = vec![a(), b(), a(), b(), a(), Record::new()];
        let buf = records(&rs);
        let rd = tables_of(&buf);
        assert_eq!(rd.keys, ["x", "y", "d"]);
        // a's list, b's list (sorted: d, y), the dictionary's list, the empty list.
        assert_eq!(rd.lists, vec![vec![0, 1], vec![2, 1], vec![0], vec![]]);
        let got = decode(&buf).unwrap();
        for (r, g) in rs.into_iter().zip(got) {
            assert!(same_record(&from_record(r), &g.unwrap()));
        }
    }

    #[test]
    fn many_keys_and_lists_are_interned_once_past_the_linear_tables() {
        // 3 * LINEAR records with a field of their own each: more keys and more lists than
        // the linear search covers, so the hash indexes are built and then used.
        let rs: Vec<Record> = (0..3 * LINEAR)
            .map(|i| {
                Record::new()
                    .with("common", 1)
                    .with(format!("f{}", i % (2 * LINEAR)), i as i64)
            })
            .collect();
        let buf = records(&rs);
        let rd = tables_of(&buf);
        assert_eq!(rd.keys.len(), 1 + 2 * LINEAR);
        assert_eq!(rd.lists.len(), 2 * LINEAR);
        let got = decode(&buf).unwrap();
        for (r, g) in rs.into_iter().zip(got) {
            assert!(same_record(&from_record(r), &g.unwrap()));
        }
    }

    #[test]
    fn packed_ids_are_16_bytes_each() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut bytes = a.as_bytes().to_vec();
        bytes.extend_from_slice(b.as_bytes());
        assert_eq!(ids(&bytes).unwrap(), vec![a, b]);
        assert!(ids(&[]).unwrap().is_empty());
        for n in [1, 15, 17, 31] {
            assert!(matches!(
                ids(&bytes[..n]),
                Err(crate::BlazeError::InvalidInput { .. })
            ));
        }
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
    /// Records of varied shapes: several field-name lists, dictionaries inside arrays and
    /// dictionaries, names around `id` in sort order, empty records and containers.
    fn varied(i: usize) -> Record {
        let k = every_kind();
        let mut r = Record::new();
        for (j, (name, v)) in k.iter().enumerate() {
            if name != "id" && !(i + j).is_multiple_of(3) {
                r.insert(name.clone(), v.clone());
            }
        }
        if i % 4 == 1 {
            let inner: BTreeMap<String, Value> = [
                ("x".to_string(), Value::Int(i as i64)),
                ("aa".to_string(), k.get("dict").cloned().unwrap()),
            ]
            .into_iter()
            .collect();
            r.insert(
                "ia",
                Value::Array(vec![Value::Dictionary(inner.clone()), Value::Null]),
            );
            r.insert("i", Value::Dictionary(inner));
        }
        if i % 5 == 2 {
            r = Record::new();
        }
        r
    }

    #[test]
    fn packing_views_gives_the_bytes_of_packing_decoded_records() {
        let dir = tempfile::tempdir().unwrap();
        let db = blazedb::Database::open(dir.path().join("v.blazedb"), blazedb::Options::default())
            .unwrap();
        let mut ids = db.insert_many("c", (0..40).map(varied).collect()).unwrap();
        db.soft_delete("c", ids[5]).unwrap();
        ids.insert(3, Uuid::from_u128(1)); // missing
        let want = optional_records(&db.get_many("c", &ids).unwrap());
        let got = optional_views(ids.len(), |sink| db.get_many_with("c", &ids, sink)).unwrap();
        assert_eq!(*got, *want);
        for (off, lim) in [(0, usize::MAX), (7, 9), (100, 3), (0, 0)] {
            let want = records(&db.page("c", off, lim).unwrap());
            let got = views(|sink| db.read(|tx| tx.page_with("c", off, lim, sink))).unwrap();
            assert_eq!(*got, *want, "page {off} {lim}");
        }
        let want = optional_record(db.get("c", ids[0]).unwrap().as_ref());
        let got = optional_views(1, |sink| db.read(|tx| tx.get_with("c", ids[0], sink))).unwrap();
        assert_eq!(*got, *want);
    }

    #[test]
    fn a_body_with_misordered_keys_is_packed_as_its_decoded_record() {
        use blazedb::codec;
        let id = Uuid::from_u128(9);
        // Hand-made bodies (format 1, flags 0): top-level keys "b" then "a"; "b" twice (null,
        // then true: a decode keeps the last); and a nested dictionary with "y" twice. Packed
        // from the view as stored, the repeated key would make a list the decoders refuse.
        let misordered = [1u8, 0, 2, 1, b'b', 0, 1, b'a', 0];
        let top = [1u8, 0, 2, 1, b'b', 0, 1, b'b', 2];
        let nested = [
            1u8, 0, 2, 1, b'a', 0, 1, b'd', 0x0A, 2, 1, b'y', 0, 1, b'y', 2,
        ];
        let good = codec::encode(&every_kind()).unwrap();
        for body in [&misordered[..], &top[..], &nested[..], &good[..]] {
            let v = codec::view(body, id).unwrap();
            let want = records(&[v.to_record().unwrap()]);
            let got = views(|sink| sink(v)).unwrap();
            let (got, want) = (decode(&got).unwrap(), decode(&want).unwrap());
            assert_eq!(got.len(), 1);
            assert!(same_record(
                got[0].as_ref().unwrap(),
                want[0].as_ref().unwrap()
            ));
        }
        // A view whose fields fail part-way gives the error, not a buffer.
        let cut = &good[..good.len() - 3];
        let v = codec::view(cut, id).unwrap();
        assert!(views(|sink| sink(v)).is_err());
    }

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
        let pack = |ids: &[String]| -> Vec<u8> {
            ids.iter()
                .flat_map(|s| *Uuid::parse_str(s).unwrap().as_bytes())
                .collect()
        };

        let got = decode(&db.get_packed(c.clone(), ids[2].clone()).unwrap()).unwrap();
        assert!(same_record(
            &db.get(c.clone(), ids[2].clone()).unwrap().unwrap(),
            got[0].as_ref().unwrap()
        ));
        assert_eq!(
            decode(&db.get_packed(c.clone(), missing.clone()).unwrap()).unwrap(),
            vec![None]
        );
        let many = decode(&db.get_many_packed(c.clone(), pack(&some).into()).unwrap()).unwrap();
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
        assert!(matches!(
            db.get_many_packed(c.clone(), vec![0; 17].into()),
            Err(crate::BlazeError::InvalidInput { .. })
        ));

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
        let many = decode(&tx.get_many_packed(c.clone(), pack(&some).into()).unwrap()).unwrap();
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

    /// The write layout, as the Swift encoder writes it (keys inline).
    fn put_write_value(v: &Value, out: &mut Vec<u8>) {
        if put_scalar(v, out) {
            return;
        }
        match v {
            Value::Array(a) => {
                out.push(TAG_ARRAY);
                put_len(a.len(), out);
                a.iter().for_each(|v| put_write_value(v, out));
            }
            Value::Dictionary(d) => {
                out.push(TAG_DICTIONARY);
                put_write_fields(d.iter(), d.len(), out);
            }
            _ => {}
        }
    }

    fn put_write_fields<'a>(
        fields: impl Iterator<Item = (&'a String, &'a Value)>,
        n: usize,
        out: &mut Vec<u8>,
    ) {
        put_len(n, out);
        for (k, v) in fields {
            put_str(k, out);
            put_write_value(v, out);
        }
    }

    fn write_buffer(rs: &[Record]) -> Vec<u8> {
        let mut out = vec![WRITE_VERSION, SHAPE_RECORDS];
        put_len(rs.len(), &mut out);
        for r in rs {
            put_write_fields(r.iter(), r.len(), &mut out);
        }
        out
    }

    #[test]
    fn the_write_layout_decodes_every_kind() {
        let rs = vec![every_kind(), Record::new(), every_kind()];
        let got = decode_write(&write_buffer(&rs)).unwrap();
        assert_eq!(got.len(), 3);
        for (r, g) in rs.iter().zip(&got) {
            // Compared through the `BlazeValue` conversion, doubles by their bits.
            assert!(same_record(
                &from_record(r.clone()),
                &from_record(g.clone())
            ));
        }
        assert!(decode_write(&write_buffer(&[])).unwrap().is_empty());
    }

    fn is_invalid_input(r: Result<Vec<Record>, crate::BlazeError>) -> bool {
        matches!(r, Err(crate::BlazeError::InvalidInput { .. }))
    }

    #[test]
    fn malformed_write_buffers_are_invalid_input() {
        let good = write_buffer(&[every_kind()]);
        for n in 0..good.len() {
            assert!(
                is_invalid_input(decode_write(&good[..n])),
                "prefix of {n} bytes"
            );
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(is_invalid_input(decode_write(&trailing)));

        let le = |n: u32| n.to_le_bytes().to_vec();
        // One record {"k": value}.
        let one =
            |value: &[u8]| [&[WRITE_VERSION, 0][..], &le(1), &le(1), &le(1), b"k", value].concat();
        assert_eq!(decode_write(&one(&[TAG_NULL])).unwrap().len(), 1);
        let nanos = [&[TAG_DATE][..], &[0; 8], &le(1_000_000_000)].concat();
        let bad: Vec<(&str, Vec<u8>)> = vec![
            ("version 2", [&[2, 0][..], &le(0)].concat()),
            ("shape 1", [&[WRITE_VERSION, 1][..], &le(0)].concat()),
            (
                "count past the end",
                [&[WRITE_VERSION, 0][..], &le(u32::MAX)].concat(),
            ),
            (
                "field count past the end",
                [&[WRITE_VERSION, 0][..], &le(1), &le(u32::MAX)].concat(),
            ),
            ("unknown tag", one(&[99])),
            ("bool byte 2", one(&[TAG_BOOL, 2])),
            (
                "string past the end",
                one(&[&[TAG_STRING][..], &le(u32::MAX)].concat()),
            ),
            (
                "string not UTF-8",
                one(&[&[TAG_STRING][..], &le(1), &[0xff]].concat()),
            ),
            (
                "key not UTF-8",
                [
                    &[WRITE_VERSION, 0][..],
                    &le(1),
                    &le(1),
                    &le(1),
                    &[0xff],
                    &[TAG_NULL],
                ]
                .concat(),
            ),
            ("short uuid", one(&[TAG_UUID, 1, 2])),
            (
                "array count past the end",
                one(&[&[TAG_ARRAY][..], &le(9)].concat()),
            ),
            (
                "vector count past the end",
                one(&[&[TAG_VECTOR][..], &le(2), &[0; 8]].concat()),
            ),
            (
                "dictionary key missing",
                one(&[&[TAG_DICTIONARY][..], &le(1)].concat()),
            ),
            (
                "key twice",
                [
                    &[WRITE_VERSION, 0][..],
                    &le(1),
                    &le(2),
                    &le(1),
                    b"k",
                    &[TAG_NULL],
                    &le(1),
                    b"k",
                    &[TAG_NULL],
                ]
                .concat(),
            ),
            (
                "nesting too deep",
                one(&[[TAG_ARRAY, 1, 0, 0, 0].repeat(100_000), vec![TAG_NULL]].concat()),
            ),
        ];
        for (what, b) in bad {
            assert!(is_invalid_input(decode_write(&b)), "{what}");
        }
        assert!(matches!(
            decode_write(&one(&nanos)),
            Err(crate::BlazeError::InvalidField { field, .. }) if field == "k"
        ));
        let nested = one(&[&[TAG_DICTIONARY][..], &le(1), &le(1), b"d", &nanos].concat());
        assert!(matches!(
            decode_write(&nested),
            Err(crate::BlazeError::InvalidField { field, .. }) if field == "k.d"
        ));
    }

    /// `insert_many_packed` stores what `insert_many` stores, returns the ids packed, and
    /// writes nothing from a malformed buffer; the same in a transaction.
    #[test]
    fn insert_many_packed_matches_insert_many() {
        use crate::{Database, OpenOptions};
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(
            dir.path().join("w.blazedb").display().to_string(),
            OpenOptions::default(),
        )
        .unwrap();
        let c = "c".to_string();
        let mut r = every_kind();
        r.remove("id");
        let given = Uuid::new_v4();
        let with_id = r.clone().with("id", Value::Uuid(given));
        let ids = ids(&db
            .insert_many_packed(c.clone(), write_buffer(&[r.clone(), with_id]).into())
            .unwrap())
        .unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[1], given);
        let twin = db
            .insert_many(c.clone(), vec![from_record(r.clone())])
            .unwrap();
        let got = db.get(c.clone(), ids[0].to_string()).unwrap().unwrap();
        let want = db.get(c.clone(), twin[0].clone()).unwrap().unwrap();
        let strip = |mut m: BlazeRecord| {
            for k in ["id", "createdAt"] {
                m.remove(k);
            }
            m
        };
        assert!(same_record(&strip(got), &strip(want)));

        let mut bad = write_buffer(&[r.clone(), r.clone()]);
        bad.truncate(bad.len() - 1);
        assert!(matches!(
            db.insert_many_packed(c.clone(), bad.clone().into()),
            Err(crate::BlazeError::InvalidInput { .. })
        ));
        assert_eq!(db.count(c.clone()).unwrap(), 3);

        let tx = db.begin().unwrap();
        let in_tx = ids_of(
            &tx.insert_many_packed(c.clone(), write_buffer(&[r]).into())
                .unwrap(),
        );
        assert!(tx.get(c.clone(), in_tx[0].to_string()).unwrap().is_some());
        assert!(matches!(
            tx.insert_many_packed(c.clone(), bad.into()),
            Err(crate::BlazeError::InvalidInput { .. })
        ));
        tx.rollback().unwrap();
        assert_eq!(db.count(c).unwrap(), 3);
    }

    fn ids_of(b: &[u8]) -> Vec<Uuid> {
        ids(b).unwrap()
    }
}
