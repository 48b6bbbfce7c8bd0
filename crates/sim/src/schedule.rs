//! A seed's fault schedule: the [`Profile`] (which kinds it enabled, the standing rates and
//! settings) and a list of timed [`Fault`]s, drawn up front from the seed. It is plain data:
//! written into a repro file, read back by `--replay`, and shrunk by removing faults (every
//! runtime choice a fault needs, such as which follower to crash, comes from its own `salt`,
//! so removing one fault does not change what the others do).
//!
//! Swarm testing (Groce et al., as in VOPR and FoundationDB): under `--faults default` each
//! seed enables a random subset of the kinds, and each enabled kind gets a rate drawn
//! log-uniformly over two orders of magnitude.

use invar_raft::Prng;
use serde::{Deserialize, Serialize};

use crate::options::{
    FaultKind, FaultSelection, Mode, NANOS_PER_MILLI, NANOS_PER_SECOND, Options, WorkloadKind,
};

/// Most faults of one kind in a schedule.
const FAULTS_PER_KIND_MAX: usize = 400;

/// A peer link's standing behaviour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkProfile {
    /// Smallest one-way delay.
    pub delay_min_nanos: u64,
    /// Mean of the exponential part added to it.
    pub delay_mean_nanos: u64,
    /// Chance per million that a message is lost.
    pub loss_ppm: u64,
    /// Chance per million that a message is delivered twice.
    pub duplicate_ppm: u64,
}

/// A member clock's standing behaviour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockProfile {
    /// Where the clock starts.
    pub offset_nanos: u64,
    /// How much faster (positive) or slower it runs, parts per million.
    pub drift_ppm: i64,
}

/// What stays the same for a whole run of a seed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The fault kinds this seed enabled.
    pub enabled: Vec<FaultKind>,
    /// Member slots (the initial members, plus one spare when membership changes are on).
    pub slots: usize,
    /// Members of the initial cluster (slots `0..nodes`).
    pub nodes: usize,
    /// Clients.
    pub clients: usize,
    /// The workload each client runs (for `mixed`, drawn per client).
    pub client_workloads: Vec<WorkloadKind>,
    /// Peer links, `from * slots + to`.
    pub links: Vec<LinkProfile>,
    /// Client ↔ member one-way delay range.
    pub client_delay_nanos: (u64, u64),
    /// Per slot.
    pub clocks: Vec<ClockProfile>,
    /// Per slot: disk latency in percent of the simulated disk's own (100: as is).
    pub disk_latency_percent: Vec<u64>,
    /// Raft tick interval.
    pub tick_nanos: u64,
    /// Election timeout in ticks.
    pub election_ticks: u32,
    /// Heartbeat interval in ticks.
    pub heartbeat_ticks: u32,
    /// Raft snapshot every this many applied entries.
    pub snapshot_entries: u64,
    /// Entries kept behind a snapshot.
    pub snapshot_keep_entries: u64,
    /// Backend commits per durable one.
    pub commits_per_sync: u64,
    /// The backend quota, when the NOSPACE alarm is exercised.
    pub quota_bytes: Option<u64>,
    /// Ticks between periodic watch progress notifications.
    pub watch_progress_ticks: u64,
    /// Most revisions per watch catch-up piece.
    pub watch_catch_up_revisions: usize,
}

/// Which member a fault hits, decided when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// This slot.
    Slot(usize),
    /// The leader then (any member if none).
    Leader,
    /// A follower then (any member if none).
    Follower,
}

/// A partition's shape over the member slots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// These slots are cut off from the rest, both ways.
    Split {
        /// One side.
        side: Vec<usize>,
    },
    /// A slot is cut off in one direction.
    OneWay {
        /// The slot.
        slot: usize,
        /// It hears nothing (true) or nobody hears it (false).
        inbound: bool,
    },
    /// Two sides that only the bridge connects.
    Bridge {
        /// The member in both.
        bridge: usize,
        /// One side (the other is everyone else but the bridge).
        left: Vec<usize>,
    },
    /// Whoever leads when it starts is cut off both ways.
    IsolateLeader,
}

