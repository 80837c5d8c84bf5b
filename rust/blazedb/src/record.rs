//! Records: string keys to [`Value`]s, with dotted-path access.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::value::Value;

/// The field that holds a record's id.
pub const ID_FIELD: &str = "id";
/// The field stamped with the insert time when a record lacks it.
pub const CREATED_AT_FIELD: &str = "createdAt";
/// The field stamped with the time of every update.
pub const UPDATED_AT_FIELD: &str = "updatedAt";
/// The field stamped with the project name when a record lacks it.
pub const PROJECT_FIELD: &str = "project";
/// The field that marks a soft-deleted record (upstream keeps it visible in dumps).
pub const IS_DELETED_FIELD: &str = "isDeleted";

/// A fresh id of the kind BlazeDB gives a record inserted without one: a UUIDv7, whose
/// leading 48 bits are the Unix time in milliseconds. Ids of successive inserts ascend, so
/// new records append at the right edge of the records B-tree instead of splitting random
/// leaves (`docs/design.md` §3); the cost is that an id reveals when it was made.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// A document: field names to values, kept sorted by name.
///
/// Sorting makes the encoding deterministic (the same record always encodes to the same
/// bytes), which the dump hashes and the tests rely on.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    fields: BTreeMap<String, Value>,
}

impl Record {
    /// An empty record.
    pub fn new() -> Self {
        Record::default()
    }

    /// Sets `key` to `value` and returns the record, for chained building.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.fields.insert(key.into(), value.into());
        self
    }

    /// Sets a top-level field, returning the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.fields.insert(key.into(), value.into())
    }

    /// Removes a top-level field.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.fields.remove(key)
    }

    /// A top-level field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// Whether a top-level field is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.fields.contains_key(key)
    }

    /// Resolves a dotted path such as `address.city` through nested dictionaries; a numeric
    /// segment indexes an array.
    ///
    /// A top-level key that itself contains dots wins over the nested reading (upstream
    /// issues #203/#207), so a field literally named `a.b` stays reachable.
    pub fn get_path(&self, path: &str) -> Option<&Value> {
        if let Some(v) = self.fields.get(path) {
            return Some(v);
        }
        let mut parts = path.split('.');
        let first = parts.next()?;
        let mut cur = self.fields.get(first)?;
        for part in parts {
            cur = match cur {
                Value::Dictionary(d) => d.get(part)?,
                Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Sets a dotted path, creating dictionaries along the way. Fails (returns `false`) when
    /// a segment runs into a value that is not a dictionary.
    pub fn set_path(&mut self, path: &str, value: Value) -> bool {
        let mut parts: Vec<&str> = path.split('.').collect();
        let last = match parts.pop() {
            Some(l) => l,
            None => return false,
        };
        if parts.is_empty() {
            self.fields.insert(last.to_string(), value);
            return true;
        }
        let mut map = &mut self.fields;
        for part in parts {
            let entry = map
                .entry(part.to_string())
                .or_insert_with(|| Value::Dictionary(BTreeMap::new()));
            map = match entry {
                Value::Dictionary(d) => d,
                _ => return false,
            };
        }
        map.insert(last.to_string(), value);
        true
    }

    /// The record's id field read as upstream does: a uuid, or a string holding one.
    pub fn id(&self) -> Option<Uuid> {
        self.fields.get(ID_FIELD).and_then(Value::as_uuid)
    }

    /// Whether the record is marked soft-deleted.
    pub fn is_deleted(&self) -> bool {
        matches!(self.fields.get(IS_DELETED_FIELD), Some(Value::Bool(true)))
    }

    /// Number of top-level fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Iterates over top-level fields in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.fields.iter()
    }

    /// The fields as a map.
    pub fn fields(&self) -> &BTreeMap<String, Value> {
        &self.fields
    }

    /// Consumes the record, returning its fields.
    pub fn into_fields(self) -> BTreeMap<String, Value> {
        self.fields
    }

    /// Merges `other` into this record: each of its fields replaces the one of the same name.
    pub fn merge(&mut self, other: Record) {
        self.fields.extend(other.fields);
    }
}

impl From<BTreeMap<String, Value>> for Record {
    fn from(fields: BTreeMap<String, Value>) -> Self {
        Record { fields }
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Record {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Record {
            fields: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl IntoIterator for Record {
    type Item = (String, Value);
    type IntoIter = std::collections::btree_map::IntoIter<String, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.fields.into_iter()
    }
}
