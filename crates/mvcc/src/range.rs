//! Range: etcd's `rangeKeys` (revision checks, count, limit+1) followed by `executeRange`
//! (mod/create revision filters, sort, limit, `more`, keys_only).

use std::cmp::Ordering;

use redb::ReadableTable;

use crate::batch::with_kv;
use crate::error::{MvccError, Result};
use crate::index::{IndexEntry, KeyIndex};
use crate::revision::{KeyRange, RevisionKey};
use crate::store::Store;
use crate::types::{KeyValue, RangeRequest, RangeResponse, ResponseHeader, SortOrder, SortTarget};
use crate::validate;

/// Serves `req` against `index` and `table` as they are at revision `view_revision`.
pub(crate) fn range_at<T>(
    index: &KeyIndex,
    table: &T,
    view_revision: i64,
    compact_revision: i64,
    req: &RangeRequest,
) -> Result<RangeResponse>
where
    T: ReadableTable<RevisionKey, &'static [u8]>,
{
    if req.revision > view_revision {
        return Err(MvccError::FutureRevision);
    }
    let at = if req.revision <= 0 {
        view_revision
    } else {
        req.revision
    };
    if at < compact_revision {
        return Err(MvccError::Compacted);
    }
    let header = ResponseHeader::at(view_revision);
    let live = index.live_in(KeyRange::new(&req.key, &req.range_end), at);
    if req.count_only {
        let count = i64::try_from(live.count()).unwrap_or(i64::MAX);
        return Ok(RangeResponse {
            header,
            kvs: Vec::new(),
            more: false,
            count,
        });
    }
    let (kvs, count) = fetch(table, live, fetch_max(req))?;
    let mut kvs = kvs;
    filter(&mut kvs, req);
    sort(&mut kvs, req);
    let mut more = false;
    if let Ok(limit) = usize::try_from(req.limit)
        && limit > 0
        && kvs.len() > limit
    {
        kvs.truncate(limit);
        more = true;
    }
    if req.keys_only {
        for kv in &mut kvs {
            kv.value = Vec::new();
        }
    }
    Ok(RangeResponse {
        header,
        kvs,
        more,
        count,
    })
}

/// How many kvs to read: etcd fetches `limit + 1` so that `more` can be told, and everything
/// when it sorts or filters.
fn fetch_max(req: &RangeRequest) -> usize {
    let fetch_all = req.sort_order != SortOrder::None
        || req.min_mod_revision != 0
        || req.max_mod_revision != 0
        || req.min_create_revision != 0
        || req.max_create_revision != 0;
    if fetch_all || req.limit <= 0 {
        usize::MAX
    } else {
        usize::try_from(req.limit)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
    }
}

/// Reads up to `fetch_max` of the live entries' records; returns them and the total count.
fn fetch<'a, T>(
    table: &T,
    live: impl Iterator<Item = (&'a [u8], &'a IndexEntry)>,
    fetch_max: usize,
) -> Result<(Vec<KeyValue>, i64)>
where
    T: ReadableTable<RevisionKey, &'static [u8]>,
{
    let mut count = 0i64;
    let mut kvs = Vec::new();
    for (key, entry) in live {
        count += 1;
        if kvs.len() >= fetch_max {
            continue;
        }
        let record = Store::read_record(table, entry.revision)?;
        if record.tombstone || record.kv.key != key {
            let revision = entry.revision;
            return Err(MvccError::Corrupted(format!(
                "kv record at {revision:?} does not match the index entry for {key:?}"
            )));
        }
        kvs.push(record.kv);
    }
    Ok((kvs, count))
}

fn filter(kvs: &mut Vec<KeyValue>, req: &RangeRequest) {
    if req.max_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision <= req.max_mod_revision);
    }
    if req.min_mod_revision != 0 {
        kvs.retain(|kv| kv.mod_revision >= req.min_mod_revision);
    }
    if req.max_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision <= req.max_create_revision);
    }
    if req.min_create_revision != 0 {
        kvs.retain(|kv| kv.create_revision >= req.min_create_revision);
    }
}

/// Sorts as etcd does, except that ties keep key order (etcd's sort is not stable).
fn sort(kvs: &mut [KeyValue], req: &RangeRequest) {
    let order = match (req.sort_order, req.sort_target) {
        (SortOrder::None, SortTarget::Key) => return,
        (SortOrder::None, _) => SortOrder::Ascend,
        (order, _) => order,
    };
    let by_target = |a: &KeyValue, b: &KeyValue| -> Ordering {
        match req.sort_target {
            SortTarget::Key => a.key.cmp(&b.key),
            SortTarget::Version => a.version.cmp(&b.version),
            SortTarget::Create => a.create_revision.cmp(&b.create_revision),
            SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
            SortTarget::Value => a.value.cmp(&b.value),
        }
    };
    match order {
        SortOrder::Descend => kvs.sort_by(|a, b| by_target(b, a)),
        _ => kvs.sort_by(by_target),
    }
}

impl Store {
    /// Serves a Range at the current revision (a read: consumes no raft index).
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse> {
        self.check_usable()?;
        validate::check_range(req)?;
        with_kv!(self, |table| range_at(
            &self.index,
            &table,
            self.current_revision,
            self.compact_revision,
            req,
        ))
    }
}
