//! `k8s`: etcd robustness' Kubernetes traffic. Pods under `/registry/pods/default/`, about
//! ten of them: optimistic creates (compare mod revision 0), updates and deletes (compare
//! the mod revision last seen; else read the key), paginated lists (limit 10, every page at
//! the first page's revision, continuing after the last key), and after each list a watch
//! of the prefix from the list's revision + 1 with prev_kv and progress notifications,
//! resumed from the last revision seen when it ends.

use std::collections::BTreeMap;

use invar_mvcc::{DeleteRangeRequest, RangeRequest, RequestOp, TxnRequest, WatchCreateRequest};
use invar_node::{ClientRequest, ClientResponse};

use super::{get, mod_equals, prefix_end, put};
use crate::clients::{Command, Cx, End, Plan, Workload};
use crate::options::NANOS_PER_SECOND;

const PREFIX: &[u8] = b"/registry/pods/default/";
const NAMES: u64 = 20;
const PAGE: i64 = 10;

/// A list in progress: every page at `revision`, the next one starting at `from`.
struct Listing {
    revision: i64,
    from: Vec<u8>,
    seen: BTreeMap<Vec<u8>, i64>,
}

pub(crate) struct K8s {
    /// The pods and their mod revisions, as last seen.
    known: BTreeMap<Vec<u8>, i64>,
    listing: Option<Listing>,
    /// List before writing again (at the start, and after anything failed).
    relist: bool,
    /// Resume the watch from this revision.
    resume: i64,
    /// Which operation the last request was.
    last: Last,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Last {
    Page,
    Write,
    Other,
}

fn pod(n: u64) -> Vec<u8> {
    let mut key = PREFIX.to_vec();
    key.extend_from_slice(format!("pod-{n:02}").as_bytes());
    key
}

impl K8s {
    pub(crate) fn new() -> K8s {
        K8s {
            known: BTreeMap::new(),
            listing: None,
            relist: true,
            resume: 0,
            last: Last::Other,
        }
    }

    fn page(&self, from: Vec<u8>, revision: i64) -> ClientRequest {
        ClientRequest::Range(RangeRequest {
            key: from,
            range_end: prefix_end(PREFIX),
            limit: PAGE,
            revision,
            ..RangeRequest::default()
        })
    }

    /// Txn(If mod(key) == revision Then `then` Else Get(key)): kube-apiserver's
    /// optimistic concurrency.
    fn guarded(key: Vec<u8>, revision: i64, then: RequestOp) -> ClientRequest {
        ClientRequest::Txn(TxnRequest {
            compare: vec![mod_equals(&key, revision)],
            success: vec![then],
            failure: vec![RequestOp::Range(RangeRequest {
                key,
                ..RangeRequest::default()
            })],
        })
    }

    fn write(&mut self, cx: &mut Cx<'_>) -> ClientRequest {
        let count = self.known.len();
        let roll = cx.between(0, 100);
        let create = count < 5 || (count <= 15 && roll < 5);
        let delete = count > 15 || (!create && roll < 10);
        if create || self.known.is_empty() {
            let free: Vec<u64> = (0..NAMES)
                .filter(|&n| !self.known.contains_key(&pod(n)))
                .collect();
            let name = if free.is_empty() {
                cx.between(0, NAMES)
            } else {
                free[cx.between(0, free.len() as u64) as usize]
            };
            let key = pod(name);
            let value = cx.value();
            return K8s::guarded(key.clone(), 0, RequestOp::Put(put(key, value, 0)));
        }
        let keys: Vec<(&Vec<u8>, &i64)> = self.known.iter().collect();
        let (key, &revision) = keys[cx.between(0, keys.len() as u64) as usize];
        let key = key.clone();
        if delete {
            K8s::guarded(
                key.clone(),
                revision,
                RequestOp::DeleteRange(DeleteRangeRequest {
                    key,
                    ..DeleteRangeRequest::default()
                }),
            )
        } else {
            let value = cx.value();
            K8s::guarded(key.clone(), revision, RequestOp::Put(put(key, value, 0)))
        }
    }

