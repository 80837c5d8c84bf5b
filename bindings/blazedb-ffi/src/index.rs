//! Indexes across the boundary: what to index, and what an existing index looks like.
//! The core owns every rule (names, refusals, the unique check); this file only converts.

/// The kind of an index (see the core's `IndexKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum IndexKind {
    /// Ordered, on one or more fields: equality, `in`, ranges, prefixes and sorts.
    BTree,
    /// Ordered, and at most one live record may hold each key. Records with a null, missing
    /// or NaN indexed value are exempt, as in SQL.
    Unique,
    /// Full-text, over the words of string fields.
    FullText,
}

/// What to index. `fields` are dotted paths, compared in the order given. `unique` and
/// `full_text` together are refused by the core. Without `name` the index is named as
/// upstream names it: the fields joined with `+`, with a `fts:` prefix for full text.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct IndexDef {
    pub fields: Vec<String>,
    #[uniffi(default = false)]
    pub unique: bool,
    #[uniffi(default = false)]
    pub full_text: bool,
    #[uniffi(default = None)]
    pub name: Option<String>,
}

/// An existing index. `entries` counts stored index entries (for B-tree indexes one per
/// live record holding the fields, plus one alias per record whose leading value is a
/// string holding a UUID).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct IndexDescription {
    pub name: String,
    pub collection: String,
    pub fields: Vec<String>,
    pub kind: IndexKind,
    pub entries: u64,
}

pub(crate) fn to_spec(def: IndexDef) -> blazedb::IndexSpec {
    let mut spec = if def.full_text {
        blazedb::IndexSpec::full_text(def.fields)
    } else {
        blazedb::IndexSpec::compound(def.fields)
    };
    if def.unique {
        spec = spec.unique();
    }
    if let Some(n) = def.name {
        spec = spec.named(n);
    }
    spec
}

pub(crate) fn from_info(i: blazedb::IndexInfo) -> IndexDescription {
    IndexDescription {
        name: i.name,
        collection: i.collection,
        fields: i.fields,
        kind: match i.kind {
            blazedb::IndexKind::BTree => IndexKind::BTree,
            blazedb::IndexKind::Unique => IndexKind::Unique,
            blazedb::IndexKind::FullText => IndexKind::FullText,
        },
        entries: i.entries,
    }
}

pub(crate) fn from_infos(is: Vec<blazedb::IndexInfo>) -> Vec<IndexDescription> {
    is.into_iter().map(from_info).collect()
}
