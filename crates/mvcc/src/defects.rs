//! Deliberate defects (cargo feature `defects`): realistic mistakes at the store's real code
//! paths, switched on per store by [`crate::Config::defects`], so that the simulator can
//! prove its properties catch them. Never enable the feature in production.

/// The store's deliberate defects; all off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Defects {
    /// The consistent index is committed in a second redb transaction after the data (not
    /// durable with it): a crash between them leaves data whose raft entry is applied again
    /// on replay.
    pub consistent_index_separate_txn: bool,
    /// Compaction also removes the latest revision of a live key when it is at or below the
    /// compaction revision (an off-by-one in the keep rule): the key disappears.
    pub compact_drops_latest: bool,
}
