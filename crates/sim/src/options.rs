//! What a run is asked to do: cluster size, length, mode, workload, which fault kinds may be
//! drawn, an optional member defect, and (for the proofs that properties fire) a world-level
//! injection. Every name here is the one `invar sim` takes on its command line.

use std::fmt;
use std::str::FromStr;

use invar_node::Defect;
use serde::{Deserialize, Serialize};

/// Nanoseconds in a simulated second.
pub const NANOS_PER_SECOND: u64 = 1_000_000_000;
/// Nanoseconds in a simulated millisecond.
pub const NANOS_PER_MILLI: u64 = 1_000_000;

/// Safety or liveness (VOPR's two modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Faults anywhere, any number of members down for a while; everything heals at the end,
    /// and only safety properties are judged.
    Safety,
    /// After the fault phase a random quorum (the core) is healed for good while the others
    /// may stay faulty; the core must converge within a bound.
    Liveness,
}

/// The client traffic, shaped like etcd's robustness traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// Put, get, list, delete, multi-op txns and compare-and-set on a small key set with
    /// unique values, stale reads, and a compaction loop.
    Kv,
    /// Kubernetes-like: optimistic create/update/delete (compare on mod revision), paginated
    /// lists at a revision, watches from the list's revision, apiserver-style compaction.
    K8s,
    /// Leases: grants, keys attached, keep-alives, time-to-live, revokes, and expiry.
    Lease,
    /// Many watchers (past, present and future start revisions, progress notifications,
    /// restarts from the last revision seen) over kv writers and compaction.
    Watch,
    /// Each client draws one of the above.
    Mixed,
}

impl WorkloadKind {
    /// Every workload, in a stable order.
    pub const ALL: [WorkloadKind; 5] = [
        WorkloadKind::Kv,
        WorkloadKind::K8s,
        WorkloadKind::Lease,
        WorkloadKind::Watch,
        WorkloadKind::Mixed,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Kv => "kv",
            WorkloadKind::K8s => "k8s",
            WorkloadKind::Lease => "lease",
            WorkloadKind::Watch => "watch",
            WorkloadKind::Mixed => "mixed",
        }
    }
}

impl Mode {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Safety => "safety",
            Mode::Liveness => "liveness",
        }
    }
}

/// One kind of fault (or of operation under load) that a seed may enable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Per-link delay distributions wider than the calm default, with reordering.
    Delay,
    /// Message loss on peer links.
    Loss,
    /// Message duplication on peer links.
    Duplicate,
    /// Short delay spikes on one link.
    Spike,
    /// A clogged link: messages wait until it unclogs.
    Clog,
    /// Partitions: one member alone, or a minority from a majority, both ways.
    Partition,
    /// One-way partitions: a member hears but is not heard, or the reverse.
    OneWay,
    /// Bridge partitions: two sides that only one member connects.
    Bridge,
    /// The current leader cut off from everyone.
    IsolateLeader,
    /// Clock offsets and drift between members.
    ClockDrift,
    /// Clock jumps, forward and back.
    ClockJump,
    /// Slow disk syncs on one member.
    DiskSlow,
    /// Power loss: a crash that loses unsynced writes (torn ones too).
    PowerLoss,
    /// A crash in the middle of a later disk operation (WAL write, backend commit, snapshot).
    CrashPoint,
    /// A process crash that keeps the OS cache (nothing lost), then a restart.
    Kill,
    /// A member dies just after granting a vote and restarts within the election.
    CrashAfterVote,
    /// A process pause, then resume (messages wait; the clock runs on).
    Pause,
    /// A corrupted WAL or snapshot byte found at restart; the member is wiped and rejoins.
    Corruption,
    /// The disk fills up on one member for a while.
    DiskFull,
    /// A member removed, wiped and added again under a new id.
    Replace,
    /// A learner added, caught up and promoted; or removed.
    Membership,
    /// Compaction under load (besides the workload's own).
    Compact,
    /// Defragment of one member.
    Defragment,
    /// A maintenance snapshot streamed from one member.
    Snapshot,
    /// Leader transfer (MoveLeader).
    Transfer,
    /// A small backend quota: the NOSPACE alarm, then compaction, defragment and disarm.
    Quota,
}

