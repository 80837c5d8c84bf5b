//! Borrowed reads: a stored record seen in place, without building a [`Record`].
//!
//! [`ReadTx::get_many_with`](crate::ReadTx::get_many_with) and its siblings hand each record
//! to a callback as a [`RecordView`] over the stored bytes. Strings, data and containers
//! borrow from the page, so nothing is allocated per field. This is for code that turns
//! records into another representation straight away (the FFI packs them for Swift and
//! Kotlin): there, decoding into a `Record` first and then converting was most of the cost
//! of a batch get.
//!
//! Stored bytes are untrusted, so a view checks what it reads as it reads it, exactly as a
//! decode into a `Record` would (the same tags, lengths, UTF-8, date nanoseconds, nesting
//! limit and trailing bytes): walking a view in full, nested values included, succeeds on
//! exactly the bodies that [`RecordView::to_record`] accepts, and a failure is a
//! `CorruptedData` error from the iterator. Checking as it goes, rather than in a pass of its
//! own when the view is made, reads each byte once: the second pass cost a batch get a
//! seventh of its time.

use uuid::Uuid;

use crate::engine::encoding::{
    self, Reader, TAG_ARRAY, TAG_DATA, TAG_DATE, TAG_DICT, TAG_DOUBLE, TAG_FALSE, TAG_INT,
    TAG_NULL, TAG_STRING, TAG_TRUE, TAG_UUID, TAG_VECTOR,
};
use crate::error::{Error, Result};
use crate::record::{ID_FIELD, Record};
use crate::value::{Timestamp, Value};

/// One stored record, borrowed: its id and its fields, read in place.
///
/// Its fields come in stored order with `id` put at its sorted place. Stored order is
/// ascending by key for every body this crate writes, so they then come exactly as a
/// [`Record`] iterates them. A body with a repeated or misordered key (only a hand-made
/// file has one) would iterate differently from its decoded record: a caller that needs the
/// record's semantics checks that the keys it sees are strictly ascending, at every level,
/// and uses [`RecordView::to_record`] when they are not.
#[derive(Clone, Copy, Debug)]
pub struct RecordView<'a> {
    /// The whole stored body, header included (what `to_record` decodes).
    stored: &'a [u8],
    /// The fields: `stored` after the header and the field count.
    fields: &'a [u8],
    count: usize,
    id: Uuid,
}

impl<'a> RecordView<'a> {
    /// Views a stored body after checking its header; the fields are checked as they are
    /// read (see the module note).
    pub(crate) fn new(stored: &'a [u8], id: Uuid) -> Result<Self> {
        encoding::record_flags(stored)?;
        let mut r = Reader::new(&stored[2..]);
        let count = r.count(2)?;
        Ok(RecordView {
            stored,
            fields: &stored[2 + r.pos..],
            count,
            id,
        })
    }

    /// The record's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Number of fields stored: the fields less `id` (never stored by this crate), a
    /// capacity hint for whoever collects them.
    pub fn stored_fields(&self) -> usize {
        self.count
    }

    /// The fields, `id` included (see the type's note on order). Each is checked as it is
    /// read, exactly as a decode checks it, and the end of the body is checked after the
    /// last one; the first error ends the iteration.
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            r: Reader::new(self.fields),
            left: self.count,
            id: Some(self.id),
            ended: false,
        }
    }

    /// The record as [`ReadTx::get`](crate::ReadTx::get) returns it.
    pub fn to_record(&self) -> Result<Record> {
        encoding::decode_record(self.stored, Some(self.id)).map(|d| d.record)
    }
}

/// The fields of a [`RecordView`]: `(name, value)` pairs. After an error it ends.
#[derive(Debug)]
pub struct Fields<'a> {
    r: Reader<'a>,
    left: usize,
    /// The id, until it has been yielded at its sorted place.
    id: Option<Uuid>,
    /// Whether the end of the body has been checked.
    ended: bool,
}

