//! Properties in the style of Antithesis' assertions, each with a stable name.
//!
//! - `always(p, cond)`: `cond` must hold every time it is evaluated; a false one fails the run.
//!   Across a campaign, an `always` point that was never evaluated is reported as such (it
//!   proved nothing).
//! - `always_or_unreachable(p, cond)`: the same, but never being evaluated is fine.
//! - `sometimes(p, cond)`: `cond` should be true at least once in a campaign; the report says
//!   whether it was. It never fails a run.
//! - `reachable(p)`: the point should be reached at least once in a campaign.
//! - `unreachable(p)`: reaching the point fails the run.
//!
//! The catalog ([`Point::ALL`]) names every point, so that a report lists the ones never hit
//! too. [`Coverage`] adds up over seeds.

use serde::{Deserialize, Serialize};

/// What kind of assertion a point is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PointKind {
    /// Must hold whenever evaluated, and should be evaluated.
    Always,
    /// Must hold whenever evaluated.
    AlwaysOrUnreachable,
    /// Should be true at least once.
    Sometimes,
    /// Should be reached at least once.
    Reachable,
    /// Must never be reached.
    Unreachable,
}

macro_rules! points {
    ($( $variant:ident => ($name:literal, $kind:ident, $about:literal), )*) => {
        /// One named property or coverage point.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Point {
            $(
                #[doc = $about]
                $variant,
            )*
        }

        impl Point {
            /// Every point, in catalog order.
            pub const ALL: &'static [Point] = &[$(Point::$variant,)*];

            /// The stable name.
            pub fn name(self) -> &'static str {
                match self { $(Point::$variant => $name,)* }
            }

            /// Its kind.
            pub fn kind(self) -> PointKind {
                match self { $(Point::$variant => PointKind::$kind,)* }
            }

            /// What it asserts or records.
            pub fn about(self) -> &'static str {
                match self { $(Point::$variant => $about,)* }
            }
        }
    };
}

