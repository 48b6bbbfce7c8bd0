//! The replicated cluster state next to the store: the member list (from conf-change
//! entries, whose context carries each member's attributes) and the alarms (from alarm
//! commands), and their byte formats.
//!
//! # Where it lives
//!
//! It is not in the store: it is derived from the raft log exactly as raft derives its
//! `ConfState`. A raft snapshot's data is an envelope holding the cluster state and the store
//! image at the snapshot's index; on restart the member starts from its snapshot's state (or
//! an empty one) and applies the conf-change and command entries of its WAL up to the store's
//! consistent index; the entries above are applied by the Ready loop like every other entry.
//! The WAL keeps every entry above its snapshot, so nothing is missing.
//!
//! # Formats (integers little endian, strings and lists u32-length prefixed)
//!
//! ```text
//! conf-change context: version u8 (=1) | op u8 (0 bootstrap, 1 add, 2 promote, 3 remove)
//!                      | proposer u64 | request id u64 | name | peer urls | client urls
//! command entry:       version u8 (=2) | proposer u64 | request id u64 | tag u8 (1 alarm)
//!                      | action u8 | member u64 | alarm u8
//! cluster state:       version u8 (=1) | member count u32 | (id u64, learner u8, name,
//!                      peer urls, client urls)... | removed count u32 | id u64...
//!                      | alarm count u32 | (member u64, alarm u8)...
//! snapshot envelope:   magic "INVARSNP" | state length u32 | state | store image
//! ```
//!
//! Decoding never panics: lengths are checked against the bytes left.

use std::collections::{BTreeMap, BTreeSet};

use invar_raft::{ConfChange, ConfChangeKind, NodeId};

use crate::api::{AlarmAction, AlarmMember, AlarmRequest, AlarmType, MemberAttributes, MemberInfo};

const CONTEXT_VERSION: u8 = 1;
/// The first byte of a command entry (a store proposal's is `codec::PROPOSAL_VERSION`, 1).
pub(crate) const COMMAND_VERSION: u8 = 2;
const STATE_VERSION: u8 = 1;
const ENVELOPE_MAGIC: &[u8; 8] = b"INVARSNP";

/// What a conf change was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConfOp {
    /// An initial member, written by the bootstrap.
    Bootstrap,
    /// MemberAdd.
    Add,
    /// MemberPromote.
    Promote,
    /// MemberRemove.
    Remove,
}

/// The context of a conf change: who asked, and the member's attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConfContext {
    pub(crate) op: ConfOp,
    pub(crate) proposer: NodeId,
    pub(crate) request_id: u64,
    pub(crate) attributes: MemberAttributes,
}

impl ConfContext {
    /// The context of a change without one (raft's own bootstrap, or bytes that do not
    /// decode: raft applies the change all the same, so the member list does too).
    pub(crate) fn empty() -> ConfContext {
        ConfContext {
            op: ConfOp::Bootstrap,
            proposer: 0,
            request_id: 0,
            attributes: MemberAttributes::default(),
        }
    }
}

/// A node-level command carried in a normal entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Command {
    pub(crate) proposer: NodeId,
    pub(crate) request_id: u64,
    pub(crate) alarm: AlarmRequest,
}

/// The member list and the alarms, as of the applied index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClusterState {
    pub(crate) members: BTreeMap<NodeId, MemberInfo>,
    /// Ids removed from the cluster: never reused.
    pub(crate) removed: BTreeSet<NodeId>,
    pub(crate) alarms: BTreeSet<AlarmMember>,
}

impl ClusterState {
    /// The members, by id.
    pub(crate) fn list(&self) -> Vec<MemberInfo> {
        self.members.values().cloned().collect()
    }

    pub(crate) fn voters(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.members
            .values()
            .filter(|m| !m.is_learner)
            .map(|m| m.id)
    }

    pub(crate) fn learners(&self) -> usize {
        self.members.values().filter(|m| m.is_learner).count()
    }

    pub(crate) fn has_alarm(&self, alarm: AlarmType) -> bool {
        self.alarms.iter().any(|a| a.alarm == alarm)
    }