/// One scheduled fault or operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// A partition that heals after `nanos`.
    Partition {
        /// Its shape.
        shape: Shape,
        /// How long it lasts.
        nanos: u64,
    },
    /// A link holds its messages for `nanos`.
    Clog {
        /// From slot.
        from: usize,
        /// To slot.
        to: usize,
        /// How long.
        nanos: u64,
    },
    /// A link's delay grows by `extra_nanos` for `nanos`.
    Spike {
        /// From slot.
        from: usize,
        /// To slot.
        to: usize,
        /// Added delay.
        extra_nanos: u64,
        /// How long.
        nanos: u64,
    },
    /// A member's clock jumps (backwards when negative).
    ClockJump {
        /// The member.
        target: Target,
        /// By how much.
        nanos: i64,
    },
    /// A member's disk is `factor` times slower for `nanos`.
    DiskSlow {
        /// The member.
        target: Target,
        /// Slow-down factor.
        factor: u64,
        /// How long.
        nanos: u64,
    },
    /// Power loss: unsynced writes are lost or torn; restart after `down_nanos`.
    PowerLoss {
        /// The member.
        target: Target,
        /// Time down.
        down_nanos: u64,
    },
    /// The process dies (the OS cache survives); restart after `down_nanos`.
    Kill {
        /// The member.
        target: Target,
        /// Time down.
        down_nanos: u64,
    },
    /// The process dies just after it next grants a vote (the vote is durable and sent);
    /// restart after `down_nanos`, short enough to be back in the same election.
    CrashAfterVote {
        /// The member.
        target: Target,
        /// Time down.
        down_nanos: u64,
    },
    /// A crash inside one of the next `after_ops` disk operations, then power loss; restart
    /// after `down_nanos`.
    CrashPoint {
        /// The member.
        target: Target,
        /// Mutating disk operations that still run.
        after_ops: u64,
        /// Time down once it fires.
        down_nanos: u64,
    },
    /// The process is paused for `nanos`.
    Pause {
        /// The member.
        target: Target,
        /// How long.
        nanos: u64,
    },
    /// The process is killed, one byte of a WAL or snapshot file flipped, and it restarts
    /// after `down_nanos`; a detected corruption gets the member wiped and rejoined.
    Corrupt {
        /// The member.
        target: Target,
        /// Time down.
        down_nanos: u64,
    },
    /// The disk is full for `nanos`.
    DiskFull {
        /// The member.
        target: Target,
        /// How long.
        nanos: u64,
    },
    /// The member is removed, wiped and added back under a new id (learner, then promoted).
    Replace {
        /// The member.
        target: Target,
    },
    /// A learner is added on the spare slot and promoted; or, with no spare free, a voter is
    /// removed and its slot becomes the spare.
    Membership {
        /// The voter to remove, when one is removed.
        target: Target,
    },
    /// A compaction to a recent revision.
    Compact,
    /// Defragment one member.
    Defragment {
        /// The member.
        target: Target,
    },
    /// A maintenance snapshot of one member.
    Snapshot {
        /// The member.
        target: Target,
    },
    /// MoveLeader to another voter.
    Transfer {
        /// The new leader (a follower when it fires).
        target: Target,
    },
}

impl Fault {
    /// The kind it belongs to.
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Partition {
                shape: Shape::Split { .. },
                ..
            } => FaultKind::Partition,
            Fault::Partition {
                shape: Shape::OneWay { .. },
                ..
            } => FaultKind::OneWay,
            Fault::Partition {
                shape: Shape::Bridge { .. },
                ..
            } => FaultKind::Bridge,
            Fault::Partition {
                shape: Shape::IsolateLeader,
                ..
            } => FaultKind::IsolateLeader,
            Fault::Clog { .. } => FaultKind::Clog,
            Fault::Spike { .. } => FaultKind::Spike,
            Fault::ClockJump { .. } => FaultKind::ClockJump,
            Fault::DiskSlow { .. } => FaultKind::DiskSlow,
            Fault::PowerLoss { .. } => FaultKind::PowerLoss,
            Fault::Kill { .. } => FaultKind::Kill,
            Fault::CrashAfterVote { .. } => FaultKind::CrashAfterVote,
            Fault::CrashPoint { .. } => FaultKind::CrashPoint,
            Fault::Pause { .. } => FaultKind::Pause,
            Fault::Corrupt { .. } => FaultKind::Corruption,
            Fault::DiskFull { .. } => FaultKind::DiskFull,
            Fault::Replace { .. } => FaultKind::Replace,
            Fault::Membership { .. } => FaultKind::Membership,
            Fault::Compact => FaultKind::Compact,
            Fault::Defragment { .. } => FaultKind::Defragment,
            Fault::Snapshot { .. } => FaultKind::Snapshot,
            Fault::Transfer { .. } => FaultKind::Transfer,
        }
    }
}