impl FaultKind {
    /// Every kind, in a stable order.
    pub const ALL: [FaultKind; 26] = [
        FaultKind::Delay,
        FaultKind::Loss,
        FaultKind::Duplicate,
        FaultKind::Spike,
        FaultKind::Clog,
        FaultKind::Partition,
        FaultKind::OneWay,
        FaultKind::Bridge,
        FaultKind::IsolateLeader,
        FaultKind::ClockDrift,
        FaultKind::ClockJump,
        FaultKind::DiskSlow,
        FaultKind::PowerLoss,
        FaultKind::CrashPoint,
        FaultKind::Kill,
        FaultKind::CrashAfterVote,
        FaultKind::Pause,
        FaultKind::Corruption,
        FaultKind::DiskFull,
        FaultKind::Replace,
        FaultKind::Membership,
        FaultKind::Compact,
        FaultKind::Defragment,
        FaultKind::Snapshot,
        FaultKind::Transfer,
        FaultKind::Quota,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Delay => "delay",
            FaultKind::Loss => "loss",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Spike => "spike",
            FaultKind::Clog => "clog",
            FaultKind::Partition => "partition",
            FaultKind::OneWay => "one-way",
            FaultKind::Bridge => "bridge",
            FaultKind::IsolateLeader => "isolate-leader",
            FaultKind::ClockDrift => "clock-drift",
            FaultKind::ClockJump => "clock-jump",
            FaultKind::DiskSlow => "disk-slow",
            FaultKind::PowerLoss => "power-loss",
            FaultKind::CrashPoint => "crash-point",
            FaultKind::Kill => "kill",
            FaultKind::CrashAfterVote => "crash-after-vote",
            FaultKind::Pause => "pause",
            FaultKind::Corruption => "corruption",
            FaultKind::DiskFull => "disk-full",
            FaultKind::Replace => "replace",
            FaultKind::Membership => "membership",
            FaultKind::Compact => "compact",
            FaultKind::Defragment => "defragment",
            FaultKind::Snapshot => "snapshot",
            FaultKind::Transfer => "transfer",
            FaultKind::Quota => "quota",
        }
    }

    /// One line on what it does.
    pub fn description(self) -> &'static str {
        match self {
            FaultKind::Delay => "wide per-link delay distributions (reordering)",
            FaultKind::Loss => "message loss on peer links",
            FaultKind::Duplicate => "message duplication on peer links",
            FaultKind::Spike => "delay spikes on one link",
            FaultKind::Clog => "a link holds its messages for a while",
            FaultKind::Partition => "a member or a minority cut off, both ways",
            FaultKind::OneWay => "a member cut off in one direction only",
            FaultKind::Bridge => "two sides connected through one member",
            FaultKind::IsolateLeader => "the current leader cut off",
            FaultKind::ClockDrift => "clock offsets and drift",
            FaultKind::ClockJump => "clock jumps forward and back",
            FaultKind::DiskSlow => "slow disk syncs",
            FaultKind::PowerLoss => "crash losing unsynced and torn writes",
            FaultKind::CrashPoint => "crash in the middle of a disk operation",
            FaultKind::Kill => "process crash keeping the OS cache",
            FaultKind::CrashAfterVote => {
                "crash just after granting a vote, back within the election"
            }
            FaultKind::Pause => "process pause and resume",
            FaultKind::Corruption => "corrupt WAL or snapshot byte, detected; wipe and rejoin",
            FaultKind::DiskFull => "disk full for a while",
            FaultKind::Replace => "member removed, wiped, added under a new id",
            FaultKind::Membership => "learner added and promoted, or removed",
            FaultKind::Compact => "compaction under load",
            FaultKind::Defragment => "defragment one member",
            FaultKind::Snapshot => "maintenance snapshot of one member",
            FaultKind::Transfer => "leader transfer",
            FaultKind::Quota => "small backend quota: NOSPACE alarm, recovery and disarm",
        }
    }
}