impl<'a> Fields<'a> {
    fn step(&mut self) -> Result<Option<(&'a str, ValueView<'a>)>> {
        if self.left == 0 {
            if !self.ended {
                self.ended = true;
                if !self.r.is_empty() {
                    return Err(Error::corrupted("record encoding: trailing bytes"));
                }
            }
            return Ok(self.id.take().map(|u| (ID_FIELD, ValueView::Uuid(u))));
        }
        let at = self.r.pos;
        let k = self.r.str()?;
        if let Some(u) = self.id
            && k >= ID_FIELD
        {
            self.id = None;
            if k == ID_FIELD {
                // A stored `id` is shadowed by the key, as in a decode.
                self.r.skip_value(1)?;
                self.left -= 1;
            } else {
                self.r.pos = at;
            }
            return Ok(Some((ID_FIELD, ValueView::Uuid(u))));
        }
        let v = view(&mut self.r, 1)?;
        self.left -= 1;
        Ok(Some((k, v)))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(&'a str, ValueView<'a>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.step();
        if item.is_err() {
            self.left = 0;
            self.id = None;
            self.ended = true;
        }
        item.transpose()
    }
}

/// One value, borrowed from the stored bytes where it is not a plain number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueView<'a> {
    /// See [`Value::Null`].
    Null,
    /// See [`Value::Bool`].
    Bool(bool),
    /// See [`Value::Int`].
    Int(i64),
    /// See [`Value::Double`].
    Double(f64),
    /// See [`Value::String`].
    String(&'a str),
    /// See [`Value::Date`].
    Date(Timestamp),
    /// See [`Value::Uuid`].
    Uuid(Uuid),
    /// See [`Value::Data`].
    Data(&'a [u8]),
    /// See [`Value::Array`].
    Array(ArrayView<'a>),
    /// See [`Value::Dictionary`].
    Dictionary(DictView<'a>),
    /// See [`Value::Vector`].
    Vector(VectorView<'a>),
}

impl ValueView<'_> {
    /// The owned value.
    pub fn to_value(&self) -> Result<Value> {
        Ok(match *self {
            ValueView::Null => Value::Null,
            ValueView::Bool(b) => Value::Bool(b),
            ValueView::Int(i) => Value::Int(i),
            ValueView::Double(d) => Value::Double(d),
            ValueView::String(s) => Value::String(s.to_owned()),
            ValueView::Date(t) => Value::Date(t),
            ValueView::Uuid(u) => Value::Uuid(u),
            ValueView::Data(d) => Value::Data(d.to_vec()),
            ValueView::Array(a) => {
                Value::Array(a.iter().map(|v| v?.to_value()).collect::<Result<_>>()?)
            }
            ValueView::Dictionary(d) => {
                let mut m = std::collections::BTreeMap::new();
                for item in d.iter() {
                    let (k, v) = item?;
                    m.insert(k.to_owned(), v.to_value()?);
                }
                Value::Dictionary(m)
            }
            ValueView::Vector(v) => Value::Vector(v.iter().collect()),
        })
    }
}

/// An array's items, in place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArrayView<'a> {
    items: &'a [u8],
    len: usize,
    depth: usize,
}

impl<'a> ArrayView<'a> {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The items in order. After an error it ends.
    pub fn iter(&self) -> impl Iterator<Item = Result<ValueView<'a>>> + use<'a> {
        let depth = self.depth;
        counted(self.items, self.len, move |r| view(r, depth))
    }
}

/// A dictionary's entries, in place, in stored order (ascending by key for every body this
/// crate writes; see [`RecordView`] on order).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DictView<'a> {
    entries: &'a [u8],
    len: usize,
    depth: usize,
}

impl<'a> DictView<'a> {
    /// Number of entries as stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `(key, value)` entries. After an error it ends.
    pub fn iter(&self) -> impl Iterator<Item = Result<(&'a str, ValueView<'a>)>> + use<'a> {
        let depth = self.depth;
        counted(self.entries, self.len, move |r| {
            Ok((r.str()?, view(r, depth)?))
        })
    }
}

/// A vector's `f64` components, in place.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VectorView<'a> {
    bits: &'a [u8],
}

impl<'a> VectorView<'a> {
    /// Number of components.
    pub fn len(&self) -> usize {
        self.bits.len() / 8
    }