/// A fault at a time, with the salt of its runtime choices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timed {
    /// When it fires, simulated nanoseconds from the start.
    pub at_nanos: u64,
    /// Seeds the choices it makes when it fires.
    pub salt: u64,
    /// What happens.
    #[serde(flatten)]
    pub fault: Fault,
}

/// Everything a seed decided about faults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Standing settings.
    pub profile: Profile,
    /// Timed faults, by time.
    pub faults: Vec<Timed>,
}

/// A value drawn log-uniformly from `[low, high]` (both above 0).
pub(crate) fn log_uniform(rng: &mut Prng, low: u64, high: u64) -> u64 {
    let (low, high) = (low.max(1) as f64, high.max(low.max(1)) as f64);
    let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (low * (high / low).powf(unit)).round() as u64
}

/// An exponential draw with the given mean.
pub(crate) fn exponential(rng: &mut Prng, mean: u64) -> u64 {
    let unit = ((rng.next_u64() >> 11) as f64 + 1.0) / ((1u64 << 53) as f64 + 1.0);
    (-(unit.ln()) * mean as f64).min(u64::MAX as f64 / 2.0) as u64
}

fn between(rng: &mut Prng, low: u64, high: u64) -> u64 {
    if high <= low {
        low
    } else {
        rng.range(low, high + 1)
    }
}

impl Schedule {
    /// Draws the schedule of `seed` under `options`.
    pub fn draw(seed: u64, options: &Options) -> Schedule {
        let mut rng = Prng::new(seed ^ 0x5343_4845_4455_4c45);
        let enabled = enabled_kinds(&mut rng, &options.faults);
        let profile = draw_profile(&mut rng, options, &enabled);
        let mut faults = Vec::new();
        for &kind in &enabled {
            let mut kind_rng = rng.fork();
            draw_faults(&mut kind_rng, kind, options, &profile, &mut faults);
        }
        faults.sort_by_key(|t| t.at_nanos);
        Schedule { profile, faults }
    }

    /// Whether `kind` is enabled.
    pub fn enables(&self, kind: FaultKind) -> bool {
        self.profile.enabled.contains(&kind)
    }
}

fn enabled_kinds(rng: &mut Prng, selection: &FaultSelection) -> Vec<FaultKind> {
    match selection {
        FaultSelection::All => FaultKind::ALL.to_vec(),
        FaultSelection::Exactly(kinds) => kinds.clone(),
        FaultSelection::Swarm => {
            // Each kind on with probability 1/2; a seed may draw a calm run.
            FaultKind::ALL
                .into_iter()
                .filter(|_| rng.chance(1, 2))
                .collect()
        }
    }
}

