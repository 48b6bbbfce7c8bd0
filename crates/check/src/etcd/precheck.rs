//! Cheap checks before the replay that need no search: a read that shows a key's kv from
//! revision `m` at base revision `b` is stale if an acknowledged write certainly changed that key
//! in `(m, b]`. No choice among unknown writes can repair that, so it is reported at once
//! instead of being searched for.

use std::collections::BTreeMap;

use super::Context;
use super::classify::Class;
use crate::format::{Request, Response};
use crate::verdict::Violation;

/// Keys that `request` certainly wrote, given its successful `response`.
fn certain_keys<'a>(request: &'a Request, response: Option<&Response>, out: &mut Vec<&'a str>) {
    match request {
        Request::Put { key, .. } => out.push(key),
        Request::DeleteRange {
            key,
            range_end: None,
            ..
        } if response.is_some_and(|r| r.deleted.unwrap_or(r.prev_kvs.len() as i64) > 0) => {
            out.push(key);
        }
        Request::Txn {
            success, failure, ..
        } => {
            let Some(response) = response else { return };
            let Some(succeeded) = response.succeeded else {
                return;
            };
            let branch = if succeeded { success } else { failure };
            for (i, sub) in branch.iter().enumerate() {
                certain_keys(sub, response.responses.get(i), out);
            }
        }
        _ => {}
    }
}

impl Context<'_> {
    /// Every single-key read whose kv an acknowledged write had certainly replaced is stale.
    pub(super) fn check_stale_reads(&self) -> Result<(), Violation> {
        let mut writes: BTreeMap<&str, Vec<(i64, usize)>> = BTreeMap::new();
        // Every writer here is placed for certain: acknowledged, or revealed by a unique value
        // (then without a response, and only its plain put counts).
        for (&rev, &i) in &self.writers {
            let mut keys = Vec::new();
            certain_keys(
                &self.ops[i].request,
                self.ops[i].response.as_ref(),
                &mut keys,
            );
            for key in keys {
                writes.entry(key).or_default().push((rev, i));
            }
        }
        for (i, op) in self.ops.iter().enumerate() {
            let (Class::Reader { rev } | Class::Stale { rev }) = self.classes[i] else {
                continue;
            };
            let Request::Range { revision, .. } = &op.request else {
                continue;
            };
            let Some(response) = &op.response else {
                continue;
            };
            let base = if *revision > 0 { *revision } else { rev };
            for kv in &response.kvs {
                let Some(revs) = writes.get(kv.key.as_str()) else {
                    continue;
                };
                // Writes are in revision order: the first after the kv's mod revision.
                let at = revs.partition_point(|&(r, _)| r <= kv.mod_revision);
                if let Some(&(r, w)) = revs.get(at)
                    && r <= base
                {
                    let what = format!(
                        "shows {}={:?} from revision {} at revision {base}, but {} replaced it at \
                         revision {r}",
                        kv.key,
                        kv.value,
                        kv.mod_revision,
                        self.describe(w)
                    );
                    return Err(self.violation(i, what));
                }
            }
        }
        Ok(())
    }
}
