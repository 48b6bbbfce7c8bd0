//! The cluster API: MemberAdd, MemberRemove, MemberPromote (raft conf changes, one at a
//! time, proposed by the leader only), MemberList and MoveLeader, and the apply of committed
//! conf changes to the member list.
//!
//! # Rules (etcd's)
//!
//! - A new member's id is the request's (an Invar extension) or drawn from the leader's
//!   seeded generator (etcd hashes the peer URLs with the wall clock); it must never have
//!   been a member ("member ID already exist"), and its peer URLs must be free ("Peer URLs
//!   already exists").
//! - At most [`crate::Config::learners_max`] learners ("too many learner members in
//!   cluster"); only a learner is promoted ("can only promote a learner member"), and only
//!   once its match index is at least 90% of the leader's last index ("... which is in sync
//!   with leader"), as etcd's `isLearnerReady`.
//! - With [`crate::Config::strict_reconfig_check`], adding or promoting a voter needs a
//!   quorum of the future voters started, removing a voter needs a quorum of the remaining
//!   voters started ("re-configuration failed due to not enough started members"). etcd
//!   counts members that published their attributes; here a voter is started when this
//!   leader heard from it within an election timeout (itself always).
//! - A conf change that raft refuses (another one pending, or this leader has not committed
//!   an entry of its term yet) answers "too many requests": retry.
//! - MemberList is served from the applied member list, after a ReadIndex round when
//!   `linearizable` is set (etcd 3.5+).
//! - MoveLeader: on the leader only ("not leader"), to a voter ("bad leader transferee");
//!   answered when the target leads, or "request timed out".

use invar_raft::{ConfChange, ConfChangeKind, Entry, NodeId};
use invar_storage::fs::FileSystem;

use crate::api::{MemberAddRequest, MemberAddResponse, MemberAttributes, MembersResponse};
use crate::cluster::{self, ConfContext, ConfOp};
use crate::error::RequestError;
use crate::event::{ClientResponse, RequestId};
use crate::member::Member;
use crate::pending::PendingTransfer;
use crate::ready::Outcome;

const MEMBER_ID_DRAWS_MAX: u32 = 16;

/// etcd's `readyPercentThreshold`: a learner is promoted once it matched this share of the
/// leader's log.
const LEARNER_READY_PERCENT: u64 = 90;

impl<F: FileSystem> Member<F> {
    fn leader_only(&mut self, id: RequestId) -> bool {
        if self.is_leader() {
            return true;
        }
        let leader = self.raft.leader();
        self.reply(id, Err(RequestError::NotLeader { leader }));
        false
    }

    pub(crate) fn members_response(&self) -> MembersResponse {
        MembersResponse {
            header: invar_mvcc::ResponseHeader {
                revision: self.store.revision(),
                ..Default::default()
            },
            members: self.cluster.list(),
        }
    }

    pub(crate) fn member_list(&self) -> ClientResponse {
        ClientResponse::Members(self.members_response())
    }

    /// Whether `id` is a started voter: this member, or a peer heard from within an
    /// election timeout.
    fn started(&self, id: NodeId) -> bool {
        if id == self.raft.id() {
            return true;
        }
        let window = u64::from(self.config.raft.election_timeout_ticks)
            .saturating_mul(self.config.tick_interval_nanos);
        self.peer_heard
            .get(&id)
            .is_some_and(|heard| heard.plus_nanos(window) >= self.now)
    }

    /// (voters, started voters), leaving `except` out.
    fn voters_started(&self, except: Option<NodeId>) -> (usize, usize) {
        let voters: Vec<NodeId> = self
            .cluster
            .voters()
            .filter(|v| Some(*v) != except)
            .collect();
        let started = voters.iter().filter(|v| self.started(**v)).count();
        (voters.len(), started)
    }

    /// etcd's `IsReadyToAddVotingMember` (and `IsReadyToPromoteMember`: the learner counts as
    /// started).
    fn ready_to_add_voter(&self, promoting: bool) -> bool {
        let (voters, started) = self.voters_started(None);
        let members = voters + 1;
        let started = started + usize::from(promoting);
        if !promoting && started == 1 && members == 2 {
            return true; // Growing a one-member cluster.
        }
        started > members / 2
    }

    fn proposes_conf_change(&mut self, id: RequestId, change: &ConfChange) {
        let proposed = self.raft.propose_conf_change(change);
        self.track_proposal(id, proposed);
    }

    fn fresh_member_id(&mut self) -> NodeId {
        let mut id = 1;
        for _ in 0..MEMBER_ID_DRAWS_MAX {
            id = self.rng.next_u64().max(1);
            if !self.cluster.members.contains_key(&id) && !self.cluster.removed.contains(&id) {
                break;
            }
        }
        id
    }

    fn context(&self, op: ConfOp, id: RequestId, attributes: MemberAttributes) -> Vec<u8> {
        cluster::encode_context(&ConfContext {
            op,
            proposer: self.raft.id(),
            request_id: id,
            attributes,
        })
    }

