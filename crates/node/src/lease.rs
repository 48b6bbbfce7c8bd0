//! The lessor's time-driven part: lease expiry by the leader's clock.
//!
//! The store keeps the durable part (ids, granted TTLs, attached keys). Only the leader
//! (the "primary" lessor, as in etcd) keeps expiry times: when it takes office it gives
//! every lease its full TTL again from its own clock plus one election timeout (etcd's
//! `Promote`: the remaining TTL is `max(checkpointed remaining, TTL)`), so leases do not
//! expire en masse after an election; a grant applied while it leads expires TTL from then;
//! a keep-alive renews TTL from now, once a ReadIndex round confirmed that this member still
//! leads in the term it took the keep-alive in. On a tick, expired leases are revoked through
//! consensus: the leader proposes a LeaseRevoke (at most
//! [`crate::Config::lease_revokes_per_tick_max`] per tick, proposed again after
//! [`crate::Config::lease_revoke_retry_nanos`] if not applied), so every member deletes the
//! lease's keys in the same revision. Followers keep no expiry: a follower's clock never
//! revokes anything, and a member that stops leading forgets its expiry times.

use std::collections::BTreeMap;

use invar_mvcc::{LeaseRevokeRequest, LeaseTimeToLiveRequest, Request, ResponseHeader};
use invar_raft::Term;
use invar_storage::fs::FileSystem;

use crate::codec::{self, Proposal};
use crate::error::{NodeError, RequestError};
use crate::event::{
    ClientResponse, Instant, LeaseKeepAliveRequest, LeaseKeepAliveResponse, RequestId,
};
use crate::member::Member;
use crate::pending::{LeaseRead, ReadKind};

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// The request id of the leader's own revoke proposals: no client write waits on them (a
/// pending write is matched by its log index, and these entries have none).
const EXPIRY_REQUEST_ID: u64 = u64::MAX;

/// Expiry times, kept while this member leads.
#[derive(Debug, Default)]
pub(crate) struct Lessor {
    /// Whether the expiry times are this member's (it leads and promoted them).
    primary: bool,
    /// When each lease expires, by the leader's clock.
    expiries: BTreeMap<i64, Instant>,
    /// Expired leases whose revoke was proposed: when to propose it again.
    revoking: BTreeMap<i64, Instant>,
}

fn seconds(ttl: i64) -> u64 {
    u64::try_from(ttl)
        .unwrap_or(0)
        .saturating_mul(NANOS_PER_SECOND)
}

impl<F: FileSystem> Member<F> {
    /// When lease `id` expires by this leader's clock (`None` on a follower or for an
    /// unknown lease).
    pub fn lease_expiry(&self, id: i64) -> Option<Instant> {
        self.lessor.expiries.get(&id).copied()
    }

    /// The granted TTL of lease `id` in seconds, if it exists.
    fn granted_ttl(&self, id: i64) -> Result<Option<i64>, NodeError> {
        let request = LeaseTimeToLiveRequest { id, keys: false };
        let response = self
            .store
            .lease_time_to_live(&request)
            .map_err(NodeError::Store)?;
        Ok((response.ttl >= 0).then_some(response.ttl))
    }

    /// Promotes or demotes the lessor to match the role (after every event).
    pub(crate) fn lessor_follow_role(&mut self) -> Result<(), NodeError> {
        // Before its first tick a (restarted) member does not know the time: it promotes
        // on that tick, so no lease is timed from a zero clock.
        let leading = self.is_leader() && self.next_tick.is_some();
        if leading == self.lessor.primary {
            return Ok(());
        }
        #[cfg(feature = "defects")]
        if self
            .config
            .has_defect(crate::Defect::LeaseExpiryFollowerClock)
        {
            // The expiry times this member kept by its own clock as a follower stay: no
            // renewal on promotion.
            self.lessor.primary = leading;
            self.lessor.revoking.clear();
            return Ok(());
        }
        self.lessor.expiries.clear();
        self.lessor.revoking.clear();
        self.lessor.primary = leading;
        if !leading {
            return Ok(());
        }
        let extend = u64::from(self.config.raft.election_timeout_ticks)
            .saturating_mul(self.config.tick_interval_nanos);
        let base = self.now.plus_nanos(extend);
        let leases = self.store.lease_leases().map_err(NodeError::Store)?;
        for status in leases.leases {
            let Some(ttl) = self.granted_ttl(status.id)? else {
                continue;
            };
            let remaining = self.store.lease_remaining_ttl(status.id).unwrap_or(0);
            let renewed = base.plus_nanos(seconds(remaining.max(ttl)));
            self.lessor.expiries.insert(status.id, renewed);
        }
        Ok(())
    }

    /// A grant was applied: the leader starts its clock.
    pub(crate) fn lease_granted(&mut self, id: i64, ttl: i64) {
        if self.lessor.primary || self.times_leases_as_follower() {
            let expiry = self.now.plus_nanos(seconds(ttl));
            self.lessor.expiries.insert(id, expiry);
        }
    }

    /// Defect `lease-expiry-follower-clock`: every member times leases by its own clock.
    fn times_leases_as_follower(&self) -> bool {
        #[cfg(feature = "defects")]
        if self
            .config
            .has_defect(crate::Defect::LeaseExpiryFollowerClock)
        {
            return true;
        }
        false
    }

