//! A scripted network for scenario tests: messages are delivered in order until the cluster
//! is quiet, except over links the test cut.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{MemNode, MemStorage};
use crate::types::{Message, NodeId};
use crate::{Config, Raft};

/// Members on a perfect, scripted network.
#[derive(Debug)]
pub struct Network {
    /// The members, by id.
    pub nodes: BTreeMap<NodeId, MemNode>,
    /// Messages sent and not yet delivered, in send order.
    pub in_flight: VecDeque<Message>,
    /// Directed links (from, to) on which messages are dropped.
    cut_links: BTreeSet<(NodeId, NodeId)>,
    /// Answers to ReadIndex requests, in the order they came out.
    pub read_states: Vec<crate::ReadState>,
    /// Message kinds (see `MessageBody::name`) that are dropped everywhere.
    dropped_kinds: BTreeSet<&'static str>,
    configure: fn(&mut Config),
}

impl Network {
    /// A new cluster of `voters` with etcd's default settings.
    pub fn new(voters: &[NodeId]) -> Network {
        Network::with_config(voters, |_| {})
    }

    /// A new cluster of `voters`, each member's `Config` adjusted by `configure`.
    pub fn with_config(voters: &[NodeId], configure: fn(&mut Config)) -> Network {
        let mut network = Network {
            nodes: BTreeMap::new(),
            in_flight: VecDeque::new(),
            read_states: Vec::new(),
            cut_links: BTreeSet::new(),
            dropped_kinds: BTreeSet::new(),
            configure,
        };
        for &id in voters {
            let node = MemNode::bootstrap(network.config(id), voters);
            network.nodes.insert(id, node);
        }
        network.process();
        network
    }

    fn config(&self, id: NodeId) -> Config {
        let mut config = Config::new(id, id);
        (self.configure)(&mut config);
        config
    }

    /// Adds a member with an empty log, as a new member joins an existing cluster.
    pub fn add_empty(&mut self, id: NodeId) {
        let node = MemNode::restart(self.config(id), MemStorage::default());
        self.nodes.insert(id, node);
    }

    /// The consensus state of member `id`.
    pub fn raft(&self, id: NodeId) -> &Raft {
        &self.nodes[&id].raft
    }

    /// The consensus state of member `id`, to give it inputs.
    pub fn raft_mut(&mut self, id: NodeId) -> &mut Raft {
        &mut self.nodes.get_mut(&id).expect("known member").raft
    }

    /// Carries out every member's pending `Ready`; their messages go in flight and their
    /// read states into `read_states`.
    pub fn process(&mut self) {
        for node in self.nodes.values_mut() {
            while let Some(handled) = node.handle_ready() {
                self.in_flight.extend(handled.messages);
                self.read_states.extend(handled.read_states);
            }
        }
    }

    /// Takes the read states that came out so far.
    pub fn take_read_states(&mut self) -> Vec<crate::ReadState> {
        std::mem::take(&mut self.read_states)
    }

    /// Delivers messages (and carries out the resulting `Ready`s) until none is in flight.
    pub fn stabilize(&mut self) {
        self.process();
        for _ in 0..100_000 {
            let Some(message) = self.in_flight.pop_front() else {
                return;
            };
            self.deliver(message);
            self.process();
        }
        panic!("the network did not become quiet");
    }

    /// Delivers one message now, unless its link is cut or its kind dropped.
    pub fn deliver(&mut self, message: Message) {
        if self.cut_links.contains(&(message.from, message.to))
            || self.dropped_kinds.contains(message.body.name())
        {
            return;
        }
        if let Some(node) = self.nodes.get_mut(&message.to) {
            node.raft.step(message).expect("well-formed message");
        }
    }

    /// Ticks every member `ticks` times, stabilizing after each tick.
    pub fn tick_all(&mut self, ticks: u32) {
        for _ in 0..ticks {
            for node in self.nodes.values_mut() {
                node.raft.tick();
            }
            self.stabilize();
        }
    }

    /// Ticks one member `ticks` times, stabilizing after each tick.
    pub fn tick(&mut self, id: NodeId, ticks: u32) {
        for _ in 0..ticks {
            self.raft_mut(id).tick();
            self.stabilize();
        }
    }

    /// Makes `id` campaign and lets the election play out.
    pub fn campaign(&mut self, id: NodeId) {
        self.raft_mut(id).campaign();
        self.stabilize();
    }

    /// Proposes `data` at `id` (which must lead) and lets it replicate.
    pub fn propose(&mut self, id: NodeId, data: &[u8]) -> crate::types::Index {
        let index = self.raft_mut(id).propose(data.to_vec()).expect("leader");
        self.stabilize();
        index
    }

    /// Drops messages both ways between `a` and `b`.
    pub fn cut(&mut self, a: NodeId, b: NodeId) {
        self.cut_links.insert((a, b));
        self.cut_links.insert((b, a));
    }

    /// Drops messages from `from` to `to` only.
    pub fn cut_one_way(&mut self, from: NodeId, to: NodeId) {
        self.cut_links.insert((from, to));
    }

    /// Cuts `id` off from every other member.
    pub fn isolate(&mut self, id: NodeId) {
        let others: Vec<NodeId> = self.nodes.keys().copied().filter(|&o| o != id).collect();
        for other in others {
            self.cut(id, other);
        }
    }

    /// Drops every message of this kind (for example `"heartbeat-response"`).
    pub fn drop_kind(&mut self, kind: &'static str) {
        self.dropped_kinds.insert(kind);
    }

    /// Heals every cut link and stops dropping kinds.
    pub fn recover(&mut self) {
        self.cut_links.clear();
        self.dropped_kinds.clear();
    }

    /// Crashes `id` (it loses everything not persisted) and restarts it.
    pub fn crash_and_restart(&mut self, id: NodeId) {
        let storage = self.nodes[&id].storage.clone();
        let node = MemNode::restart(self.config(id), storage);
        self.nodes.insert(id, node);
        // Re-apply the committed log, as a shell does on start (this restores the membership).
        self.process();
    }

    /// The member that leads, if exactly one does in the highest term with a leader.
    pub fn leader(&self) -> Option<NodeId> {
        self.nodes
            .values()
            .filter(|n| n.raft.role() == crate::Role::Leader)
            .max_by_key(|n| n.raft.term())
            .map(|n| n.raft.id())
    }
}
