//! The faults and client actions the world injects during its fault phase.

use std::collections::BTreeSet;

use super::{UNITS_PER_TICK, World};
use crate::Role;
use crate::testkit::MemNode;
use crate::types::{ConfChange, ConfChangeKind, NodeId};

impl World {
    pub(super) fn inject_actions(&mut self) {
        if self.now >= self.heal_at && !self.blocked.is_empty() {
            self.blocked.clear();
            self.record(&[3, self.now]);
        }
        if self.rng.chance(self.rates.propose_per_1k, 1000) {
            self.client_propose();
        }
        if self.rng.chance(self.rates.read_per_1k, 1000) {
            self.client_read();
        }
        if self.rng.chance(self.rates.crash_per_100k, 100_000) {
            self.crash_one();
        }
        if self.rng.chance(self.rates.pause_per_100k, 100_000) {
            self.pause_one();
        }
        if self.rng.chance(self.rates.partition_per_100k, 100_000) && self.blocked.is_empty() {
            self.partition();
        }
        if self.rng.chance(self.rates.conf_change_per_100k, 100_000) {
            self.change_membership();
        }
        if self.rng.chance(self.rates.transfer_per_100k, 100_000) {
            self.transfer_leadership();
        }
    }

    fn random_member(&mut self) -> NodeId {
        let ids: Vec<NodeId> = self.slots.keys().copied().collect();
        ids[self.rng.range(0, ids.len() as u64) as usize]
    }

    pub(super) fn live_node(&mut self, id: NodeId) -> Option<&mut MemNode> {
        let now = self.now;
        let slot = self.slots.get_mut(&id)?;
        if slot.paused_until > now {
            return None;
        }
        slot.node.as_mut()
    }

    pub(super) fn live_leaders(&self) -> Vec<NodeId> {
        self.slots
            .iter()
            .filter_map(|(&id, s)| s.node.as_ref().map(|n| (id, n)))
            .filter(|(_, n)| n.raft.role() == Role::Leader)
            .map(|(id, _)| id)
            .collect()
    }

    fn client_propose(&mut self) {
        let id = self.random_member();
        let value = self.next_value;
        self.next_value += 1;
        let Some(node) = self.live_node(id) else {
            return;
        };
        if let Ok(index) = node.raft.propose(value.to_le_bytes().to_vec()) {
            let term = node.raft.term();
            self.proposals.insert((id, index), term);
            self.record(&[5, self.now, id, index]);
        }
    }

    fn client_read(&mut self) {
        let id = self.random_member();
        let context = self.next_context;
        self.next_context += 1;
        let required = self.acked_index;
        let Some(node) = self.live_node(id) else {
            return;
        };
        if node.raft.read_index(context).is_ok() {
            self.reads.insert((id, context), required);
        }
    }

    fn crash_one(&mut self) {
        let id = self.random_member();
        let downtime = self.rng.range(5, 50) * UNITS_PER_TICK;
        self.crash(id, downtime);
    }

    pub(super) fn crash(&mut self, id: NodeId, downtime: u64) {
        let now = self.now;
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        let Some(node) = slot.node.take() else {
            return;
        };
        slot.storage = node.storage;
        slot.restart_at = now + downtime;
        // The member's clients lose their connection: outcomes become unknown.
        self.proposals.retain(|&(member, _), _| member != id);
        self.reads.retain(|&(member, _), _| member != id);
        self.reads_waiting.retain(|&(member, _, _)| member != id);
        self.report.crashes += 1;
        self.record(&[6, now, id]);
    }

    fn pause_one(&mut self) {
        let id = self.random_member();
        let until = self.now + self.rng.range(10, 60) * UNITS_PER_TICK;
        if let Some(slot) = self.slots.get_mut(&id) {
            slot.paused_until = until;
        }
        self.report.pauses += 1;
        self.record(&[4, self.now, id, until]);
    }

    fn partition(&mut self) {
        let ids: Vec<NodeId> = self.slots.keys().copied().collect();
        let kind = self.rng.range(0, 5);
        let mut side: BTreeSet<NodeId> = BTreeSet::new();
        let mut exempt = None;
        match kind {
            // Isolate the leader (or the first member when there is none).
            0 => {
                side.insert(self.live_leaders().first().copied().unwrap_or(ids[0]));
            }
            // One member heard by nobody, though it still hears everyone.
            1 => {
                let id = ids[self.rng.range(0, ids.len() as u64) as usize];
                for &other in ids.iter().filter(|&&o| o != id) {
                    self.blocked.insert((id, other));
                }
            }
            // A random split (minority/majority, or everyone alone on one side), or a bridge:
            // two halves that only one member connects.
            _ => {
                if kind == 4 {
                    exempt = Some(ids[self.rng.range(0, ids.len() as u64) as usize]);
                }
                for &id in &ids {
                    if self.rng.chance(1, 2) {
                        side.insert(id);
                    }
                }
            }
        }
        for &a in &side {
            for &b in ids.iter().filter(|b| !side.contains(b)) {
                if exempt == Some(a) || exempt == Some(b) {
                    continue;
                }
                self.blocked.insert((a, b));
                self.blocked.insert((b, a));
            }
        }
        self.heal_at = self.now + self.rng.range(10, 100) * UNITS_PER_TICK;
        self.report.partitions += 1;
        self.record(&[7, self.now, kind, self.blocked.len() as u64]);
    }

    pub(super) fn isolate(&mut self, id: NodeId, ticks: u64) {
        let others: Vec<NodeId> = self.slots.keys().copied().filter(|&o| o != id).collect();
        for other in others {
            self.blocked.insert((id, other));
            self.blocked.insert((other, id));
        }
        self.heal_at = self.now + ticks * UNITS_PER_TICK;
        self.report.partitions += 1;
        self.record(&[7, self.now, 5, id]);
    }

    fn change_membership(&mut self) {
        let Some(&leader) = self.live_leaders().first() else {
            return;
        };
        let Some(conf) = self.live_node(leader).map(|n| n.raft.conf_state().clone()) else {
            return;
        };
        let voters: Vec<NodeId> = conf.voters.iter().copied().collect();
        let (kind, node_id) = match self.rng.range(0, 3) {
            0 if !self.spare_ids.is_empty() => (ConfChangeKind::AddLearner, self.spare_ids[0]),
            1 if !conf.learners.is_empty() => (
                ConfChangeKind::AddVoter,
                *conf.learners.iter().next().expect("a learner"),
            ),
            2 if voters.len() >= 3 => {
                let victim = voters[self.rng.range(0, voters.len() as u64) as usize];
                (ConfChangeKind::RemoveNode, victim)
            }
            _ => return,
        };
        let change = ConfChange {
            kind,
            node_id,
            context: Vec::new(),
        };
        let Some(node) = self.live_node(leader) else {
            return;
        };
        if node.raft.propose_conf_change(&change).is_ok() {
            // Ids are never reused, even when the change does not commit.
            self.spare_ids.retain(|&id| id != node_id);
            self.report.conf_changes_proposed += 1;
            self.record(&[8, self.now, node_id]);
        }
    }

    fn transfer_leadership(&mut self) {
        let Some(&leader) = self.live_leaders().first() else {
            return;
        };
        let target = self.random_member();
        if let Some(node) = self.live_node(leader) {
            // Refusals (not a voter, not leader any more) are part of the exercise.
            let _ = node.raft.transfer_leader(target);
        }
    }
}
