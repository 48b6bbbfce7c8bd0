//! What clients know about their leases, and the property that a lease's keys outlive it:
//! they may disappear only after a client sent a revoke, or after some member's clock (the
//! only clocks a leader could have timed the lease by) advanced the lease's TTL since its
//! grant or its last acknowledged keep-alive was sent (from a little earlier: a member reads
//! its clock at ticks). A new leader renews every lease, so renewals only delay expiry.
//!
//! The world finds the moment a lease disappears by asking each member's store, whenever
//! that member's revision changed, about the leases its incarnation was seen to hold; and the
//! revision its keys went at, by reading them at the revisions just applied.
//!
//! Expiries are not client operations, but they change the keyspace. As etcd robustness
//! patches its histories with the requests it finds persisted in the WAL, the history gets
//! each expiry the world saw as a revoke at the revision and the moment it was first applied
//! (no client could see it earlier, and every linearizable read that starts later must see
//! it). An expiry whose revision could not be read back (compacted meanwhile) becomes an
//! unknown-outcome revoke invoked at the earliest moment the expiry was allowed.

use std::collections::{BTreeMap, BTreeSet};

use invar_check::format::{OpRecord, Request, Response};
use invar_mvcc::RangeRequest;

use crate::options::{Injection, NANOS_PER_SECOND};
use crate::props::{Point, Violated};
use crate::world::World;

/// One lease, as its client knows it.
#[derive(Clone, Debug)]
pub(crate) struct LeaseFacts {
    /// The granted TTL.
    ttl_nanos: u64,
    /// When the grant or the last acknowledged keep-alive was sent.
    since: u64,
    /// When a client first sent a revoke.
    revoked_at: Option<u64>,
    /// When it was first seen gone, and the revision its keys went at (if read back).
    gone: Option<(u64, Option<i64>)>,
    /// Keys put with it (acknowledged or not).
    keys: BTreeSet<Vec<u8>>,
    /// The lowest revision of an acknowledged put with it: it existed then, so a member at
    /// or past that revision without it has applied its revoke.
    attached_revision: Option<i64>,
}

/// Every lease a client was granted.
#[derive(Debug, Default)]
pub(crate) struct LeaseBook {
    leases: BTreeMap<i64, LeaseFacts>,
}

impl LeaseBook {
    /// A put of `key` with the lease was sent.
    pub(crate) fn key_attached(&mut self, id: i64, key: Vec<u8>) {
        if let Some(facts) = self.leases.get_mut(&id) {
            facts.keys.insert(key);
        }
    }

    /// A put with the lease was acknowledged at `revision`.
    pub(crate) fn attached_at(&mut self, id: i64, revision: i64) {
        if let Some(facts) = self.leases.get_mut(&id) {
            let at = facts.attached_revision.get_or_insert(revision);
            *at = (*at).min(revision);
        }
    }

    /// A client sends a revoke now.
    pub(crate) fn revoking(&mut self, id: i64, now: u64) {
        if let Some(facts) = self.leases.get_mut(&id) {
            facts.revoked_at.get_or_insert(now);
        }
    }

    /// Leases not yet seen gone.
    pub(crate) fn open(&self) -> Vec<i64> {
        self.leases
            .iter()
            .filter(|(_, f)| f.gone.is_none())
            .map(|(&id, _)| id)
            .collect()
    }
}

fn seconds(ttl: i64) -> u64 {
    u64::try_from(ttl)
        .unwrap_or(0)
        .saturating_mul(NANOS_PER_SECOND)
}

impl World {
    /// A grant sent at `invoke` was acknowledged.
    pub(crate) fn lease_granted(&mut self, id: i64, ttl: i64, invoke: u64) {
        let fresh = LeaseFacts {
            ttl_nanos: seconds(ttl),
            since: invoke,
            revoked_at: None,
            gone: None,
            keys: BTreeSet::new(),
            attached_revision: None,
        };
        match self.leases.leases.get(&id) {
            // An id may be granted again once its lease is gone (etcd draws ids at random).
            Some(old) if old.gone.is_none() => {}
            _ => {
                self.leases.leases.insert(id, fresh);
            }
        }
        if self.injects(Injection::EarlyLeaseLoss) {
            // Reported gone at once: the property must refuse it.
            if let Err(violated) = self.lease_gone(id, None) {
                self.violated.get_or_insert(violated);
            }
        }
    }

