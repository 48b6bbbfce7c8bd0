//! The lessor's durable part: leases (ID, granted TTL, granted-at revision) and the keys
//! attached to them. Expiry is time-driven and belongs to the member: it calls
//! [`Store::lease_revoke`] when the leader decides a lease expired.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{MvccError, Result, backend};
use crate::revision::KeyRange;
use crate::store::{Applied, LEASE_TTL_SECONDS_MAX, Store};
use crate::types::{
    DeleteRangeRequest, LeaseCheckpoint, LeaseGrantRequest, LeaseGrantResponse,
    LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse, ResponseHeader,
};

/// One lease.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Lease {
    /// Granted TTL in seconds.
    pub(crate) ttl_seconds: i64,
    /// The store revision when the lease was granted.
    pub(crate) granted_revision: i64,
    /// The remaining TTL recorded by the last checkpoint, 0 if none (etcd's
    /// `remainingTTL`): a new leader restarts the lease's clock from it.
    pub(crate) remaining_ttl_seconds: i64,
    /// Keys currently attached. Invariant: exactly the live keys whose lease is this one.
    pub(crate) keys: BTreeSet<Vec<u8>>,
}

impl Lease {
    pub(crate) fn new(ttl_seconds: i64, granted_revision: i64) -> Self {
        Lease {
            ttl_seconds,
            granted_revision,
            remaining_ttl_seconds: 0,
            keys: BTreeSet::new(),
        }
    }
}

/// All leases by ID.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    leases: BTreeMap<i64, Lease>,
}

impl Leases {
    pub(crate) fn insert(&mut self, id: i64, lease: Lease) {
        self.leases.insert(id, lease);
    }

    pub(crate) fn contains(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    pub(crate) fn get(&self, id: i64) -> Option<&Lease> {
        self.leases.get(&id)
    }

    pub(crate) fn remove(&mut self, id: i64) -> Option<Lease> {
        self.leases.remove(&id)
    }

    /// Attaches `key` to lease `id`; false if the lease does not exist.
    pub(crate) fn attach(&mut self, id: i64, key: &[u8]) -> bool {
        match self.leases.get_mut(&id) {
            Some(lease) => {
                lease.keys.insert(key.to_vec());
                true
            }
            None => false,
        }
    }

    /// Detaches `key` from lease `id` (no-op if either is gone).
    pub(crate) fn detach(&mut self, id: i64, key: &[u8]) {
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.keys.remove(key);
        }
    }

    pub(crate) fn set_remaining(&mut self, id: i64, remaining_ttl_seconds: i64) {
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.remaining_ttl_seconds = remaining_ttl_seconds;
        }
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.leases.keys().copied()
    }
}

impl Store {
    /// Grants lease `req.id` (chosen by the member; 0 is lease-not-found, as in etcd's lessor)
    /// with `req.ttl` raised to the configured minimum. Does not bump the revision.
    pub fn lease_grant(
        &mut self,
        index: u64,
        req: &LeaseGrantRequest,
    ) -> Result<LeaseGrantResponse> {
        self.begin_apply(index)?;
        if req.id == 0 {
            return Err(MvccError::LeaseNotFound);
        }
        if req.ttl > LEASE_TTL_SECONDS_MAX {
            return Err(MvccError::LeaseTtlTooLarge);
        }
        let ttl = req.ttl.max(self.config.lease_ttl_seconds_min);
        if self.leases.contains(req.id) {
            return Err(MvccError::LeaseExists);
        }
        let granted_revision = self.current_revision;
        let id = req.id;
        self.write(false, |ctx| {
            ctx.lease
                .insert(id, (ttl, granted_revision, 0))
                .map_err(backend)?;
            ctx.leases.insert(id, Lease::new(ttl, granted_revision));
            Ok(())
        })?;
        Ok(LeaseGrantResponse {
            header: ResponseHeader::at(self.current_revision),
            id,
            ttl,
            error: String::new(),
        })
    }

    /// Revokes a lease: deletes its attached keys (sorted) in one revision, if there are any.
    pub fn lease_revoke(
        &mut self,
        index: u64,
        req: &LeaseRevokeRequest,
    ) -> Result<Applied<LeaseRevokeResponse>> {
        self.begin_apply(index)?;
        let Some(lease) = self.leases.get(req.id) else {
            return Err(MvccError::LeaseNotFound);
        };
        let keys: Vec<Vec<u8>> = lease.keys.iter().cloned().collect();
        let id = req.id;
        let ((), events) = self.write(false, |ctx| {
            for key in &keys {
                let request = DeleteRangeRequest {
                    key: key.clone(),
                    ..Default::default()
                };
                ctx.delete_range(&request)?;
            }
            ctx.lease.remove(id).map_err(backend)?;
            ctx.leases.remove(id);
            Ok(())
        })?;
        let response = LeaseRevokeResponse {
            header: ResponseHeader::at(self.current_revision),
        };
        Ok(Applied { response, events })
    }

