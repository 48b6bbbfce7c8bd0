//! `lease`: each client holds up to two short leases (1 to 6 s), attaches keys of its own
//! to them (under `lease/c<client>/`, never written otherwise, so that only a revoke or an
//! expiry removes them), keeps some alive and lets others lapse, asks for their TTL,
//! revokes some, reads its keys, and watches its prefix with prev_kv so that every
//! deletion is seen.

use invar_mvcc::{
    LeaseGrantRequest, LeaseRevokeRequest, LeaseTimeToLiveRequest, WatchCreateRequest,
};
use invar_node::{ClientRequest, ClientResponse, LeaseKeepAliveRequest};

use super::{list, prefix_end, put};
use crate::clients::{Command, Cx, End, Plan, Workload};
use crate::options::{NANOS_PER_MILLI, NANOS_PER_SECOND};

const HELD_MAX: usize = 2;
const KEYS_PER_LEASE_MAX: u32 = 3;

struct Held {
    id: i64,
    ttl_nanos: u64,
    /// Kept alive; otherwise left to expire.
    keep: bool,
    next_keep_alive: u64,
    keys: u32,
    /// Forgotten after this (a lapsed lease is gone by then).
    forget_at: u64,
    /// Which leader answered its last keep-alive (0: none yet).
    renewed_by: u64,
}

pub(crate) struct Leases {
    prefix: Vec<u8>,
    held: Vec<Held>,
    next_key: u64,
}

impl Leases {
    pub(crate) fn new(client: usize) -> Leases {
        Leases {
            prefix: format!("lease/c{client}/").into_bytes(),
            held: Vec::new(),
            next_key: 0,
        }
    }

    fn lease_of(request: &ClientRequest) -> i64 {
        match request {
            ClientRequest::Put(p) => p.lease,
            ClientRequest::LeaseKeepAlive(k) => k.id,
            ClientRequest::LeaseRevoke(r) => r.id,
            ClientRequest::LeaseTimeToLive(t) => t.id,
            _ => 0,
        }
    }

    fn forget(&mut self, id: i64) {
        self.held.retain(|h| h.id != id);
    }
}

impl Workload for Leases {
    fn next(&mut self, cx: &mut Cx<'_>) -> Plan {
        let now = cx.now;
        self.held.retain(|h| h.keep || h.forget_at > now);
        if cx.streams.is_empty() {
            let lifetime_nanos = cx.between(5 * NANOS_PER_SECOND, 30 * NANOS_PER_SECOND);
            cx.command(Command::OpenWatch {
                request: WatchCreateRequest {
                    key: self.prefix.clone(),
                    range_end: prefix_end(&self.prefix),
                    prev_kv: true,
                    ..WatchCreateRequest::default()
                },
                lifetime_nanos,
            });
        }
        if let Some(held) = self
            .held
            .iter()
            .filter(|h| h.keep && h.next_keep_alive <= now)
            .min_by_key(|h| h.next_keep_alive)
        {
            return Plan::Op(ClientRequest::LeaseKeepAlive(LeaseKeepAliveRequest {
                id: held.id,
            }));
        }
        if self.held.len() < HELD_MAX && cx.percent(30) {
            return Plan::Op(ClientRequest::LeaseGrant(LeaseGrantRequest {
                ttl: cx.between(1, 7) as i64,
                id: 0,
            }));
        }
        if let Some(held) = self.held.iter().find(|h| h.keys < KEYS_PER_LEASE_MAX)
            && cx.percent(60)
        {
            let id = held.id;
            self.next_key += 1;
            let mut key = self.prefix.clone();
            key.extend_from_slice(format!("k{}", self.next_key).as_bytes());
            cx.command(Command::LeaseKey {
                id,
                key: key.clone(),
            });
            return Plan::Op(ClientRequest::Put(put(key, cx.value(), id)));
        }
        let roll = cx.between(0, 100);
        if roll < 5
            && let Some(held) = self.held.first()
        {
            return Plan::Op(ClientRequest::LeaseRevoke(LeaseRevokeRequest {
                id: held.id,
            }));
        }
        if roll < 15
            && let Some(held) = self.held.last()
        {
            return Plan::Quiet(ClientRequest::LeaseTimeToLive(LeaseTimeToLiveRequest {
                id: held.id,
                keys: true,
            }));
        }
        if roll < 40 {
            return Plan::Op(list(&self.prefix));
        }
        Plan::Sleep(cx.between(10 * NANOS_PER_MILLI, 200 * NANOS_PER_MILLI))
    }

    fn outcome(&mut self, cx: &mut Cx<'_>, request: &ClientRequest, end: &End<'_>, invoke: u64) {
        let id = Leases::lease_of(request);
        match (request, end) {
            (
                ClientRequest::LeaseGrant(_),
                End::Ok(ClientResponse::Applied(invar_mvcc::Response::LeaseGrant(grant))),
            ) => {
                cx.command(Command::LeaseGranted {
                    id: grant.id,
                    ttl: grant.ttl,
                    invoke,
                });
                let ttl_nanos = u64::try_from(grant.ttl).unwrap_or(1) * NANOS_PER_SECOND;
                self.held.push(Held {
                    id: grant.id,
                    ttl_nanos,
                    keep: cx.percent(60),
                    next_keep_alive: cx.now + ttl_nanos / 3,
                    keys: 0,
                    forget_at: cx.now + 2 * ttl_nanos,
                    renewed_by: 0,
                });
            }
            (ClientRequest::LeaseKeepAlive(_), End::Ok(ClientResponse::LeaseKeepAlive(alive))) => {
                if alive.ttl <= 0 {
                    self.forget(id);
                    return;
                }
                cx.command(Command::LeaseRenewed {
                    id,
                    ttl: alive.ttl,
                    invoke,
                });
                let leader = alive.header.member_id;
                if let Some(held) = self.held.iter_mut().find(|h| h.id == id) {
                    if held.renewed_by != 0 && held.renewed_by != leader {
                        cx.command(Command::Covered(
                            crate::props::Point::KeepAliveAcrossLeaders,
                        ));
                    }
                    held.renewed_by = leader;
                    held.next_keep_alive = cx.now + held.ttl_nanos / 3;
                }
            }
            (ClientRequest::LeaseKeepAlive(_), _) => {
                // Try again soon; the lease may lapse meanwhile.
                if let Some(held) = self.held.iter_mut().find(|h| h.id == id) {
                    held.next_keep_alive = cx.now + 100 * NANOS_PER_MILLI;
                }
            }
            (ClientRequest::Put(_), End::Ok(response)) => {
                cx.command(Command::LeaseAttached {
                    id,
                    revision: response.header().revision,
                });
                if let Some(held) = self.held.iter_mut().find(|h| h.id == id) {
                    held.keys += 1;
                }
            }
            (ClientRequest::Put(_), End::Failed(_))
            | (ClientRequest::LeaseRevoke(_), End::Ok(_)) => {
                self.forget(id);
            }
            (ClientRequest::LeaseTimeToLive(_), End::Ok(ClientResponse::LeaseTimeToLive(ttl)))
                if ttl.ttl < 0 =>
            {
                self.forget(id);
            }
            _ => {}
        }
    }
}