    /// A keep-alive sent at `invoke` was answered: the lease lives `ttl` seconds from some
    /// moment after `invoke`. If it was already seen gone, that must have been allowed from
    /// `invoke` on too (a renewal of a lease that is gone breaks the property).
    pub(crate) fn lease_renewed(&mut self, id: i64, ttl: i64, invoke: u64) -> Result<(), Violated> {
        let Some(facts) = self.leases.leases.get_mut(&id) else {
            return Ok(());
        };
        if ttl <= 0 {
            return Ok(());
        }
        facts.since = facts.since.max(invoke);
        facts.ttl_nanos = seconds(ttl);
        let Some((gone, _)) = facts.gone else {
            return Ok(());
        };
        let facts = facts.clone();
        let advanced = self.clock_advance_between(invoke, gone);
        let revoked = facts.revoked_at.is_some_and(|at| at <= gone);
        self.props.always_or_unreachable(
            Point::LeaseKeysOutliveLease,
            revoked || (gone >= invoke && advanced >= facts.ttl_nanos),
            || {
                format!(
                    "lease {id}: a keep-alive sent at {} ms was answered with TTL {ttl} s, but \
                     the lease was already gone at {} ms and no client revoked it",
                    invoke / 1_000_000,
                    gone / 1_000_000
                )
            },
        )
    }

    /// After `slot`'s revision changed from `previous`: which leases are gone there now. A
    /// lease is gone on a member that does not have it if this incarnation had it before, or
    /// if the member is past the revision of an acknowledged put with it.
    pub(crate) fn observe_leases(&mut self, slot: usize, previous: i64) -> Result<(), Violated> {
        let open = self.leases.open();
        if open.is_empty() {
            return Ok(());
        }
        let Some(member) = self.slots[slot].member.as_ref() else {
            return Ok(());
        };
        let revision = member.store().revision();
        let presence: Vec<(i64, bool, bool)> = open
            .into_iter()
            .map(|id| {
                let attached = self
                    .leases
                    .leases
                    .get(&id)
                    .and_then(|f| f.attached_revision);
                let present = member.store().lease_granted_revision(id).is_some();
                (id, present, attached.is_some_and(|a| a <= revision))
            })
            .collect();
        let mut gone = Vec::new();
        for (id, present, past_attach) in presence {
            let held = &mut self.slots[slot].leases;
            if present {
                held.insert(id);
            } else if held.remove(&id) || past_attach {
                gone.push(id);
            }
        }
        for id in gone {
            let revision = self.revoke_revision(slot, id, previous);
            self.lease_gone(id, revision)?;
        }
        Ok(())
    }

    /// The revision in `(previous, now]` at which one of lease `id`'s keys went away on
    /// `slot`'s member, if it can still be read.
    fn revoke_revision(&self, slot: usize, id: i64, previous: i64) -> Option<i64> {
        let facts = self.leases.leases.get(&id)?;
        let store = self.slots[slot].member.as_ref()?.store();
        let current = store.revision();
        let low = previous.max(store.compact_revision()).max(1);
        let attached_at = |key: &Vec<u8>, revision: i64| {
            let read = store.range(&RangeRequest {
                key: key.clone(),
                revision,
                ..RangeRequest::default()
            });
            read.ok()
                .and_then(|r| r.kvs.into_iter().next())
                .is_some_and(|kv| kv.lease == id)
        };
        (low + 1..=current).find(|&revision| {
            facts
                .keys
                .iter()
                .any(|key| attached_at(key, revision - 1) && !attached_at(key, revision))
        })
    }

    /// How far the most advanced member clock moved from a little before `from` to `to`. A
    /// member reads its clock at ticks, so a request it handles at `from` is timed by its
    /// clock at its last tick, up to a tick interval (two, with drift) earlier; a clock that
    /// jumped forward in that window is what it reads next.
    fn clock_advance_between(&self, from: u64, to: u64) -> u64 {
        let from = from.saturating_sub(2 * self.schedule.profile.tick_nanos);
        self.slots
            .iter()
            .map(|s| s.clock.advanced(from, to))
            .max()
            .unwrap_or(0)
    }