fn draw_profile(rng: &mut Prng, options: &Options, enabled: &[FaultKind]) -> Profile {
    let on = |kind| enabled.contains(&kind);
    let nodes = options.nodes;
    let slots = if on(FaultKind::Membership) {
        nodes + 1
    } else {
        nodes
    };
    let clients = between(rng, 3, 8) as usize;
    let client_workloads = (0..clients)
        .map(|_| match options.workload {
            WorkloadKind::Mixed => {
                let kinds = [
                    WorkloadKind::Kv,
                    WorkloadKind::K8s,
                    WorkloadKind::Lease,
                    WorkloadKind::Watch,
                ];
                kinds[rng.range(0, kinds.len() as u64) as usize]
            }
            kind => kind,
        })
        .collect();
    let mut links = Vec::with_capacity(slots * slots);
    let loss_max = if on(FaultKind::Loss) {
        log_uniform(rng, 1_000, 300_000)
    } else {
        0
    };
    let duplicate_max = if on(FaultKind::Duplicate) {
        log_uniform(rng, 1_000, 200_000)
    } else {
        0
    };
    for _ in 0..slots * slots {
        let (delay_min_nanos, delay_mean_nanos) = if on(FaultKind::Delay) {
            (
                log_uniform(rng, 50_000, 30 * NANOS_PER_MILLI),
                log_uniform(rng, 100_000, 60 * NANOS_PER_MILLI),
            )
        } else {
            (
                between(rng, 100_000, 1_000_000),
                between(rng, 50_000, 500_000),
            )
        };
        links.push(LinkProfile {
            delay_min_nanos,
            delay_mean_nanos,
            loss_ppm: if loss_max > 0 {
                between(rng, 0, loss_max)
            } else {
                0
            },
            duplicate_ppm: if duplicate_max > 0 {
                between(rng, 0, duplicate_max)
            } else {
                0
            },
        });
    }
    let clocks = (0..slots)
        .map(|_| {
            if on(FaultKind::ClockDrift) {
                ClockProfile {
                    offset_nanos: between(rng, 0, 3_600 * NANOS_PER_SECOND),
                    drift_ppm: between(rng, 0, 100_000) as i64 - 50_000,
                }
            } else {
                ClockProfile {
                    offset_nanos: between(rng, 0, 1_000 * NANOS_PER_MILLI),
                    drift_ppm: 0,
                }
            }
        })
        .collect();
    let disk_latency_percent = (0..slots).map(|_| log_uniform(rng, 20, 300)).collect();
    // etcd's exploratory scenarios vary (tick, election) pairs; these keep the ratio.
    let (tick_nanos, election_ticks, heartbeat_ticks) = match rng.range(0, 3) {
        0 => (10 * NANOS_PER_MILLI, 10, 1),
        1 => (25 * NANOS_PER_MILLI, 10, 2),
        _ => (10 * NANOS_PER_MILLI, 20, 2),
    };
    let snapshot_entries = [50, 100, 300, 1_000][rng.range(0, 4) as usize];
    let snapshot_keep_entries = [10, 50, snapshot_entries][rng.range(0, 3) as usize];
    let commits_per_sync = [1, 10, 100][rng.range(0, 3) as usize];
    // A fresh store file is about 72 KiB; a busy minute writes a few MiB of history.
    let quota_bytes = on(FaultKind::Quota).then(|| log_uniform(rng, 256 << 10, 2 << 20));
    let watch_progress_ticks = [5, 20, 100][rng.range(0, 3) as usize];
    let watch_catch_up_revisions = [2, 10, 1_000][rng.range(0, 3) as usize];
    let client_delay_nanos = (
        between(rng, 50_000, 500_000),
        between(rng, 1_000_000, 5_000_000),
    );
    Profile {
        enabled: enabled.to_vec(),
        slots,
        nodes,
        clients,
        client_workloads,
        links,
        client_delay_nanos,
        clocks,
        disk_latency_percent,
        tick_nanos,
        election_ticks,
        heartbeat_ticks,
        snapshot_entries,
        snapshot_keep_entries,
        commits_per_sync,
        quota_bytes,
        watch_progress_ticks,
        watch_catch_up_revisions,
    }
}

/// Draws the timed faults of one kind: a Poisson process whose mean interval is drawn
/// log-uniformly between one second and the whole fault phase.
fn draw_faults(
    rng: &mut Prng,
    kind: FaultKind,
    options: &Options,
    profile: &Profile,
    out: &mut Vec<Timed>,
) {
    let end = options.time_nanos;
    let mean = log_uniform(rng, NANOS_PER_SECOND / 2, end.max(NANOS_PER_SECOND));
    let mut at = 200 * NANOS_PER_MILLI + exponential(rng, mean);
    let mut drawn = 0;
    while at < end && drawn < FAULTS_PER_KIND_MAX {
        if let Some(fault) = draw_fault(rng, kind, options.mode, profile) {
            out.push(Timed {
                at_nanos: at,
                salt: rng.next_u64(),
                fault,
            });
            drawn += 1;
        }
        at += exponential(rng, mean).max(NANOS_PER_MILLI);
    }
}

