//! Queries across the boundary: a declarative description, run by the core's engine
//! (semantics: `docs/QUERY.md`). One call returns the whole result.

use blazedb::{Filter, Order, Query};

use crate::error::BlazeError;
use crate::value::{BlazeValue, to_value};

/// One filter; a query's `filters` are ANDed.
#[derive(Clone, Debug, PartialEq, uniffi::Enum)]
pub enum QueryFilter {
    /// The field is present and equal to `value`.
    Eq { field: String, value: BlazeValue },
    /// The field is missing, or present and not equal to `value`.
    Ne { field: String, value: BlazeValue },
    /// Present, comparable and greater.
    Gt { field: String, value: BlazeValue },
    /// Present, comparable and greater or equal.
    Gte { field: String, value: BlazeValue },
    /// Present, comparable and less.
    Lt { field: String, value: BlazeValue },
    /// Present, comparable and less or equal.
    Lte { field: String, value: BlazeValue },
    /// A string containing `substring` (case-sensitive).
    Contains { field: String, substring: String },
    /// A string starting with `prefix` (case-sensitive).
    StartsWith { field: String, prefix: String },
    /// Present and equal to one of `values`.
    In {
        field: String,
        values: Vec<BlazeValue>,
    },
    /// The field is absent (a stored null is present).
    IsNil { field: String },
    /// The field is present.
    NotNil { field: String },
    /// All of `filters` (an empty list matches everything).
    And { filters: Vec<QueryFilter> },
    /// Any of `filters` (an empty list matches nothing).
    Or { filters: Vec<QueryFilter> },
    /// None of `filters` hold together: NOT (AND of `filters`).
    Not { filters: Vec<QueryFilter> },
}

/// One sort key. Missing values and nulls sort last in both directions; ties break by id.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct SortKey {
    pub field: String,
    #[uniffi(default = false)]
    pub descending: bool,
}

impl SortKey {
    /// The core's direction for this key.
    pub(crate) fn order(&self) -> Order {
        if self.descending {
            Order::Descending
        } else {
            Order::Ascending
        }
    }
}

/// A query on one collection.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct QuerySpec {
    pub collection: String,
    #[uniffi(default = [])]
    pub filters: Vec<QueryFilter>,
    #[uniffi(default = [])]
    pub order_by: Vec<SortKey>,
    #[uniffi(default = None)]
    pub offset: Option<u64>,
    #[uniffi(default = None)]
    pub limit: Option<u64>,
}

fn field_value(field: String, v: BlazeValue) -> Result<(String, blazedb::Value), BlazeError> {
    let value = to_value(v, &field)?;
    Ok((field, value))
}

pub(crate) fn to_filter(f: QueryFilter) -> Result<Filter, BlazeError> {
    Ok(match f {
        QueryFilter::Eq { field, value } => {
            let (f, v) = field_value(field, value)?;
            Filter::eq(f, v)
        }
        QueryFilter::Ne { field, value } => {
            let (f, v) = field_value(field, value)?;
            Filter::ne(f, v)
        }
        QueryFilter::Gt { field, value } => {
            let (f, v) = field_value(field, value)?;
            Filter::gt(f, v)
        }
        QueryFilter::Gte { field, value } => {
            let (f, v) = field_value(field, value)?;
            Filter::gte(f, v)
        }
        QueryFilter::Lt { field, value } => {
            let (f, v) = field_value(field, value)?;
            Filter::lt(f, v)
        }
        QueryFilter::Lte { field, value } => {
            let (f, v) = field_value(field, value)?;
            Filter::lte(f, v)
        }
        QueryFilter::Contains { field, substring } => Filter::contains(field, substring),
        QueryFilter::StartsWith { field, prefix } => Filter::starts_with(field, prefix),
        QueryFilter::In { field, values } => {
            let vs = values
                .into_iter()
                .map(|v| to_value(v, &field))
                .collect::<Result<Vec<_>, _>>()?;
            Filter::is_in(field, vs)
        }
        QueryFilter::IsNil { field } => Filter::is_nil(field),
        QueryFilter::NotNil { field } => Filter::not_nil(field),
        QueryFilter::And { filters } => Filter::And(to_filters(filters)?),
        QueryFilter::Or { filters } => Filter::Or(to_filters(filters)?),
        QueryFilter::Not { filters } => Filter::And(to_filters(filters)?).not(),
    })
}

pub(crate) fn to_filters(fs: Vec<QueryFilter>) -> Result<Vec<Filter>, BlazeError> {
    fs.into_iter().map(to_filter).collect()
}

pub(crate) fn count_arg(name: &str, n: u64) -> Result<usize, BlazeError> {
    usize::try_from(n).map_err(|_| BlazeError::InvalidInput {
        reason: format!("{name} {n} is out of range"),
    })
}

/// The core query for a spec.
pub(crate) fn to_query(spec: QuerySpec) -> Result<Query, BlazeError> {
    let mut q = Query::new(spec.collection);
    for f in spec.filters {
        q = q.filter(to_filter(f)?);
    }
    for k in spec.order_by {
        let order = k.order();
        q = q.order_by(k.field, order);
    }
    if let Some(n) = spec.offset {
        q = q.offset(count_arg("offset", n)?);
    }
    if let Some(n) = spec.limit {
        q = q.limit(count_arg("limit", n)?);
    }
    Ok(q)
}