points! {
    OneLeaderPerTerm => ("one_leader_per_term", Always,
        "at most one member leads in any term"),
    RevisionAgreesAtIndex => ("revision_agrees_at_index", Always,
        "every member (and every incarnation) that applied raft index i is at the same revision"),
    AnsweredRevisionNeverBackwards => ("answered_revision_never_backwards", Always,
        "a member never answers with a lower revision than it answered before, across restarts too"),
    HashKvAgrees => ("hash_kv_agrees", Always,
        "members that applied a revision have the same hash-kv for it"),
    AcknowledgedWriteKept => ("acknowledged_write_kept", Always,
        "an acknowledged put is still readable at its revision on every caught-up member"),
    Linearizable => ("linearizable", Always,
        "the client history is linearizable under etcd's model"),
    WatchGuarantees => ("watch_guarantees", AlwaysOrUnreachable,
        "every watch meets etcd's watch guarantees against the linearized history"),
    HistoryChecked => ("history_checked", Always,
        "the history check finished within its step budget"),
    LeaseKeysOutliveLease => ("lease_keys_outlive_lease", AlwaysOrUnreachable,
        "a lease's keys disappear only after it is revoked or its TTL ran out since its last keep-alive"),
    MemberReopens => ("member_reopens", Always,
        "a member restarts from its disk after a crash, unless corruption was injected"),
    MemberInvariants => ("member_invariants", Always,
        "a member's own invariants hold after a restart and at the end"),
    MemberRuns => ("member_runs", Always,
        "a member stops only for an injected disk fault"),
    Liveness => ("liveness", AlwaysOrUnreachable,
        "liveness mode: after healing, the core elects a leader, answers every request and converges"),
    LeaderChangedDuringWrite => ("leader_changed_during_write", Sometimes,
        "a write failed with 'leader changed' (its outcome is unknown)"),
    SnapshotInstalled => ("snapshot_installed_on_lagging_follower", Sometimes,
        "a follower caught up by installing the leader's snapshot"),
    CompactionDuringWatchCatchUp => ("compaction_during_watch_catch_up", Sometimes,
        "a compaction was acknowledged while a watch from the past was still catching up"),
    WatchCanceledByCompaction => ("watch_canceled_by_compaction", Sometimes,
        "a watch was canceled with a compact revision"),
    CrashDuringWalWrite => ("crash_during_wal_write", Sometimes,
        "a crash point fired inside a WAL write or sync"),
    CrashDuringBackendCommit => ("crash_during_backend_commit", Sometimes,
        "a crash point fired inside a backend commit"),
    MemberCaughtUpAfterRestart => ("member_caught_up_after_restart", Sometimes,
        "a restarted member replayed and caught up past where it crashed"),
    CorruptionDetected => ("corruption_detected", Sometimes,
        "a restart refused a corrupted WAL or snapshot file"),
    MemberReplaced => ("member_replaced", Sometimes,
        "a wiped member rejoined under a new id and applied entries"),
    LearnerPromoted => ("learner_promoted", Sometimes,
        "a learner was promoted to voter"),
    LeaderTransferred => ("leader_transferred", Sometimes,
        "a MoveLeader request succeeded"),
    ReadOfCompactedRevision => ("read_of_compacted_revision", Sometimes,
        "a read asked for a compacted revision and got etcd's error"),
    TxnCompareFailed => ("txn_compare_failed", Sometimes,
        "an optimistic txn lost its compare (a concurrent update won)"),
    LeaseExpired => ("lease_expired", Sometimes,
        "a lease expired (its keys went away without a client revoke)"),
    KeepAliveAcrossLeaders => ("keep_alive_across_leaders", Sometimes,
        "a lease was kept alive by two different leaders"),
    WatchProgressNotified => ("watch_progress_notified", Sometimes,
        "a watch got a progress notification"),
    NoSpaceAlarm => ("nospace_alarm_raised", Sometimes,
        "a write was refused with 'database space exceeded'"),
    DiskFullStoppedMember => ("disk_full_stopped_member", Sometimes,
        "a member stopped on a full disk and came back after space was freed"),
    ClockJumpedBack => ("clock_jumped_back", Sometimes,
        "a member's clock jumped backwards"),
    NoLeaderForAWhile => ("no_leader_for_a_while", Sometimes,
        "the cluster had no leader for over a second"),
    StaleReadServed => ("stale_read_served", Sometimes,
        "a serializable read returned an older revision than one already acknowledged"),
    UnexpectedMemberError => ("unexpected_member_error", Unreachable,
        "a member returned an error the world cannot explain"),
}

/// Counts of one run (or, added up, of a campaign).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Per point in catalog order: times evaluated (or reached).
    pub evaluated: Vec<u64>,
    /// Per point: times true (for `always`: times it held; for reach points: times reached).
    pub hit: Vec<u64>,
}

impl Default for Coverage {
    fn default() -> Self {
        Coverage {
            evaluated: vec![0; Point::ALL.len()],
            hit: vec![0; Point::ALL.len()],
        }
    }
}

impl Coverage {
    /// Adds another run's counts.
    pub fn add(&mut self, other: &Coverage) {
        for (mine, theirs) in self.evaluated.iter_mut().zip(&other.evaluated) {
            *mine += theirs;
        }
        for (mine, theirs) in self.hit.iter_mut().zip(&other.hit) {
            *mine += theirs;
        }
    }

    /// (evaluated, hit) of `point`.
    pub fn of(&self, point: Point) -> (u64, u64) {
        let i = point as usize;
        (
            self.evaluated.get(i).copied().unwrap_or(0),
            self.hit.get(i).copied().unwrap_or(0),
        )
    }