    /// Lease `id` was first seen gone (its keys at `revision`, first applied anywhere at the
    /// moment that revision was first reached): was that allowed?
    fn lease_gone(&mut self, id: i64, revision: Option<i64>) -> Result<(), Violated> {
        let now = revision.map_or(self.now, |r| self.first_reached_at(r).min(self.now));
        let Some(facts) = self.leases.leases.get_mut(&id) else {
            return Ok(());
        };
        if facts.gone.is_some() {
            return Ok(());
        }
        facts.gone = Some((now, revision));
        let facts = facts.clone();
        let revoked = facts.revoked_at.is_some_and(|at| at <= now);
        let advanced = self.clock_advance_between(facts.since, now);
        let expired = advanced >= facts.ttl_nanos;
        if !revoked {
            self.props.sometimes(Point::LeaseExpired, expired);
        }
        self.props
            .always_or_unreachable(Point::LeaseKeysOutliveLease, revoked || expired, || {
                format!(
                    "lease {id} (TTL {} ms) vanished at {} ms, {} ms after its last renewal \
                     was sent (the clocks advanced at most {} ms), and no client revoked it",
                    facts.ttl_nanos / 1_000_000,
                    now / 1_000_000,
                    now.saturating_sub(facts.since) / 1_000_000,
                    advanced / 1_000_000,
                )
            })
    }

    /// At the end: a lease whose revoke no member was seen applying (every member that held
    /// it restarted before, and replayed the revoke with the puts in one batch) is found
    /// missing on the most advanced member, and its keys' revision looked for in its history.
    fn sweep_leases(&mut self) -> Result<(), Violated> {
        let Some(slot) = self
            .up_slots()
            .into_iter()
            .max_by_key(|&s| self.slots[s].member.as_ref().map(|m| m.store().revision()))
        else {
            return Ok(());
        };
        for id in self.leases.open() {
            let Some(member) = self.slots[slot].member.as_ref() else {
                return Ok(());
            };
            if member.store().lease_granted_revision(id).is_some() {
                continue;
            }
            let revision = self.revoke_revision(slot, id, 0);
            self.lease_gone(id, revision)?;
        }
        Ok(())
    }

    /// The lease expiries for the history: every lease with keys that went away while no
    /// acknowledged client revoke explains it.
    pub(crate) fn expiry_records(&mut self) -> Result<Vec<OpRecord>, Violated> {
        self.sweep_leases()?;
        let slack = 2 * self.schedule.profile.tick_nanos;
        let revoked_ok: BTreeSet<i64> = self
            .recorder
            .ops()
            .iter()
            .filter_map(|op| match (&op.request, &op.response) {
                (Request::LeaseRevoke { id }, Some(_)) => Some(*id),
                _ => None,
            })
            .collect();
        let gone: Vec<(i64, LeaseFacts)> = self
            .leases
            .leases
            .iter()
            .filter(|(id, f)| f.gone.is_some() && !f.keys.is_empty() && !revoked_ok.contains(id))
            .map(|(&id, f)| (id, f.clone()))
            .collect();
        let mut out = Vec::new();
        for (id, facts) in gone {
            let Some((at, revision)) = facts.gone else {
                continue;
            };
            let client = self.recorder.fresh_client();
            let record = match revision {
                Some(revision) => OpRecord {
                    client,
                    invoke: at,
                    return_time: Some(at),
                    request: Request::LeaseRevoke { id },
                    response: Some(Response {
                        revision,
                        ..Response::default()
                    }),
                    error: None,
                },
                None => {
                    let from = facts.since.saturating_sub(slack);
                    let earliest = self
                        .slots
                        .iter()
                        .map(|s| s.clock.first_advanced(from, facts.ttl_nanos, at))
                        .min()
                        .unwrap_or(facts.since)
                        .clamp(facts.since, at);
                    OpRecord {
                        client,
                        invoke: earliest,
                        return_time: None,
                        request: Request::LeaseRevoke { id },
                        response: None,
                        error: None,
                    }
                }
            };
            out.push(record);
        }
        Ok(out)
    }
}