fn target(rng: &mut Prng, nodes: usize) -> Target {
    match rng.range(0, 4) {
        0 => Target::Leader,
        1 => Target::Follower,
        _ => Target::Slot(rng.range(0, nodes as u64) as usize),
    }
}

fn down_nanos(rng: &mut Prng) -> u64 {
    log_uniform(rng, 50 * NANOS_PER_MILLI, 10 * NANOS_PER_SECOND)
}

fn draw_fault(rng: &mut Prng, kind: FaultKind, _mode: Mode, profile: &Profile) -> Option<Fault> {
    let nodes = profile.nodes;
    let slot = |rng: &mut Prng| rng.range(0, nodes as u64) as usize;
    let lasting = |rng: &mut Prng| log_uniform(rng, 100 * NANOS_PER_MILLI, 10 * NANOS_PER_SECOND);
    Some(match kind {
        // Standing settings only (the profile).
        FaultKind::Delay
        | FaultKind::Loss
        | FaultKind::Duplicate
        | FaultKind::ClockDrift
        | FaultKind::Quota => return None,
        FaultKind::Spike | FaultKind::Clog if nodes < 2 => return None,
        FaultKind::Spike => {
            let (from, to) = link(rng, nodes);
            Fault::Spike {
                from,
                to,
                extra_nanos: log_uniform(rng, 10 * NANOS_PER_MILLI, 2 * NANOS_PER_SECOND),
                nanos: lasting(rng),
            }
        }
        FaultKind::Clog => {
            let (from, to) = link(rng, nodes);
            Fault::Clog {
                from,
                to,
                nanos: log_uniform(rng, 50 * NANOS_PER_MILLI, 3 * NANOS_PER_SECOND),
            }
        }
        FaultKind::Partition | FaultKind::OneWay | FaultKind::Bridge | FaultKind::IsolateLeader
            if nodes < 2 =>
        {
            return None;
        }
        FaultKind::Partition => {
            let size = rng.range(1, (nodes as u64).div_ceil(2).max(2)) as usize;
            Fault::Partition {
                shape: Shape::Split {
                    side: pick(rng, nodes, size),
                },
                nanos: lasting(rng),
            }
        }
        FaultKind::OneWay => Fault::Partition {
            shape: Shape::OneWay {
                slot: slot(rng),
                inbound: rng.chance(1, 2),
            },
            nanos: lasting(rng),
        },
        FaultKind::Bridge if nodes < 3 => return None,
        FaultKind::Bridge => {
            let bridge = slot(rng);
            let others: Vec<usize> = (0..nodes).filter(|&s| s != bridge).collect();
            let left_size = rng.range(1, others.len() as u64) as usize;
            let mut left: Vec<usize> = pick(rng, others.len(), left_size)
                .into_iter()
                .map(|i| others[i])
                .collect();
            left.sort_unstable();
            Fault::Partition {
                shape: Shape::Bridge { bridge, left },
                nanos: lasting(rng),
            }
        }
        FaultKind::IsolateLeader => Fault::Partition {
            shape: Shape::IsolateLeader,
            nanos: lasting(rng),
        },
        FaultKind::ClockJump => {
            let magnitude = log_uniform(rng, 10 * NANOS_PER_MILLI, 30 * NANOS_PER_SECOND) as i64;
            Fault::ClockJump {
                target: target(rng, nodes),
                nanos: if rng.chance(1, 2) {
                    magnitude
                } else {
                    -magnitude
                },
            }
        }
        FaultKind::DiskSlow => Fault::DiskSlow {
            target: target(rng, nodes),
            factor: log_uniform(rng, 3, 200),
            nanos: lasting(rng),
        },
        FaultKind::PowerLoss => Fault::PowerLoss {
            target: target(rng, nodes),
            down_nanos: down_nanos(rng),
        },
        FaultKind::Kill => Fault::Kill {
            target: target(rng, nodes),
            down_nanos: down_nanos(rng),
        },
        FaultKind::CrashAfterVote => Fault::CrashAfterVote {
            target: target(rng, nodes),
            down_nanos: log_uniform(rng, NANOS_PER_MILLI, 500 * NANOS_PER_MILLI),
        },
        FaultKind::CrashPoint => Fault::CrashPoint {
            target: target(rng, nodes),
            after_ops: log_uniform(rng, 1, 200),
            down_nanos: down_nanos(rng),
        },
        FaultKind::Pause => Fault::Pause {
            target: target(rng, nodes),
            nanos: log_uniform(rng, 20 * NANOS_PER_MILLI, 5 * NANOS_PER_SECOND),
        },
        FaultKind::Corruption => Fault::Corrupt {
            target: target(rng, nodes),
            down_nanos: down_nanos(rng),
        },
        FaultKind::DiskFull => Fault::DiskFull {
            target: target(rng, nodes),
            nanos: lasting(rng),
        },
        FaultKind::Replace | FaultKind::Membership if nodes < 2 => return None,
        FaultKind::Replace => Fault::Replace {
            target: target(rng, nodes),
        },
        FaultKind::Membership => Fault::Membership {
            target: target(rng, nodes),
        },
        FaultKind::Compact => Fault::Compact,
        FaultKind::Defragment => Fault::Defragment {
            target: target(rng, nodes),
        },
        FaultKind::Snapshot => Fault::Snapshot {
            target: target(rng, nodes),
        },
        FaultKind::Transfer if nodes < 2 => return None,
        FaultKind::Transfer => Fault::Transfer {
            target: Target::Follower,
        },
    })
}