    /// A revoke was applied (or refused: the lease is gone either way).
    pub(crate) fn lease_gone(&mut self, id: i64) {
        self.lessor.expiries.remove(&id);
        self.lessor.revoking.remove(&id);
    }

    /// On a tick: the leader proposes to revoke the leases that expired by its clock.
    pub(crate) fn expire_leases(&mut self) {
        if !self.lessor.primary || !self.is_leader() {
            return;
        }
        let now = self.now;
        let due: Vec<i64> = self
            .lessor
            .expiries
            .iter()
            .filter(|(id, expiry)| {
                **expiry <= now && self.lessor.revoking.get(id).is_none_or(|at| *at <= now)
            })
            .map(|(id, _)| *id)
            .take(self.config.lease_revokes_per_tick_max)
            .collect();
        for id in due {
            let proposal = Proposal {
                member: self.raft.id(),
                request_id: EXPIRY_REQUEST_ID,
                request: Request::LeaseRevoke(LeaseRevokeRequest { id }),
            };
            if self.raft.propose(codec::encode(&proposal)).is_err() {
                return; // Not leading any more, or overloaded: the next tick tries again.
            }
            let retry = now.plus_nanos(self.config.lease_revoke_retry_nanos);
            self.lessor.revoking.insert(id, retry);
        }
    }

    /// A keep-alive or a time-to-live. Only the primary lessor takes them, and it answers
    /// only after a ReadIndex round confirms that it still leads (etcd's `ensureLeadership`
    /// in `LeaseRenew`): a deposed leader that has not noticed yet (cut off, a new leader
    /// elected elsewhere) must not tell the client a TTL that the real leader does not
    /// keep. The answer comes from [`Member::serve_lease_read`].
    pub(crate) fn lease_request(&mut self, id: RequestId, request: LeaseRead) {
        if let Err(error) = self.check_primary() {
            self.reply(id, Err(error));
            return;
        }
        let term = self.raft.term();
        self.read_index(id, ReadKind::Lease { request, term });
    }

    /// Whether this member may take lease requests: it leads and its lessor is promoted.
    fn check_primary(&self) -> Result<(), RequestError> {
        if self.is_leader() && self.lessor.primary {
            return Ok(());
        }
        Err(RequestError::NotLeader {
            leader: self.raft.leader(),
        })
    }

    /// Whether this member is still the primary lessor of `term`, the term it took a lease
    /// request in. A member that stopped leading names the leader it knows; one that leads
    /// again in a later term (its expiry times were renewed meanwhile) says the leader
    /// changed.
    fn check_still_primary(&self, term: Term) -> Result<(), RequestError> {
        if !self.is_leader() {
            return Err(RequestError::NotLeader {
                leader: self.raft.leader(),
            });
        }
        if self.raft.term() != term || !self.lessor.primary {
            return Err(RequestError::LeaderChanged);
        }
        Ok(())
    }

    /// Answers a keep-alive or time-to-live taken in `term` whose ReadIndex round confirmed
    /// this member's leadership and whose read index is applied.
    pub(crate) fn serve_lease_read(
        &mut self,
        request: LeaseRead,
        term: Term,
    ) -> Result<ClientResponse, RequestError> {
        self.check_still_primary(term)?;
        match request {
            LeaseRead::KeepAlive(request) => Ok(self.renew(request)),
            LeaseRead::TimeToLive(request) => self.remaining_ttl(&request),
        }
    }

    /// Renews a lease by this leader's clock: TTL 0 if it is unknown (its grant is applied:
    /// the read index covers every entry committed before the request) or expired (its
    /// revoke is on the way; etcd answers TTL 0 too).
    fn renew(&mut self, request: LeaseKeepAliveRequest) -> ClientResponse {
        let id = request.id;
        let mut response = LeaseKeepAliveResponse {
            header: self.header(),
            id,
            ttl: 0,
        };
        let Some(expiry) = self.lessor.expiries.get(&id).copied() else {
            return ClientResponse::LeaseKeepAlive(response);
        };
        if expiry <= self.now {
            return ClientResponse::LeaseKeepAlive(response);
        }
        let ttl = self.granted_ttl(id).ok().flatten().unwrap_or(0);
        self.lessor
            .expiries
            .insert(id, self.now.plus_nanos(seconds(ttl)));
        response.ttl = ttl;
        ClientResponse::LeaseKeepAlive(response)
    }

    /// The remaining TTL by this leader's clock.
    fn remaining_ttl(
        &self,
        request: &LeaseTimeToLiveRequest,
    ) -> Result<ClientResponse, RequestError> {
        let mut response = self.store.lease_time_to_live(request)?;
        if response.ttl >= 0
            && let Some(expiry) = self.lessor.expiries.get(&request.id)
        {
            let left = expiry.0.saturating_sub(self.now.0) / NANOS_PER_SECOND;
            response.ttl = i64::try_from(left).unwrap_or(i64::MAX);
        }
        Ok(ClientResponse::LeaseTimeToLive(response))
    }

    /// The lease ids this member's store holds.
    pub(crate) fn lease_leases(&self) -> Result<ClientResponse, RequestError> {
        Ok(ClientResponse::LeaseLeases(self.store.lease_leases()?))
    }

    fn header(&self) -> ResponseHeader {
        ResponseHeader {
            revision: self.store.revision(),
            ..ResponseHeader::default()
        }
    }
}
