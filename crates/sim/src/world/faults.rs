//! Carrying out the schedule's faults when they fire, and their ends. A fault that names a
//! member by role (leader, follower) resolves it when it fires, with its own salt; one that
//! cannot apply (its member is down, no spare slot for a learner) is skipped.

use invar_node::{ClientRequest, MoveLeaderRequest};
use invar_raft::Prng;
use invar_storage::fs::FileSystem;

use super::{Item, World};
use crate::options::NANOS_PER_MILLI;
use crate::props::{Point, Violated};
use crate::schedule::{Fault, Target};
use crate::world::operator::Task;

/// A fault's effect that ends later.
#[derive(Clone, Copy, Debug)]
pub(crate) enum End {
    /// Partition number `cut` heals.
    Heal { cut: u64 },
    /// The disk of `slot` has room again.
    DiskRoom { slot: usize },
}

impl End {
    pub(crate) fn code(self) -> u64 {
        match self {
            End::Heal { cut } => cut << 1,
            End::DiskRoom { slot } => ((slot as u64) << 1) | 1,
        }
    }
}

impl World {
    /// Which slot `target` means now (with `salt` for the choice among several).
    pub(crate) fn resolve(&self, target: Target, salt: u64) -> Option<usize> {
        let members = self.member_slots();
        if members.is_empty() {
            return None;
        }
        let pick =
            |pool: &[usize]| (!pool.is_empty()).then(|| pool[(salt % pool.len() as u64) as usize]);
        match target {
            Target::Slot(slot) => members.contains(&slot).then_some(slot),
            Target::Leader => self.leader_slot().or_else(|| pick(&members)),
            Target::Follower => {
                let leader = self.leader_slot();
                let followers: Vec<usize> = members
                    .iter()
                    .copied()
                    .filter(|&s| Some(s) != leader)
                    .collect();
                pick(&followers).or_else(|| pick(&members))
            }
        }
    }

    /// Fires fault number `index` of the schedule.
    pub(crate) fn fire(&mut self, index: usize) -> Result<(), Violated> {
        let timed = self.schedule.faults[index].clone();
        let salt = timed.salt;
        let fault_copy = timed.fault.clone();
        let up = |world: &World, target| {
            world
                .resolve(target, salt)
                .filter(|&slot| world.slots[slot].member.is_some())
        };
        let fired = match fault_copy {
            Fault::Partition { shape, nanos } => {
                let members = self.member_slots();
                let leader = self.leader_slot();
                match self.net.cut(&shape, &members, leader) {
                    Some(cut) => {
                        self.stats.partitions += 1;
                        self.schedule_at(self.now + nanos, Item::FaultEnd(End::Heal { cut }));
                        true
                    }
                    None => false,
                }
            }
            Fault::Clog { from, to, nanos } => {
                self.net.clog(from, to, self.now + nanos);
                true
            }
            Fault::Spike {
                from,
                to,
                extra_nanos,
                nanos,
            } => {
                self.net.spike(from, to, extra_nanos, self.now + nanos);
                true
            }
            Fault::ClockJump { target, nanos } => match self.resolve(target, salt) {
                Some(slot) => {
                    self.slots[slot].clock.jump(self.now, nanos);
                    if nanos < 0 {
                        self.props.sometimes(Point::ClockJumpedBack, true);
                    }
                    true
                }
                None => false,
            },
            Fault::DiskSlow {
                target,
                factor,
                nanos,
            } => match self.resolve(target, salt) {
                Some(slot) => {
                    self.slots[slot].slow = Some((factor, self.now + nanos));
                    true
                }
                None => false,
            },
            Fault::PowerLoss { target, down_nanos } => match up(self, target) {
                Some(slot) => {
                    self.crash(slot, true, Some(down_nanos));
                    true
                }
                None => false,
            },
            Fault::Kill { target, down_nanos } => match up(self, target) {
                Some(slot) => {
                    self.crash(slot, false, Some(down_nanos));
                    true
                }
                None => false,
            },
            Fault::CrashAfterVote { target, down_nanos } => match up(self, target) {
                Some(slot) if self.slots[slot].crash_after_vote_down.is_none() => {
                    self.slots[slot].crash_after_vote_down = Some(down_nanos);
                    true
                }
                _ => false,
            },
            Fault::CrashPoint {
                target,
                after_ops,
                down_nanos,
            } => match up(self, target) {
                Some(slot) if self.slots[slot].crash_point_down.is_none() => {
                    self.slots[slot].disk.arm_crash_after(after_ops);
                    self.slots[slot].crash_point_down = Some(down_nanos);
                    true
                }
                _ => false,
            },
            Fault::Pause { target, nanos } => match up(self, target) {
                Some(slot) => {
                    let state = &mut self.slots[slot];
                    state.busy_until = state.busy_until.max(self.now + nanos);
                    true
                }
                None => false,
            },
            // Only what the cluster can recover from (VOPR's fault atlas): at most a minority
            // of the members may wait for replacement at once.
            Fault::Corrupt { target, down_nanos } => match up(self, target) {
                Some(slot) if self.corruptible(slot) => self.corrupt(slot, salt, down_nanos),
                _ => false,
            },
            Fault::DiskFull { target, nanos } => match self.resolve(target, salt) {
                Some(slot) if self.slots[slot].full_until.is_none() => {
                    self.slots[slot].disk.set_capacity_bytes(Some(0));
                    self.slots[slot].full_until = Some(self.now + nanos);
                    self.schedule_at(self.now + nanos, Item::FaultEnd(End::DiskRoom { slot }));
                    true
                }
                _ => false,
            },
            Fault::Replace { target } => match self.resolve(target, salt) {
                Some(slot) => self.operator_enqueue(Task::Replace { slot }),
                None => false,
            },
            Fault::Membership { target } => {
                let spare = (0..self.slots.len()).find(|&s| self.slots[s].id == 0);
                match spare {
                    Some(slot) => self.operator_enqueue(Task::AddLearner { slot }),
                    None => match self.resolve(target, salt) {
                        Some(slot) => self.operator_enqueue(Task::Remove { slot }),
                        None => false,
                    },
                }
            }
            Fault::Compact => {
                let back = salt % 50;
                let revision = (self.head_revision - back as i64).max(1);
                self.operator_enqueue(Task::Compact { revision })
            }
            Fault::Defragment { target } => match self.resolve(target, salt) {
                Some(slot) => self.operator_enqueue(Task::Direct {
                    slot,
                    request: ClientRequest::Defragment,
                }),
                None => false,
            },
            Fault::Snapshot { target } => match self.resolve(target, salt) {
                Some(slot) => self.operator_enqueue(Task::Direct {
                    slot,
                    request: ClientRequest::Snapshot,
                }),
                None => false,
            },
            Fault::Transfer { target } => match self.resolve(target, salt) {
                Some(slot) if Some(slot) != self.leader_slot() => {
                    let target_id = self.slots[slot].id;
                    self.operator_enqueue(Task::Leader {
                        request: ClientRequest::MoveLeader(MoveLeaderRequest { target_id }),
                    })
                }
                _ => false,
            },
        };
        if fired {
            self.stats.faults_fired += 1;
        }
        self.note(|| {
            format!(
                "fault #{index} {}: {:?}",
                if fired { "fired" } else { "skipped" },
                timed.fault
            )
        });
        Ok(())
    }