    /// Whether it has no components.
    pub fn is_empty(&self) -> bool {
        self.bits.is_empty()
    }

    /// The components in order.
    pub fn iter(&self) -> impl Iterator<Item = f64> + use<'a> {
        self.bits.chunks_exact(8).map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            f64::from_le_bytes(a)
        })
    }
}

/// `len` items read from `bytes` by `next`, ending after the first error.
fn counted<'a, T>(
    bytes: &'a [u8],
    mut len: usize,
    mut next: impl FnMut(&mut Reader<'a>) -> Result<T>,
) -> impl Iterator<Item = Result<T>> {
    let mut r = Reader::new(bytes);
    std::iter::from_fn(move || {
        if len == 0 {
            return None;
        }
        let item = next(&mut r);
        len = if item.is_ok() { len - 1 } else { 0 };
        Some(item)
    })
}

/// Reads one value as a view at nesting `depth`; the items of a container are at
/// `depth + 1`, as in [`Reader::value`], and are checked (by stepping over them) before the
/// container's view is returned.
fn view<'a>(r: &mut Reader<'a>, depth: usize) -> Result<ValueView<'a>> {
    r.check_depth(depth)?;
    Ok(match r.u8()? {
        TAG_NULL => ValueView::Null,
        TAG_FALSE => ValueView::Bool(false),
        TAG_TRUE => ValueView::Bool(true),
        TAG_INT => ValueView::Int(r.int()?),
        TAG_DOUBLE => ValueView::Double(r.f64()?),
        TAG_STRING => ValueView::String(r.str()?),
        TAG_DATE => ValueView::Date(r.date()?),
        TAG_UUID => ValueView::Uuid(r.uuid()?),
        TAG_DATA => ValueView::Data(r.bytes()?),
        TAG_ARRAY => {
            let len = r.count(1)?;
            let start = r.pos;
            for _ in 0..len {
                r.skip_value(depth + 1)?;
            }
            ValueView::Array(ArrayView {
                items: r.since(start),
                len,
                depth: depth + 1,
            })
        }
        TAG_DICT => {
            let len = r.count(2)?;
            let start = r.pos;
            for _ in 0..len {
                r.str()?;
                r.skip_value(depth + 1)?;
            }
            ValueView::Dictionary(DictView {
                entries: r.since(start),
                len,
                depth: depth + 1,
            })
        }
        TAG_VECTOR => {
            let n = r.count(8)?;
            ValueView::Vector(VectorView {
                bits: r.take(n * 8)?,
            })
        }
        other => return Err(r.unknown_tag(other)),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::engine::encoding::{MAX_DEPTH, RECORD_FORMAT_V1, encode_record};

    /// Walks a view in full, nested values included, into a record.
    fn walk(v: &RecordView<'_>) -> Result<Record> {
        let mut r = Record::new();
        for item in v.fields() {
            let (k, v) = item?;
            r.insert(k, v.to_value()?);
        }
        Ok(r)
    }

    fn sample() -> Record {
        let inner: BTreeMap<String, Value> = [
            ("b".to_string(), Value::Array(vec![Value::Null, 1.into()])),
            ("a".to_string(), Value::Vector(vec![0.5, -2.0])),
        ]
        .into_iter()
        .collect();
        Record::new()
            .with("aaa", "first")
            .with("i", 1)
            .with("ia", Value::Dictionary(inner))
            .with("z", Value::Data(vec![1, 2]))
            .with("when", Value::Date(Timestamp::new(-5, 999_999_999)))
            .with("u", Value::Uuid(Uuid::from_u128(5)))
            .with("f", 2.5)
            .with("t", false)
    }

    #[test]
    fn a_view_iterates_as_the_decoded_record_does_with_the_id_in_place() {
        let id = Uuid::from_u128(77);
        for rec in [
            sample(),
            Record::new(),
            Record::new().with("a", 1),
            Record::new().with("z", 1),
        ] {
            let bytes = encode_record(&rec, 0).unwrap();
            let v = RecordView::new(&bytes, id).unwrap();
            let want = v.to_record().unwrap();
            assert_eq!(v.stored_fields(), rec.len());
            let keys: Vec<&str> = v.fields().map(|f| f.unwrap().0).collect();
            let want_keys: Vec<&str> = want.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, want_keys);
            assert_eq!(walk(&v).unwrap(), want);
        }
    }

    #[test]
    fn a_stored_id_field_is_shadowed_by_the_key() {
        // Hand-made: the encoder never stores `id`, so write the body by hand.
        let mut bytes = vec![RECORD_FORMAT_V1, 0, 2];
        for (k, tag, payload) in [("id", TAG_INT, 4u8), ("x", TAG_INT, 6u8)] {
            bytes.push(k.len() as u8);
            bytes.extend_from_slice(k.as_bytes());
            bytes.extend_from_slice(&[tag, payload]);
        }
        let id = Uuid::from_u128(1);
        let v = RecordView::new(&bytes, id).unwrap();
        assert_eq!(v.fields().count(), 2);
        assert_eq!(walk(&v).unwrap(), v.to_record().unwrap());
        assert_eq!(walk(&v).unwrap().get(ID_FIELD), Some(&Value::Uuid(id)));
    }

    #[test]
    fn misordered_keys_come_in_stored_order() {
        let mut top = vec![RECORD_FORMAT_V1, 0, 2];
        for k in ["b", "a"] {
            top.extend_from_slice(&[1, k.as_bytes()[0], TAG_NULL]);
        }
        let v = RecordView::new(&top, Uuid::nil()).unwrap();
        let keys: Vec<&str> = v.fields().map(|f| f.unwrap().0).collect();
        assert_eq!(keys, ["b", "a", "id"]);
        let decoded: Vec<String> = v
            .to_record()
            .unwrap()
            .iter()
            .map(|(k, _)| k.clone())
            .collect();
        assert_eq!(decoded, ["a", "b", "id"]);
    }

    #[test]
    fn a_full_walk_fails_exactly_where_a_decode_fails() {
        let bytes = encode_record(&sample(), 0).unwrap();
        let check = |b: &[u8], what: &str| {
            let walked = RecordView::new(b, Uuid::nil()).and_then(|v| walk(&v));
            let decoded = encoding::decode_record(b, Some(Uuid::nil()));
            assert_eq!(walked.is_ok(), decoded.is_ok(), "{what}");
            if let Ok(w) = walked {
                assert_eq!(w, decoded.unwrap().record, "{what}");
            } else {
                assert!(matches!(walked, Err(Error::CorruptedData(_))), "{what}");
            }
        };
        for cut in 0..bytes.len() {
            check(&bytes[..cut], &format!("cut at {cut}"));
        }
        let mut longer = bytes.clone();
        longer.push(0);
        check(&longer, "a trailing byte");
        for at in 0..bytes.len() {
            for x in [0x00, 0x01, 0x05, 0x09, 0x0A, 0x0B, 0x7F, 0x80, 0xC3, 0xFF] {
                let mut b = bytes.clone();
                b[at] = x;
                check(&b, &format!("byte {at} set to {x:#04x}"));
            }
        }
    }

    #[test]
    fn nesting_past_the_limit_is_refused() {
        let mut v = Value::Null;
        // A field's value is at depth 1, so this is the deepest the encoder writes.
        for _ in 1..MAX_DEPTH {
            v = Value::Array(vec![v]);
        }
        let ok = encode_record(&Record::new().with("a", v.clone()), 0).unwrap();
        let view = RecordView::new(&ok, Uuid::nil()).unwrap();
        assert_eq!(walk(&view).unwrap(), view.to_record().unwrap());
        // One level more, written by hand: the encoder refuses it.
        let mut deep = vec![RECORD_FORMAT_V1, 0, 1, 1, b'a'];
        deep.extend(std::iter::repeat_n([TAG_ARRAY, 1], MAX_DEPTH).flatten());
        deep.push(TAG_NULL);
        let view = RecordView::new(&deep, Uuid::nil()).unwrap();
        assert!(walk(&view).is_err());
        assert!(encoding::decode_record(&deep, None).is_err());
    }
}