    /// The granted TTL and (optionally) the attached keys; TTL -1 for an unknown lease.
    pub fn lease_time_to_live(
        &self,
        req: &LeaseTimeToLiveRequest,
    ) -> Result<LeaseTimeToLiveResponse> {
        self.check_usable()?;
        let header = ResponseHeader::at(self.current_revision);
        let Some(lease) = self.leases.get(req.id) else {
            return Ok(LeaseTimeToLiveResponse {
                header,
                id: req.id,
                ttl: -1,
                ..Default::default()
            });
        };
        let keys = if req.keys {
            lease.keys.iter().cloned().collect()
        } else {
            Vec::new()
        };
        Ok(LeaseTimeToLiveResponse {
            header,
            id: req.id,
            ttl: lease.ttl_seconds,
            granted_ttl: lease.ttl_seconds,
            keys,
        })
    }

    /// All lease IDs, ascending.
    pub fn lease_leases(&self) -> Result<LeaseLeasesResponse> {
        self.check_usable()?;
        Ok(LeaseLeasesResponse {
            header: ResponseHeader::at(self.current_revision),
            leases: self.leases.ids().map(|id| LeaseStatus { id }).collect(),
        })
    }

    /// Records lease checkpoints as raft entry `index` (etcd's `LeaseCheckpointRequest`): the
    /// remaining TTLs the leader measured, so that a later leader does not restart leases at
    /// their full TTL. Checkpoints of unknown leases are ignored, as in etcd.
    pub fn lease_checkpoints(&mut self, index: u64, checkpoints: &[LeaseCheckpoint]) -> Result<()> {
        self.begin_apply(index)?;
        let records: Vec<(i64, (i64, i64, i64))> = checkpoints
            .iter()
            .filter_map(|checkpoint| {
                let lease = self.leases.get(checkpoint.id)?;
                let record = (
                    lease.ttl_seconds,
                    lease.granted_revision,
                    checkpoint.remaining_ttl,
                );
                Some((checkpoint.id, record))
            })
            .collect();
        self.write(false, |ctx| {
            for (id, record) in &records {
                ctx.lease.insert(*id, *record).map_err(backend)?;
                ctx.leases.set_remaining(*id, record.2);
            }
            Ok(())
        })?;
        Ok(())
    }

    /// The remaining TTL of the last checkpoint of lease `id` (0: never checkpointed), if the
    /// lease exists.
    pub fn lease_remaining_ttl(&self, id: i64) -> Option<i64> {
        self.leases.get(id).map(|lease| lease.remaining_ttl_seconds)
    }

    /// The revision at which lease `id` was granted, if it exists.
    pub fn lease_granted_revision(&self, id: i64) -> Option<i64> {
        self.leases.get(id).map(|lease| lease.granted_revision)
    }

    /// Keys attached to lease `id`, sorted (empty if the lease does not exist).
    pub fn lease_keys(&self, id: i64) -> Vec<Vec<u8>> {
        self.leases
            .get(id)
            .map(|lease| lease.keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Checks the lease invariant: every live key with a lease is attached to it, and every
    /// attached key is live with that lease (O(keys); for tests and the simulator).
    pub fn check_lease_invariants(&self) -> std::result::Result<(), String> {
        let mut attached = 0usize;
        for (key, entry) in self
            .index
            .live_in(KeyRange::From(&[]), self.current_revision)
        {
            if entry.lease == 0 {
                continue;
            }
            attached += 1;
            match self.leases.get(entry.lease) {
                Some(lease) if lease.keys.contains(key) => {}
                _ => {
                    return Err(format!(
                        "key {key:?} not attached to its lease {}",
                        entry.lease
                    ));
                }
            }
        }
        let total: usize = self
            .leases
            .ids()
            .filter_map(|id| self.leases.get(id))
            .map(|l| l.keys.len())
            .sum();
        if total != attached {
            return Err(format!("{total} attachments for {attached} leased keys"));
        }
        Ok(())
    }
}