    /// Applies a committed conf change with raft's rules (`ConfState::apply`): a change raft
    /// skips is skipped here too. Returns whether it applied.
    pub(crate) fn apply_conf_change(&mut self, change: &ConfChange, context: &ConfContext) -> bool {
        let id = change.node_id;
        let voters: Vec<NodeId> = self.voters().collect();
        let existing = self.members.get(&id).cloned();
        match change.kind {
            ConfChangeKind::AddVoter | ConfChangeKind::AddLearner => {
                let learner = change.kind == ConfChangeKind::AddLearner;
                if learner && existing.as_ref().is_some_and(|m| !m.is_learner) {
                    return false; // A voter cannot become a learner.
                }
                let member = match existing {
                    Some(mut member) => {
                        member.is_learner &= learner;
                        member
                    }
                    None => MemberInfo {
                        id,
                        name: context.attributes.name.clone(),
                        peer_urls: context.attributes.peer_urls.clone(),
                        client_urls: context.attributes.client_urls.clone(),
                        is_learner: learner,
                    },
                };
                self.members.insert(id, member);
            }
            ConfChangeKind::RemoveNode => {
                if voters.iter().all(|v| *v == id) {
                    // No voter would be left (raft's `NoVotersLeft`, also when there is
                    // none yet): raft skips the change, so does the member list.
                    return false;
                }
                if self.members.remove(&id).is_none() {
                    // Raft removes an id it tracks even without attributes; mirror it.
                    self.removed.insert(id);
                    return true;
                }
                self.removed.insert(id);
                self.alarms.retain(|a| a.member_id != id);
            }
        }
        true
    }

    /// Applies an alarm command; returns the alarms it changed.
    pub(crate) fn apply_alarm(&mut self, request: &AlarmRequest) -> Vec<AlarmMember> {
        match request.action {
            AlarmAction::Get => self.matching_alarms(request),
            AlarmAction::Activate => {
                let alarm = AlarmMember {
                    member_id: request.member_id,
                    alarm: request.alarm,
                };
                if request.alarm == AlarmType::None || !self.alarms.insert(alarm) {
                    return Vec::new();
                }
                vec![alarm]
            }
            AlarmAction::Deactivate => {
                let gone = self.matching_alarms(request);
                for alarm in &gone {
                    self.alarms.remove(alarm);
                }
                gone
            }
        }
    }