fn link(rng: &mut Prng, nodes: usize) -> (usize, usize) {
    let from = rng.range(0, nodes as u64) as usize;
    let to = (from + rng.range(1, nodes as u64) as usize) % nodes;
    (from, to)
}

/// `size` distinct slots of `0..nodes`, sorted.
fn pick(rng: &mut Prng, nodes: usize, size: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..nodes).collect();
    for i in 0..all.len() {
        let j = i + rng.range(0, (all.len() - i) as u64) as usize;
        all.swap(i, j);
    }
    all.truncate(size.min(nodes));
    all.sort_unstable();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_schedule_and_round_trip() {
        let options = Options::default();
        let a = Schedule::draw(7, &options);
        let b = Schedule::draw(7, &options);
        assert_eq!(a, b);
        let c = Schedule::draw(8, &options);
        assert_ne!(a, c);
        let text = serde_json::to_string(&a).expect("serializes");
        let back: Schedule = serde_json::from_str(&text).expect("parses");
        assert_eq!(a, back);
        assert!(a.faults.windows(2).all(|w| w[0].at_nanos <= w[1].at_nanos));
        assert!(a.faults.iter().all(|t| t.at_nanos < options.time_nanos));
    }

    #[test]
    fn exactly_enables_only_those_kinds() {
        let options = Options {
            faults: FaultSelection::Exactly(vec![FaultKind::Pause, FaultKind::Loss]),
            ..Options::default()
        };
        for seed in 0..20 {
            let schedule = Schedule::draw(seed, &options);
            assert_eq!(
                schedule.profile.enabled,
                vec![FaultKind::Pause, FaultKind::Loss]
            );
            assert!(
                schedule
                    .faults
                    .iter()
                    .all(|t| t.fault.kind() == FaultKind::Pause)
            );
        }
        let calm = Options {
            faults: FaultSelection::Exactly(Vec::new()),
            ..Options::default()
        };
        let schedule = Schedule::draw(3, &calm);
        assert!(schedule.faults.is_empty());
        assert!(schedule.profile.links.iter().all(|l| l.loss_ppm == 0));
    }

    #[test]
    fn swarm_draws_different_subsets() {
        let options = Options::default();
        let subsets: std::collections::BTreeSet<Vec<FaultKind>> = (0..30)
            .map(|seed| Schedule::draw(seed, &options).profile.enabled)
            .collect();
        assert!(subsets.len() > 20, "swarm subsets barely vary: {subsets:?}");
    }

    #[test]
    fn log_uniform_stays_in_bounds() {
        let mut rng = Prng::new(1);
        for _ in 0..1_000 {
            let v = log_uniform(&mut rng, 10, 1_000);
            assert!((10..=1_000).contains(&v), "{v}");
        }
    }
}