    /// Whether `slot` may be corrupted: no membership change is under way, and the voters
    /// with sound disks, `slot` aside, are still a quorum (a corrupt member is wiped and
    /// replaced, which needs one).
    fn corruptible(&self, slot: usize) -> bool {
        if self.changing_membership() {
            return false;
        }
        self.quorum_survives_without(self.slots[slot].id)
    }

    /// Kills the member on `slot`, flips one bit of one of its WAL or snapshot files, and
    /// restarts it after `down`.
    fn corrupt(&mut self, slot: usize, salt: u64, down: u64) -> bool {
        let dir = super::members::member_dir();
        let disk = self.slots[slot].disk.clone();
        let mut files = Vec::new();
        for sub in ["wal", "snap"] {
            let path = dir.join(sub);
            for name in disk.list(&path).unwrap_or_default() {
                files.push(path.join(name));
            }
        }
        if files.is_empty() {
            return false;
        }
        let mut rng = Prng::new(salt);
        let file = files[rng.range(0, files.len() as u64) as usize].clone();
        let len = disk
            .open(&file, invar_storage::fs::OpenMode::Existing)
            .and_then(|f| invar_storage::fs::File::len(&f))
            .unwrap_or(0);
        if len == 0 {
            return false;
        }
        self.crash(slot, false, Some(down));
        let offset = rng.range(0, len);
        let mask = 1u8 << rng.range(0, 8);
        if disk.corrupt_byte(&file, offset, mask) {
            self.slots[slot].corrupted = true;
        }
        true
    }

    /// A fault's effect ends.
    pub(crate) fn fault_end(&mut self, end: End) -> Result<(), Violated> {
        if self.phase != super::Phase::Faults && !self.core.is_empty() {
            // Liveness mode's core is healed already; what is left faulty stays faulty.
            return Ok(());
        }
        match end {
            End::Heal { cut } => self.net.heal(cut),
            End::DiskRoom { slot } => self.disk_room(slot),
        }
        Ok(())
    }

    /// The disk of `slot` has room again; a member that stopped on it restarts soon.
    pub(crate) fn disk_room(&mut self, slot: usize) {
        let state = &mut self.slots[slot];
        state.disk.set_capacity_bytes(None);
        state.full_until = None;
        if state.member.is_none() && state.id != 0 {
            let incarnation = state.incarnation;
            self.schedule_at(
                self.now + NANOS_PER_MILLI,
                Item::Restart { slot, incarnation },
            );
        }
    }
}