    /// The alarms a request names (member 0: any member; type None: any type).
    pub(crate) fn matching_alarms(&self, request: &AlarmRequest) -> Vec<AlarmMember> {
        self.alarms
            .iter()
            .filter(|a| request.member_id == 0 || a.member_id == request.member_id)
            .filter(|a| request.alarm == AlarmType::None || a.alarm == request.alarm)
            .copied()
            .collect()
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut w = Writer(vec![STATE_VERSION]);
        w.u32(self.members.len());
        for member in self.members.values() {
            w.u64(member.id);
            w.0.push(u8::from(member.is_learner));
            w.string(&member.name);
            w.strings(&member.peer_urls);
            w.strings(&member.client_urls);
        }
        w.u32(self.removed.len());
        for id in &self.removed {
            w.u64(*id);
        }
        w.u32(self.alarms.len());
        for alarm in &self.alarms {
            w.u64(alarm.member_id);
            w.0.push(alarm_byte(alarm.alarm));
        }
        w.0
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<ClusterState, String> {
        let mut r = Reader { bytes, offset: 0 };
        if r.u8()? != STATE_VERSION {
            return Err("cluster state: unknown version".into());
        }
        let mut state = ClusterState::default();
        for _ in 0..r.count(9)? {
            let id = r.u64()?;
            let is_learner = r.flag()?;
            let member = MemberInfo {
                id,
                name: r.string()?,
                peer_urls: r.strings()?,
                client_urls: r.strings()?,
                is_learner,
            };
            state.members.insert(id, member);
        }
        for _ in 0..r.count(8)? {
            state.removed.insert(r.u64()?);
        }
        for _ in 0..r.count(9)? {
            let member_id = r.u64()?;
            let alarm = alarm_from_byte(r.u8()?)?;
            state.alarms.insert(AlarmMember { member_id, alarm });
        }
        r.end()?;
        Ok(state)
    }
}

/// A raft snapshot's data: the cluster state and the store image.
pub(crate) fn encode_envelope(state: &ClusterState, store_image: &[u8]) -> Vec<u8> {
    let state = state.encode();
    let mut out = Vec::with_capacity(12 + state.len() + store_image.len());
    out.extend_from_slice(ENVELOPE_MAGIC);
    out.extend_from_slice(&(state.len() as u32).to_le_bytes());
    out.extend_from_slice(&state);
    out.extend_from_slice(store_image);
    out
}

/// Splits a raft snapshot's data into the cluster state and the store image.
pub(crate) fn decode_envelope(data: &[u8]) -> Result<(ClusterState, &[u8]), String> {
    let mut r = Reader {
        bytes: data,
        offset: 0,
    };
    if r.take(8)? != ENVELOPE_MAGIC {
        return Err("snapshot data: bad magic".into());
    }
    let len = r.u32()? as usize;
    let state = ClusterState::decode(r.take(len)?)?;
    Ok((state, &data[r.offset..]))
}

pub(crate) fn encode_context(context: &ConfContext) -> Vec<u8> {
    let op = match context.op {
        ConfOp::Bootstrap => 0,
        ConfOp::Add => 1,
        ConfOp::Promote => 2,
        ConfOp::Remove => 3,
    };
    let mut w = Writer(vec![CONTEXT_VERSION, op]);
    w.u64(context.proposer);
    w.u64(context.request_id);
    w.string(&context.attributes.name);
    w.strings(&context.attributes.peer_urls);
    w.strings(&context.attributes.client_urls);
    w.0
}

/// Decodes a conf change's context; an empty one (raft's own bootstrap) is a bootstrap
/// member without attributes.
pub(crate) fn decode_context(bytes: &[u8]) -> Result<ConfContext, String> {
    if bytes.is_empty() {
        return Ok(ConfContext::empty());
    }
    let mut r = Reader { bytes, offset: 0 };
    if r.u8()? != CONTEXT_VERSION {
        return Err("conf change context: unknown version".into());
    }
    let op = match r.u8()? {
        0 => ConfOp::Bootstrap,
        1 => ConfOp::Add,
        2 => ConfOp::Promote,
        3 => ConfOp::Remove,
        _ => return Err("conf change context: unknown op".into()),
    };
    let context = ConfContext {
        op,
        proposer: r.u64()?,
        request_id: r.u64()?,
        attributes: MemberAttributes {
            name: r.string()?,
            peer_urls: r.strings()?,
            client_urls: r.strings()?,
        },
    };
    r.end()?;
    Ok(context)
}

pub(crate) fn encode_command(command: &Command) -> Vec<u8> {
    let mut w = Writer(vec![COMMAND_VERSION]);
    w.u64(command.proposer);
    w.u64(command.request_id);
    w.0.push(1);
    w.0.push(match command.alarm.action {
        AlarmAction::Get => 0,
        AlarmAction::Activate => 1,
        AlarmAction::Deactivate => 2,
    });
    w.u64(command.alarm.member_id);
    w.0.push(alarm_byte(command.alarm.alarm));
    w.0
}

pub(crate) fn decode_command(bytes: &[u8]) -> Result<Command, String> {
    let mut r = Reader { bytes, offset: 0 };
    if r.u8()? != COMMAND_VERSION {
        return Err("command: unknown version".into());
    }
    let proposer = r.u64()?;
    let request_id = r.u64()?;
    if r.u8()? != 1 {
        return Err("command: unknown tag".into());
    }
    let action = match r.u8()? {
        0 => AlarmAction::Get,
        1 => AlarmAction::Activate,
        2 => AlarmAction::Deactivate,
        _ => return Err("command: unknown alarm action".into()),
    };
    let member_id = r.u64()?;
    let alarm = alarm_from_byte(r.u8()?)?;
    r.end()?;
    Ok(Command {
        proposer,
        request_id,
        alarm: AlarmRequest {
            action,
            member_id,
            alarm,
        },
    })
}

fn alarm_byte(alarm: AlarmType) -> u8 {
    match alarm {
        AlarmType::None => 0,
        AlarmType::NoSpace => 1,
        AlarmType::Corrupt => 2,
    }
}

fn alarm_from_byte(byte: u8) -> Result<AlarmType, String> {
    match byte {
        0 => Ok(AlarmType::None),
        1 => Ok(AlarmType::NoSpace),
        2 => Ok(AlarmType::Corrupt),
        _ => Err("unknown alarm type".into()),
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, value: usize) {
        self.0.extend_from_slice(&(value as u32).to_le_bytes());
    }
    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn string(&mut self, value: &str) {
        self.u32(value.len());
        self.0.extend_from_slice(value.as_bytes());
    }
    fn strings(&mut self, values: &[String]) {
        self.u32(values.len());
        for value in values {
            self.string(value);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .offset
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| format!("truncated at byte {}", self.offset))?;
        let out = &self.bytes[self.offset..end];
        self.offset = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn flag(&mut self) -> Result<bool, String> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(format!("bad flag at byte {}", self.offset - 1)),
        }
    }
    fn u32(&mut self) -> Result<u32, String> {
        let mut buf = [0u8; 4];
        buf.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(buf))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(buf))
    }
    /// A count of items of at least `item_bytes` bytes, bounded by the bytes left.
    fn count(&mut self, item_bytes: usize) -> Result<usize, String> {
        let count = self.u32()? as usize;
        if count.saturating_mul(item_bytes) > self.bytes.len() - self.offset {
            return Err(format!("count {count} past the end"));
        }
        Ok(count)
    }
    fn string(&mut self) -> Result<String, String> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "string not UTF-8".to_string())
    }
    fn strings(&mut self) -> Result<Vec<String>, String> {
        let count = self.count(4)?;
        (0..count).map(|_| self.string()).collect()
    }
    fn end(&self) -> Result<(), String> {
        if self.offset == self.bytes.len() {
            Ok(())
        } else {
            Err(format!("trailing bytes at {}", self.offset))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ClusterState {
        let mut state = ClusterState::default();
        for (id, learner) in [(1, false), (7, true)] {
            state.members.insert(
                id,
                MemberInfo {
                    id,
                    name: format!("m{id}"),
                    peer_urls: vec![format!("http://m{id}:2380")],
                    client_urls: vec![],
                    is_learner: learner,
                },
            );
        }
        state.removed.insert(3);
        state.alarms.insert(AlarmMember {
            member_id: 1,
            alarm: AlarmType::NoSpace,
        });
        state
    }

    #[test]
    fn formats_round_trip_and_garbage_never_panics() {
        let state = sample();
        let envelope = encode_envelope(&state, b"image");
        let (back, image) = decode_envelope(&envelope).expect("decodes");
        assert_eq!(back, state);
        assert_eq!(image, b"image");
        let context = ConfContext {
            op: ConfOp::Add,
            proposer: 2,
            request_id: 9,
            attributes: MemberAttributes {
                name: String::new(),
                peer_urls: vec!["http://x:1".into()],
                client_urls: vec![],
            },
        };
        assert_eq!(decode_context(&encode_context(&context)), Ok(context));
        let command = Command {
            proposer: 1,
            request_id: 4,
            alarm: AlarmRequest {
                action: AlarmAction::Deactivate,
                member_id: 0,
                alarm: AlarmType::NoSpace,
            },
        };
        assert_eq!(decode_command(&encode_command(&command)), Ok(command));
        let encoded = state.encode();
        for cut in 0..encoded.len() {
            assert!(ClusterState::decode(&encoded[..cut]).is_err(), "cut {cut}");
            let mut flipped = encoded.clone();
            flipped[cut] ^= 0xff;
            let _ = ClusterState::decode(&flipped);
            let _ = decode_envelope(&flipped);
        }
    }

    #[test]
    fn conf_changes_follow_raft_rules() {
        let mut state = sample();
        let context = decode_context(&[]).expect("empty context");
        let change = |kind, node_id| ConfChange {
            kind,
            node_id,
            context: vec![],
        };
        assert!(!state.apply_conf_change(&change(ConfChangeKind::AddLearner, 1), &context));
        assert!(state.apply_conf_change(&change(ConfChangeKind::AddVoter, 7), &context));
        assert!(!state.members[&7].is_learner);
        assert!(state.apply_conf_change(&change(ConfChangeKind::RemoveNode, 1), &context));
        assert!(state.removed.contains(&1) && state.alarms.is_empty());
        assert!(!state.apply_conf_change(&change(ConfChangeKind::RemoveNode, 7), &context));
    }

    /// The member list applies exactly the changes raft's `ConfState::apply` applies, with
    /// the same result, from any start (an empty one too: a joining member's, before its
    /// first entry).
    #[test]
    fn conf_changes_match_raft_conf_state() {
        use invar_raft::{ConfState, Prng};
        let context = ConfContext::empty();
        let kinds = [
            ConfChangeKind::AddVoter,
            ConfChangeKind::AddLearner,
            ConfChangeKind::RemoveNode,
        ];
        for seed in 0..200 {
            let mut rng = Prng::new(seed);
            let mut state = ClusterState::default();
            let mut conf = ConfState::default();
            for step in 0..30 {
                let change = ConfChange {
                    kind: kinds[rng.range(0, 3) as usize],
                    node_id: rng.range(1, 5),
                    context: vec![],
                };
                let raft = conf.apply(&change);
                let applied = state.apply_conf_change(&change, &context);
                assert_eq!(applied, raft.is_ok(), "seed {seed} step {step}: {change:?}");
                if let Ok(next) = raft {
                    conf = next;
                }
                let voters: BTreeSet<NodeId> = state.voters().collect();
                let learners: BTreeSet<NodeId> = state
                    .members
                    .values()
                    .filter(|m| m.is_learner)
                    .map(|m| m.id)
                    .collect();
                assert_eq!(
                    (voters, learners),
                    (conf.voters.clone(), conf.learners.clone())
                );
            }
        }
    }
}