    /// Whether `point` did what a campaign wants of it: a sometimes/reachable point was hit,
    /// an always point was evaluated.
    pub fn satisfied(&self, point: Point) -> bool {
        let (evaluated, hit) = self.of(point);
        match point.kind() {
            PointKind::Always => evaluated > 0,
            PointKind::AlwaysOrUnreachable | PointKind::Unreachable => true,
            PointKind::Sometimes | PointKind::Reachable => hit > 0,
        }
    }
}

/// A property that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violated {
    /// The point.
    pub point: Point,
    /// What was seen.
    pub detail: String,
}

/// The assertion API of one run.
#[derive(Debug, Default)]
pub struct Props {
    coverage: Coverage,
}

impl Props {
    /// `cond` must hold.
    pub fn always(
        &mut self,
        point: Point,
        cond: bool,
        detail: impl FnOnce() -> String,
    ) -> Result<(), Violated> {
        debug_assert!(matches!(
            point.kind(),
            PointKind::Always | PointKind::AlwaysOrUnreachable
        ));
        self.count(point, cond);
        if cond {
            Ok(())
        } else {
            Err(Violated {
                point,
                detail: detail(),
            })
        }
    }

    /// `cond` must hold when evaluated (the same check as [`Props::always`]; the kind in the
    /// catalog says that never evaluating it is fine).
    pub fn always_or_unreachable(
        &mut self,
        point: Point,
        cond: bool,
        detail: impl FnOnce() -> String,
    ) -> Result<(), Violated> {
        self.always(point, cond, detail)
    }

    /// Records whether `cond` held here.
    pub fn sometimes(&mut self, point: Point, cond: bool) {
        debug_assert_eq!(point.kind(), PointKind::Sometimes);
        self.count(point, cond);
    }

    /// Records that this point was reached.
    pub fn reachable(&mut self, point: Point) {
        debug_assert_eq!(point.kind(), PointKind::Reachable);
        self.count(point, true);
    }

    /// Reaching this point is a failure.
    pub fn unreachable(&mut self, point: Point, detail: String) -> Violated {
        debug_assert_eq!(point.kind(), PointKind::Unreachable);
        self.count(point, true);
        Violated { point, detail }
    }

    fn count(&mut self, point: Point, cond: bool) {
        let i = point as usize;
        self.coverage.evaluated[i] += 1;
        if cond {
            self.coverage.hit[i] += 1;
        }
    }

    /// The counts so far.
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    /// The counts, by value.
    pub fn into_coverage(self) -> Coverage {
        self.coverage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_snake_case() {
        let mut names: Vec<&str> = Point::ALL.iter().map(|p| p.name()).collect();
        assert!(
            names
                .iter()
                .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Point::ALL.len());
        for (i, point) in Point::ALL.iter().enumerate() {
            assert_eq!(*point as usize, i, "catalog order is the enum's order");
        }
    }

    #[test]
    fn always_fails_on_false_and_counts() {
        let mut props = Props::default();
        assert!(
            props
                .always(Point::OneLeaderPerTerm, true, || "x".into())
                .is_ok()
        );
        let violated = props
            .always(Point::OneLeaderPerTerm, false, || "two leaders".into())
            .expect_err("a false always fails");
        assert_eq!(violated.point, Point::OneLeaderPerTerm);
        assert_eq!(violated.detail, "two leaders");
        assert_eq!(props.coverage().of(Point::OneLeaderPerTerm), (2, 1));
    }

    #[test]
    fn campaign_satisfaction() {
        let mut props = Props::default();
        props.sometimes(Point::LeaseExpired, false);
        let mut total = Coverage::default();
        total.add(props.coverage());
        assert!(!total.satisfied(Point::LeaseExpired));
        assert!(!total.satisfied(Point::Linearizable), "never evaluated");
        assert!(total.satisfied(Point::Liveness), "may be unreachable");
        props.sometimes(Point::LeaseExpired, true);
        total.add(props.coverage());
        assert!(total.satisfied(Point::LeaseExpired));
    }
}