    fn learn_txn(&mut self, request: &ClientRequest, response: &ClientResponse) {
        let (ClientRequest::Txn(txn), ClientResponse::Applied(invar_mvcc::Response::Txn(out))) =
            (request, response)
        else {
            return;
        };
        let revision = out.header.revision;
        if out.succeeded {
            match txn.success.first() {
                Some(RequestOp::Put(p)) => {
                    self.known.insert(p.key.clone(), revision);
                }
                Some(RequestOp::DeleteRange(d)) => {
                    self.known.remove(&d.key);
                }
                _ => {}
            }
        } else if let Some(invar_mvcc::ResponseOp::Range(range)) = out.responses.first() {
            let key = txn
                .compare
                .first()
                .map(|c| c.key.clone())
                .unwrap_or_default();
            match range.kvs.first() {
                Some(kv) => self.known.insert(key, kv.mod_revision),
                None => self.known.remove(&key),
            };
        }
    }
}

impl Workload for K8s {
    fn next(&mut self, cx: &mut Cx<'_>) -> Plan {
        if let Some(listing) = &self.listing {
            self.last = Last::Page;
            return Plan::Op(self.page(listing.from.clone(), listing.revision));
        }
        if self.relist {
            self.relist = false;
            self.listing = Some(Listing {
                revision: 0,
                from: PREFIX.to_vec(),
                seen: BTreeMap::new(),
            });
            self.last = Last::Page;
            return Plan::Op(self.page(PREFIX.to_vec(), 0));
        }
        if cx.streams.is_empty() && self.resume > 0 {
            let lifetime_nanos = cx.between(NANOS_PER_SECOND, 15 * NANOS_PER_SECOND);
            cx.command(Command::OpenWatch {
                request: WatchCreateRequest {
                    key: PREFIX.to_vec(),
                    range_end: prefix_end(PREFIX),
                    start_revision: self.resume,
                    progress_notify: true,
                    prev_kv: true,
                    ..WatchCreateRequest::default()
                },
                lifetime_nanos,
            });
            self.resume = 0;
        }
        if cx.percent(10) {
            // A get of one pod, sometimes at an older revision (GetStale).
            self.last = Last::Other;
            let key = pod(cx.between(0, NAMES));
            let request = match get(key) {
                ClientRequest::Range(mut range) if cx.percent(30) => {
                    range.revision = (cx.head - cx.between(0, 20) as i64).max(1);
                    ClientRequest::Range(range)
                }
                other => other,
            };
            return Plan::Op(request);
        }
        self.last = Last::Write;
        Plan::Op(self.write(cx))
    }

    fn outcome(&mut self, _: &mut Cx<'_>, request: &ClientRequest, end: &End<'_>, _: u64) {
        let last = std::mem::replace(&mut self.last, Last::Other);
        let End::Ok(response) = end else {
            self.listing = None;
            self.relist = true;
            return;
        };
        match (last, response) {
            (Last::Page, ClientResponse::Range(range)) => {
                let Some(mut listing) = self.listing.take() else {
                    return;
                };
                if listing.revision == 0 {
                    listing.revision = range.header.revision;
                }
                for kv in &range.kvs {
                    listing.seen.insert(kv.key.clone(), kv.mod_revision);
                }
                match range.kvs.last() {
                    Some(kv) if range.more => {
                        let mut from = kv.key.clone();
                        from.push(0);
                        listing.from = from;
                        self.listing = Some(listing);
                    }
                    _ => {
                        self.known = listing.seen;
                        self.resume = listing.revision + 1;
                    }
                }
            }
            (Last::Write, response) => self.learn_txn(request, response),
            _ => {}
        }
    }

    fn watch_ended(&mut self, _: &mut Cx<'_>, _: invar_node::StreamId, resume: i64) {
        if resume > 0 {
            self.resume = resume;
        } else {
            self.relist = true;
        }
    }
}