macro_rules! from_str_by_name {
    ($type:ty, $what:literal) => {
        impl FromStr for $type {
            type Err = String;

            fn from_str(name: &str) -> Result<Self, String> {
                <$type>::ALL
                    .into_iter()
                    .find(|k| k.name() == name)
                    .ok_or_else(|| {
                        let names: Vec<&str> = <$type>::ALL.iter().map(|k| k.name()).collect();
                        format!(
                            concat!("unknown ", $what, " {:?} (one of: {})"),
                            name,
                            names.join(", ")
                        )
                    })
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

impl Mode {
    /// Both modes.
    pub const ALL: [Mode; 2] = [Mode::Safety, Mode::Liveness];
}

from_str_by_name!(Mode, "mode");
from_str_by_name!(WorkloadKind, "workload");
from_str_by_name!(FaultKind, "fault kind");

/// Which fault kinds a seed may draw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultSelection {
    /// Swarm testing over every kind: each seed enables a random subset, with wildly
    /// different rates (`--faults default`).
    Swarm,
    /// Every kind enabled in every seed, rates still drawn (`--faults all`).
    All,
    /// Exactly these kinds in every seed (`--faults a,b,c`); empty is `--faults none`.
    Exactly(Vec<FaultKind>),
}

impl FaultSelection {
    /// Parses `default`, `all`, `none` or a comma-separated list of kinds.
    pub fn parse(text: &str) -> Result<FaultSelection, String> {
        match text {
            "default" | "swarm" => Ok(FaultSelection::Swarm),
            "all" => Ok(FaultSelection::All),
            "none" | "" => Ok(FaultSelection::Exactly(Vec::new())),
            list => {
                let mut kinds = list
                    .split(',')
                    .map(|name| name.trim().parse::<FaultKind>())
                    .collect::<Result<Vec<_>, _>>()?;
                kinds.sort_unstable();
                kinds.dedup();
                Ok(FaultSelection::Exactly(kinds))
            }
        }
    }

    /// The command-line form.
    pub fn describe(&self) -> String {
        match self {
            FaultSelection::Swarm => "default".into(),
            FaultSelection::All => "all".into(),
            FaultSelection::Exactly(kinds) if kinds.is_empty() => "none".into(),
            FaultSelection::Exactly(kinds) => {
                let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
                names.join(",")
            }
        }
    }
}

/// A world-level falsification that must make one property fail: the proof, for properties
/// that no member defect reaches, that the property has teeth. Test-only in spirit; it
/// changes what the world observes, never a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Injection {
    /// The first read that saw a value is recorded with a value nobody wrote
    /// (`linearizable`).
    CorruptReadValue,
    /// One event is removed from a recorded watch response (`watch_guarantees`).
    DropWatchEvent,
    /// A second leader is reported for a term already led (`one_leader_per_term`).
    SecondLeader,
    /// One member's hash is altered when hashes are compared (`hash_kv_agrees`).
    AlterHash,
    /// One member's observed revision is lowered at a probe (`revision_agrees_at_index`).
    LowerRevision,
    /// A reply's revision is lowered below one the member answered before
    /// (`answered_revision_never_backwards`).
    RegressAnswer,
    /// The first acknowledged put is forgotten by the final state check
    /// (`acknowledged_write_kept`).
    ForgetAcknowledgedWrite,
    /// A lease's keys are reported gone at its grant (`lease_keys_outlive_lease`).
    EarlyLeaseLoss,
    /// The final liveness probe is never sent (`liveness`).
    WithholdProbe,
}

impl Injection {
    /// Every injection, in a stable order.
    pub const ALL: [Injection; 9] = [
        Injection::CorruptReadValue,
        Injection::DropWatchEvent,
        Injection::SecondLeader,
        Injection::AlterHash,
        Injection::LowerRevision,
        Injection::RegressAnswer,
        Injection::ForgetAcknowledgedWrite,
        Injection::EarlyLeaseLoss,
        Injection::WithholdProbe,
    ];

    /// The stable name.
    pub fn name(self) -> &'static str {
        match self {
            Injection::CorruptReadValue => "corrupt-read-value",
            Injection::DropWatchEvent => "drop-watch-event",
            Injection::SecondLeader => "second-leader",
            Injection::AlterHash => "alter-hash",
            Injection::LowerRevision => "lower-revision",
            Injection::RegressAnswer => "regress-answer",
            Injection::ForgetAcknowledgedWrite => "forget-acknowledged-write",
            Injection::EarlyLeaseLoss => "early-lease-loss",
            Injection::WithholdProbe => "withhold-probe",
        }
    }
}

from_str_by_name!(Injection, "injection");

/// How a run is shaped. The seed decides everything else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// Members of the initial cluster.
    pub nodes: usize,
    /// Length of the fault phase (`--time`), simulated nanoseconds.
    pub time_nanos: u64,
    /// Safety or liveness.
    pub mode: Mode,
    /// The client traffic.
    pub workload: WorkloadKind,
    /// Which fault kinds a seed may enable.
    pub faults: FaultSelection,
    /// A deliberate member defect (needs the `defects` feature).
    #[serde(with = "defect_name")]
    pub defect: Option<Defect>,
    /// A world-level falsification (see [`Injection`]).
    pub inject: Option<Injection>,
    /// After the fault phase: how long the cluster has to answer every pending request and
    /// converge (liveness mode fails past it; safety mode just stops waiting).
    pub settle_nanos: u64,
    /// Steps the history checker may take before it answers "unknown".
    pub check_steps_max: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            nodes: 3,
            time_nanos: 60 * NANOS_PER_SECOND,
            mode: Mode::Safety,
            workload: WorkloadKind::Mixed,
            faults: FaultSelection::Swarm,
            defect: None,
            inject: None,
            settle_nanos: 30 * NANOS_PER_SECOND,
            check_steps_max: 20_000_000,
        }
    }
}

