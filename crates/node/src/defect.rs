//! Deliberate defects: realistic mistakes compiled in only with the cargo feature `defects`,
//! so that the simulator's properties can prove they catch each one. The enum exists in
//! every build (the CLI lists it); [`crate::Config::defect`] is honoured only when the
//! feature is on, and [`crate::Member::open`] refuses a defect in a build without it.

use std::fmt;
use std::str::FromStr;

/// One deliberate defect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Defect {
    /// Writes are answered when appended to the log, before the WAL sync and before they
    /// commit: a crash loses an acknowledged write.
    AckBeforeWalSync,
    /// The store writes the consistent index in its own redb transaction after the data: a
    /// crash between them makes replay apply an entry twice.
    ConsistentIndexSeparateTxn,
    /// A linearizable range is served from the local store at once, without a ReadIndex.
    LinearizableReadLocal,
    /// Followers time leases by their own clock and keep those expiry times when they are
    /// promoted: a lease kept alive on the old leader expires early on the new one.
    LeaseExpiryFollowerClock,
    /// A watcher catching up from history loses the events of the last revision of each
    /// catch-up piece.
    WatchCatchUpDropsEvents,
    /// Compaction also removes the latest revision of a live key when it is below the
    /// compaction revision.
    CompactDropsLatest,
    /// On restart the member forgets the vote in its hard state, so it can vote twice in
    /// one term.
    ForgetVoteOnRestart,
}

impl Defect {
    /// Every defect, in a stable order.
    pub const ALL: [Defect; 7] = [
        Defect::AckBeforeWalSync,
        Defect::ConsistentIndexSeparateTxn,
        Defect::LinearizableReadLocal,
        Defect::LeaseExpiryFollowerClock,
        Defect::WatchCatchUpDropsEvents,
        Defect::CompactDropsLatest,
        Defect::ForgetVoteOnRestart,
    ];

    /// The stable kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Defect::AckBeforeWalSync => "ack-before-wal-sync",
            Defect::ConsistentIndexSeparateTxn => "consistent-index-separate-txn",
            Defect::LinearizableReadLocal => "linearizable-read-local",
            Defect::LeaseExpiryFollowerClock => "lease-expiry-follower-clock",
            Defect::WatchCatchUpDropsEvents => "watch-catch-up-drops-events",
            Defect::CompactDropsLatest => "compact-drops-latest",
            Defect::ForgetVoteOnRestart => "forget-vote-on-restart",
        }
    }

    /// What it breaks, in one sentence.
    pub fn description(self) -> &'static str {
        match self {
            Defect::AckBeforeWalSync => {
                "writes are acknowledged when proposed, before the WAL sync and the commit"
            }
            Defect::ConsistentIndexSeparateTxn => {
                "the consistent index is committed in a separate store transaction from the data"
            }
            Defect::LinearizableReadLocal => {
                "linearizable reads are served from the local store without a ReadIndex"
            }
            Defect::LeaseExpiryFollowerClock => {
                "followers time leases on their own clock and keep those expiries when promoted"
            }
            Defect::WatchCatchUpDropsEvents => {
                "watch catch-up drops the events of the last revision of each piece"
            }
            Defect::CompactDropsLatest => {
                "compaction removes a live key's latest revision below the compaction revision"
            }
            Defect::ForgetVoteOnRestart => {
                "a restarted member forgets its vote and may vote twice in a term"
            }
        }
    }

    /// Whether this build honours defects (the `defects` feature).
    pub fn compiled_in() -> bool {
        cfg!(feature = "defects")
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown defect name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown defect {0:?}")]
pub struct UnknownDefect(pub String);

impl FromStr for Defect {
    type Err = UnknownDefect;

    fn from_str(name: &str) -> Result<Defect, UnknownDefect> {
        Defect::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| UnknownDefect(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut names: Vec<&str> = Defect::ALL.iter().map(|d| d.name()).collect();
        for defect in Defect::ALL {
            assert_eq!(defect.name().parse::<Defect>(), Ok(defect));
            assert!(!defect.description().is_empty());
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Defect::ALL.len());
        assert!("no-such-defect".parse::<Defect>().is_err());
    }
}
