//! Writes inside one redb transaction: put and delete as etcd's `storeTxnWrite` does them,
//! plus the standalone Put and DeleteRange requests.

use redb::Table;

use crate::codec;
use crate::error::{MvccError, Result, backend};
use crate::index::KeyIndex;
use crate::lease::Leases;
use crate::range::range_at;
use crate::revision::{KeyRange, Revision, RevisionKey};
use crate::store::{Applied, Store};
use crate::types::{
    DeleteRangeRequest, DeleteRangeResponse, Event, EventType, KeyValue, PutRequest, PutResponse,
    RangeRequest, ResponseHeader,
};
use crate::validate;

/// One write transaction in progress: tables, index and leases are changed together.
///
/// Invariant: every change appends one event; all changes share main revision
/// `begin_revision + 1` and take sub revisions 0, 1, 2, … in order.
pub(crate) struct WriteCtx<'txn> {
    pub(crate) kv: Table<'txn, RevisionKey, &'static [u8]>,
    pub(crate) lease: Table<'txn, i64, (i64, i64, i64)>,
    pub(crate) index: &'txn mut KeyIndex,
    pub(crate) leases: &'txn mut Leases,
    pub(crate) begin_revision: i64,
    pub(crate) compact_revision: i64,
    pub(crate) changes: Vec<Event>,
    /// What to reverse if the transaction fails midway, newest last.
    pub(crate) undo: Vec<Undo>,
}

/// One change made by a write transaction, for rolling it back.
#[derive(Debug)]
pub(crate) enum Undo {
    /// A record was inserted into the kv table at this (new) revision.
    Record(RevisionKey),
    /// An entry was pushed onto this key's index history.
    IndexPush(Vec<u8>),
    /// The key was attached to the lease.
    Attach(i64, Vec<u8>),
    /// The key was detached from the lease.
    Detach(i64, Vec<u8>),
}

