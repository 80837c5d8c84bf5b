//! Aggregation, `distinct` and joins across the boundary, each one call returning the whole
//! result. The semantics are the core's (`docs/QUERY.md`, "Aggregation" and "Joins").

use blazedb::{Aggregate, AggregateFn, Join, Query};

use crate::error::BlazeError;
use crate::query::{QueryFilter, SortKey, count_arg, to_filter};
use crate::value::{BlazeRecord, from_record};

/// One aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum AggregateKind {
    /// Records in the group (no field).
    Count,
    /// Records whose field is present and not null.
    CountOf,
    /// Sum of the field's numbers: an int while every value is an int and the total fits,
    /// else a double; 0 over nothing. A non-number fails with `InvalidQuery`.
    Sum,
    /// Mean of the field's numbers (a double), null over nothing.
    Avg,
    /// Smallest value in sort order, null over nothing.
    Min,
    /// Largest value in sort order, null over nothing.
    Max,
}

/// One output column: `kind` over `field` (required by every kind but `Count`), under
/// `alias` in each output row.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct AggregateOp {
    pub kind: AggregateKind,
    #[uniffi(default = None)]
    pub field: Option<String>,
    pub alias: String,
}

/// An aggregation on one collection. `filters` select the input records; `having`
/// filters the output rows (by group-by fields and aliases); `order_by`, `offset` and
/// `limit` apply to the output rows. Without `group_by` there is exactly one row.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct AggregateSpec {
    pub collection: String,
    #[uniffi(default = [])]
    pub filters: Vec<QueryFilter>,
    #[uniffi(default = [])]
    pub group_by: Vec<String>,
    pub aggregates: Vec<AggregateOp>,
    #[uniffi(default = [])]
    pub having: Vec<QueryFilter>,
    #[uniffi(default = [])]
    pub order_by: Vec<SortKey>,
    #[uniffi(default = None)]
    pub offset: Option<u64>,
    #[uniffi(default = None)]
    pub limit: Option<u64>,
}

fn needs_field(op: &AggregateOp) -> Result<String, BlazeError> {
    op.field.clone().ok_or_else(|| BlazeError::InvalidQuery {
        reason: format!("aggregate {:?} ({:?}) names no field", op.alias, op.kind),
    })
}

pub(crate) fn to_aggregate(spec: AggregateSpec) -> Result<Aggregate, BlazeError> {
    let mut a = Aggregate::new(spec.collection);
    for f in spec.filters {
        a = a.filter(to_filter(f)?);
    }
    a = a.group_by(spec.group_by);
    for op in spec.aggregates {
        let f = match op.kind {
            AggregateKind::Count => AggregateFn::Count,
            AggregateKind::CountOf => AggregateFn::CountOf(needs_field(&op)?),
            AggregateKind::Sum => AggregateFn::Sum(needs_field(&op)?),
            AggregateKind::Avg => AggregateFn::Avg(needs_field(&op)?),
            AggregateKind::Min => AggregateFn::Min(needs_field(&op)?),
            AggregateKind::Max => AggregateFn::Max(needs_field(&op)?),
        };
        a = a.aggregate(op.alias, f);
    }
    for f in spec.having {
        a = a.having(to_filter(f)?);
    }
    for k in &spec.order_by {
        a = a.order_by(k.field.clone(), k.order());
    }
    if let Some(n) = spec.offset {
        a = a.offset(count_arg("offset", n)?);
    }
    if let Some(n) = spec.limit {
        a = a.limit(count_arg("limit", n)?);
    }
    Ok(a)
}

/// Which rows a join keeps besides the matched pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum JoinKind {
    /// Matched pairs only.
    Inner,
    /// Plus each left record that matched nothing (no right record).
    Left,
    /// Plus each right record that matched nothing (no left record).
    Right,
    /// Plus the unmatched records of both sides.
    Full,
}

/// An equi-join: the left collection's records matching `left_filters`, paired with the
/// right collection's records matching `right_filters`, where `left_field` equals
/// `right_field` (dotted paths; `id` is the record id). A missing or null key never
/// matches. `offset` and `limit` apply to the joined rows, in the core's order.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct JoinSpec {
    pub left_collection: String,
    #[uniffi(default = [])]
    pub left_filters: Vec<QueryFilter>,
    pub left_field: String,
    pub right_collection: String,
    #[uniffi(default = [])]
    pub right_filters: Vec<QueryFilter>,
    pub right_field: String,
    pub kind: JoinKind,
    #[uniffi(default = None)]
    pub offset: Option<u64>,
    #[uniffi(default = None)]
    pub limit: Option<u64>,
}

/// One joined row: both records for a match; `left` is absent only for the unmatched
/// right records of right and full joins, `right` only for the unmatched left records of
/// left and full joins.
#[derive(Clone, Debug, PartialEq, uniffi::Record)]
pub struct JoinedPair {
    pub left: Option<BlazeRecord>,
    pub right: Option<BlazeRecord>,
}

pub(crate) fn to_join(spec: JoinSpec) -> Result<Join, BlazeError> {
    let mut left = Query::new(spec.left_collection);
    for f in spec.left_filters {
        left = left.filter(to_filter(f)?);
    }
    let mut j = Join::new(
        left,
        spec.left_field,
        spec.right_collection,
        spec.right_field,
    )
    .kind(match spec.kind {
        JoinKind::Inner => blazedb::JoinKind::Inner,
        JoinKind::Left => blazedb::JoinKind::Left,
        JoinKind::Right => blazedb::JoinKind::Right,
        JoinKind::Full => blazedb::JoinKind::Full,
    });
    for f in spec.right_filters {
        j = j.right_filter(to_filter(f)?);
    }
    if let Some(n) = spec.offset {
        j = j.offset(count_arg("offset", n)?);
    }
    if let Some(n) = spec.limit {
        j = j.limit(count_arg("limit", n)?);
    }
    Ok(j)
}

pub(crate) fn from_rows(rows: Vec<blazedb::JoinedRow>) -> Vec<JoinedPair> {
    rows.into_iter()
        .map(|r| JoinedPair {
            left: r.left.map(from_record),
            right: r.right.map(from_record),
        })
        .collect()
}