impl Options {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=7).contains(&self.nodes) {
            return Err(format!("--nodes must be 1 to 7, not {}", self.nodes));
        }
        if self.time_nanos < NANOS_PER_SECOND {
            return Err("--time must be at least 1s".into());
        }
        if self.settle_nanos < 5 * NANOS_PER_SECOND {
            return Err("the settle bound must be at least 5s".into());
        }
        if self.defect.is_some() && !Defect::compiled_in() {
            return Err("--defect needs a build with the `defects` feature \
                 (cargo run --release -p invar --features defects -- sim ...)"
                .into());
        }
        Ok(())
    }
}

/// A defect is written by its name.
mod defect_name {
    use invar_node::Defect;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        defect: &Option<Defect>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match defect {
            Some(defect) => s.serialize_some(defect.name()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Defect>, D::Error> {
        let name: Option<String> = Option::deserialize(d)?;
        name.map(|n| n.parse::<Defect>().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Parses a duration such as `60s`, `500ms`, `2m` or `1h` into nanoseconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("bad duration {text:?}: expected a number and a unit (60s)"))?;
    let scale = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => NANOS_PER_MILLI,
        "s" | "" => NANOS_PER_SECOND,
        "m" => 60 * NANOS_PER_SECOND,
        "h" => 3_600 * NANOS_PER_SECOND,
        other => return Err(format!("bad duration unit {other:?} in {text:?}")),
    };
    value
        .checked_mul(scale)
        .ok_or_else(|| format!("duration {text:?} is too long"))
}

/// Formats simulated nanoseconds for reports (`61.2s`, `1h02m`).
pub fn format_duration(nanos: u64) -> String {
    let seconds = nanos as f64 / NANOS_PER_SECOND as f64;
    if seconds < 120.0 {
        format!("{seconds:.1}s")
    } else if seconds < 7_200.0 {
        format!("{:.1}m", seconds / 60.0)
    } else {
        format!("{:.2}h", seconds / 3_600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in FaultKind::ALL {
            assert_eq!(kind.name().parse::<FaultKind>(), Ok(kind));
        }
        for kind in WorkloadKind::ALL {
            assert_eq!(kind.name().parse::<WorkloadKind>(), Ok(kind));
        }
        for mode in Mode::ALL {
            assert_eq!(mode.name().parse::<Mode>(), Ok(mode));
        }
        for injection in Injection::ALL {
            assert_eq!(injection.name().parse::<Injection>(), Ok(injection));
        }
        assert!("nope".parse::<FaultKind>().is_err());
    }

    #[test]
    fn fault_selection_parses() {
        assert_eq!(FaultSelection::parse("default"), Ok(FaultSelection::Swarm));
        assert_eq!(FaultSelection::parse("all"), Ok(FaultSelection::All));
        assert_eq!(
            FaultSelection::parse("none"),
            Ok(FaultSelection::Exactly(vec![]))
        );
        assert_eq!(
            FaultSelection::parse("pause,loss,pause"),
            Ok(FaultSelection::Exactly(vec![
                FaultKind::Loss,
                FaultKind::Pause
            ]))
        );
        assert!(FaultSelection::parse("loss,bogus").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("60s"), Ok(60 * NANOS_PER_SECOND));
        assert_eq!(parse_duration("250ms"), Ok(250 * NANOS_PER_MILLI));
        assert_eq!(parse_duration("1h"), Ok(3_600 * NANOS_PER_SECOND));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("s").is_err());
    }
}