impl WriteCtx<'_> {
    /// Reverses every change, in memory and in the redb transaction (which may be a batch's,
    /// holding other entries' changes too).
    pub(crate) fn roll_back(&mut self) -> Result<()> {
        while let Some(undo) = self.undo.pop() {
            match undo {
                Undo::Record(revision) => {
                    let removed = self.kv.remove(revision).map_err(backend)?;
                    assert!(removed.is_some(), "rolled back a record never inserted");
                }
                Undo::IndexPush(key) => self.index.pop(&key),
                Undo::Attach(lease, key) => self.leases.detach(lease, &key),
                Undo::Detach(lease, key) => {
                    self.leases.attach(lease, &key);
                }
            }
        }
        self.changes.clear();
        Ok(())
    }

    /// Inserts the record of a new revision. Revisions only grow, so a record already there
    /// means the file holds revisions above its current revision: corrupt.
    fn insert_record(&mut self, revision: Revision, record: &[u8]) -> Result<()> {
        let key = revision.to_key();
        let overwritten = self.kv.insert(key, record).map_err(backend)?.is_some();
        if overwritten {
            return Err(MvccError::Corrupted(format!(
                "a record at revision {revision:?}, above the current revision"
            )));
        }
        self.undo.push(Undo::Record(key));
        Ok(())
    }

    /// The revision reads inside the transaction see: its own changes included.
    pub(crate) fn view_revision(&self) -> i64 {
        self.begin_revision + i64::from(!self.changes.is_empty())
    }

    fn next_revision(&self) -> Revision {
        let sub = i64::try_from(self.changes.len()).unwrap_or(i64::MAX);
        Revision {
            main: self.begin_revision + 1,
            sub,
        }
    }

    /// A range that sees this transaction's own changes.
    pub(crate) fn range(&self, req: &RangeRequest) -> Result<crate::types::RangeResponse> {
        range_at(
            self.index,
            &self.kv,
            self.view_revision(),
            self.compact_revision,
            req,
        )
    }

    /// The live kv of one key as this transaction sees it.
    fn current(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        let request = RangeRequest {
            key: key.to_vec(),
            ..Default::default()
        };
        Ok(self.range(&request)?.kvs.into_iter().next())
    }

    /// Executes a validated, checked put (etcd's `put` in `txn/put.go`).
    pub(crate) fn put(&mut self, req: &PutRequest) -> Result<PutResponse> {
        let previous = if req.prev_kv || req.ignore_value || req.ignore_lease {
            self.current(&req.key)?
        } else {
            None
        };
        let (value, lease) = match (&previous, req.ignore_value, req.ignore_lease) {
            (None, true, _) | (None, _, true) => return Err(MvccError::KeyNotFound),
            (Some(prev), ignore_value, ignore_lease) => (
                if ignore_value {
                    prev.value.clone()
                } else {
                    req.value.clone()
                },
                if ignore_lease { prev.lease } else { req.lease },
            ),
            (None, false, false) => (req.value.clone(), req.lease),
        };
        let revision = self.next_revision();
        let (entry, old) = self.index.put(&req.key, revision, lease);
        self.undo.push(Undo::IndexPush(req.key.clone()));
        let kv = KeyValue {
            key: req.key.clone(),
            create_revision: entry.create_revision,
            mod_revision: revision.main,
            version: entry.version,
            value,
            lease,
        };
        self.insert_record(revision, &codec::encode(&kv, false))?;
        let old_lease = old.map_or(0, |old| old.lease);
        if old_lease != lease {
            if old_lease != 0 {
                self.leases.detach(old_lease, &req.key);
                self.undo.push(Undo::Detach(old_lease, req.key.clone()));
            }
            if lease != 0 {
                if !self.leases.attach(lease, &req.key) {
                    return Err(MvccError::Backend(format!(
                        "put attached missing lease {lease}"
                    )));
                }
                self.undo.push(Undo::Attach(lease, req.key.clone()));
            }
        }
        self.changes.push(Event {
            r#type: EventType::Put,
            kv,
            prev_kv: None,
        });
        Ok(PutResponse {
            header: ResponseHeader::at(revision.main),
            prev_kv: if req.prev_kv { previous } else { None },
        })
    }

    /// Executes a validated delete (etcd's `deleteRange` in `txn/delete.go`).
    pub(crate) fn delete_range(&mut self, req: &DeleteRangeRequest) -> Result<DeleteRangeResponse> {
        let prev_kvs = if req.prev_kv {
            let request = RangeRequest {
                key: req.key.clone(),
                range_end: req.range_end.clone(),
                ..Default::default()
            };
            self.range(&request)?.kvs
        } else {
            Vec::new()
        };
        let view = self.view_revision();
        let keys: Vec<Vec<u8>> = self
            .index
            .live_in(KeyRange::new(&req.key, &req.range_end), view)
            .map(|(key, _)| key.to_vec())
            .collect();
        for key in &keys {
            let revision = self.next_revision();
            let Some(ended) = self.index.tombstone(key, revision) else {
                return Err(MvccError::Backend(
                    "deleted key vanished from the index".into(),
                ));
            };
            self.undo.push(Undo::IndexPush(key.clone()));
            let tombstone = KeyValue {
                key: key.clone(),
                ..Default::default()
            };
            self.insert_record(revision, &codec::encode(&tombstone, true))?;
            if ended.lease != 0 {
                self.leases.detach(ended.lease, key);
                self.undo.push(Undo::Detach(ended.lease, key.clone()));
            }
            let kv = KeyValue {
                key: key.clone(),
                mod_revision: revision.main,
                ..Default::default()
            };
            self.changes.push(Event {
                r#type: EventType::Delete,
                kv,
                prev_kv: None,
            });
        }
        let deleted = i64::try_from(keys.len()).unwrap_or(i64::MAX);
        let revision = if self.changes.is_empty() {
            self.begin_revision
        } else {
            self.begin_revision + 1
        };
        Ok(DeleteRangeResponse {
            header: ResponseHeader::at(revision),
            deleted,
            prev_kvs,
        })
    }
}

impl Store {
    /// Applies a Put as raft entry `index`.
    pub fn put(&mut self, index: u64, req: &PutRequest) -> Result<Applied<PutResponse>> {
        self.begin_apply(index)?;
        validate::check_put(req)?;
        if req.lease != 0 && !self.leases.contains(req.lease) {
            return Err(MvccError::LeaseNotFound);
        }
        if (req.ignore_value || req.ignore_lease)
            && self.index.get(&req.key, self.current_revision).is_none()
        {
            return Err(MvccError::KeyNotFound);
        }
        let (response, events) = self.write(false, |ctx| ctx.put(req))?;
        Ok(Applied { response, events })
    }

    /// Applies a DeleteRange as raft entry `index`; deleting nothing keeps the revision.
    pub fn delete_range(
        &mut self,
        index: u64,
        req: &DeleteRangeRequest,
    ) -> Result<Applied<DeleteRangeResponse>> {
        self.begin_apply(index)?;
        validate::check_delete(req)?;
        let (response, events) = self.write(false, |ctx| ctx.delete_range(req))?;
        Ok(Applied { response, events })
    }
}