    pub(crate) fn member_add(&mut self, id: RequestId, request: MemberAddRequest) {
        if !self.leader_only(id) {
            return;
        }
        if request.peer_urls.is_empty() || request.peer_urls.iter().any(String::is_empty) {
            self.reply(id, Err(RequestError::MemberBadUrls));
            return;
        }
        let new_id = match request.id {
            0 => self.fresh_member_id(),
            given => given,
        };
        let taken = self.cluster.members.values().any(|m| {
            m.peer_urls
                .iter()
                .any(|url| request.peer_urls.contains(url))
        });
        let error = if self.cluster.members.contains_key(&new_id)
            || self.cluster.removed.contains(&new_id)
        {
            Some(RequestError::MemberExists)
        } else if taken {
            Some(RequestError::PeerUrlExists)
        } else if request.is_learner && self.cluster.learners() >= self.config.learners_max {
            Some(RequestError::TooManyLearners)
        } else if !request.is_learner
            && self.config.strict_reconfig_check
            && !self.ready_to_add_voter(false)
        {
            Some(RequestError::NotEnoughStartedMembers)
        } else {
            None
        };
        if let Some(error) = error {
            self.reply(id, Err(error));
            return;
        }
        let attributes = MemberAttributes {
            name: String::new(),
            peer_urls: request.peer_urls,
            client_urls: Vec::new(),
        };
        let change = ConfChange {
            kind: if request.is_learner {
                ConfChangeKind::AddLearner
            } else {
                ConfChangeKind::AddVoter
            },
            node_id: new_id,
            context: self.context(ConfOp::Add, id, attributes),
        };
        self.proposes_conf_change(id, &change);
    }

    pub(crate) fn member_remove(&mut self, id: RequestId, target: NodeId) {
        if !self.leader_only(id) {
            return;
        }
        let Some(member) = self.cluster.members.get(&target) else {
            self.reply(id, Err(RequestError::MemberNotFound));
            return;
        };
        if !member.is_learner {
            let (remaining, started) = self.voters_started(Some(target));
            let strict_refuses = self.config.strict_reconfig_check && started <= remaining / 2;
            if remaining == 0 || strict_refuses {
                self.reply(id, Err(RequestError::NotEnoughStartedMembers));
                return;
            }
        }
        let change = ConfChange {
            kind: ConfChangeKind::RemoveNode,
            node_id: target,
            context: self.context(ConfOp::Remove, id, MemberAttributes::default()),
        };
        self.proposes_conf_change(id, &change);
    }

    pub(crate) fn member_promote(&mut self, id: RequestId, target: NodeId) {
        if !self.leader_only(id) {
            return;
        }
        let Some(member) = self.cluster.members.get(&target) else {
            self.reply(id, Err(RequestError::MemberNotFound));
            return;
        };
        if !member.is_learner {
            self.reply(id, Err(RequestError::MemberNotLearner));
            return;
        }
        let matched = self.raft.progress(target).map_or(0, |p| p.match_index);
        let last = self.raft.last_index();
        if matched.saturating_mul(100) < last.saturating_mul(LEARNER_READY_PERCENT) {
            self.reply(id, Err(RequestError::LearnerNotReady));
            return;
        }
        if self.config.strict_reconfig_check && !self.ready_to_add_voter(true) {
            self.reply(id, Err(RequestError::NotEnoughStartedMembers));
            return;
        }
        let change = ConfChange {
            kind: ConfChangeKind::AddVoter,
            node_id: target,
            context: self.context(ConfOp::Promote, id, MemberAttributes::default()),
        };
        self.proposes_conf_change(id, &change);
    }

    pub(crate) fn move_leader(&mut self, id: RequestId, target: NodeId) {
        if !self.leader_only(id) {
            return;
        }
        let voter = self
            .cluster
            .members
            .get(&target)
            .is_some_and(|m| !m.is_learner);
        if !voter {
            self.reply(id, Err(RequestError::BadLeaderTransferee));
            return;
        }
        if target == self.raft.id() {
            let header = self.members_response().header;
            self.reply(id, Ok(ClientResponse::MoveLeader(header)));
            return;
        }
        match self.raft.transfer_leader(target) {
            Ok(()) => {
                let deadline = self.now.plus_nanos(self.config.request_timeout_nanos);
                self.pending.add_transfer(PendingTransfer {
                    id,
                    target,
                    deadline,
                });
            }
            Err(invar_raft::RequestError::NotAVoter(_)) => {
                self.reply(id, Err(RequestError::BadLeaderTransferee));
            }
            Err(_) => {
                let leader = self.raft.leader();
                self.reply(id, Err(RequestError::NotLeader { leader }));
            }
        }
    }

    /// Applies a committed conf change to the member list (raft applies it to its
    /// configuration in `advance`, with the same rules); returns the proposer's answer.
    pub(crate) fn apply_conf_entry(&mut self, entry: &Entry) -> Option<Outcome> {
        // Bytes raft cannot decode are skipped by raft too.
        let change = ConfChange::decode(&entry.data).ok()?;
        let context =
            cluster::decode_context(&change.context).unwrap_or_else(|_| ConfContext::empty());
        let applied = self.cluster.apply_conf_change(&change, &context);
        if applied && change.kind == ConfChangeKind::RemoveNode {
            self.peer_heard.remove(&change.node_id);
        }
        let result = match (context.op, applied) {
            (ConfOp::Bootstrap, _) => return None,
            (ConfOp::Add, false) => Err(RequestError::MemberExists),
            (ConfOp::Promote, false) => Err(RequestError::MemberNotLearner),
            (ConfOp::Remove, false) => Err(RequestError::NotEnoughStartedMembers),
            (ConfOp::Add, true) => {
                let member = self
                    .cluster
                    .members
                    .get(&change.node_id)
                    .cloned()
                    .unwrap_or_default();
                let list = self.members_response();
                Ok(ClientResponse::MemberAdd(MemberAddResponse {
                    header: list.header,
                    member,
                    members: list.members,
                }))
            }
            (ConfOp::Promote | ConfOp::Remove, true) => Ok(self.member_list()),
        };
        Some((context.proposer, context.request_id, result))
    }
}
