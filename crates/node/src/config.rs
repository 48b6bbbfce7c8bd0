//! A member's configuration: every limit and interval it runs with.

use std::collections::BTreeMap;

use invar_raft::NodeId;
use invar_storage::wal::WalConfig;

use crate::api::MemberAttributes;
use crate::defect::Defect;
use crate::error::NodeError;

/// etcd's default backend quota (`DefaultQuotaBytes`): 2 GiB.
pub const QUOTA_BACKEND_BYTES_DEFAULT: u64 = 2 * 1024 * 1024 * 1024;

/// A member's configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Raft's configuration (`raft.id` is this member's id; `raft.seed` seeds the election
    /// jitter).
    pub raft: invar_raft::Config,
    /// The voters of a new cluster (all initial members give the same list). A member whose
    /// directory holds no log bootstraps with them.
    pub initial_voters: Vec<NodeId>,
    /// The attributes of the initial voters (etcd's `--initial-cluster`), written into the
    /// bootstrap conf changes: every initial member must be given the same map. A voter
    /// missing here is named `member-<id>` with no URLs.
    pub initial_cluster: BTreeMap<NodeId, MemberAttributes>,
    /// A member without a log joins an existing cluster (etcd's
    /// `--initial-cluster-state existing`): it starts empty and learns the log, the members
    /// and the store from the leader, after a MemberAdd named its id. Otherwise it
    /// bootstraps a new cluster of [`Config::initial_voters`].
    pub join_existing: bool,
    /// Most learners at once (etcd's `--max-learners`, 1).
    pub learners_max: usize,
    /// etcd's `--strict-reconfig-check` (on by default): a MemberAdd, MemberRemove or
    /// MemberPromote that would leave fewer active voters than a quorum is refused with
    /// "re-configuration failed due to not enough started members". A peer is active when
    /// this member heard from it within an election timeout.
    pub strict_reconfig_check: bool,
    /// The backend quota (etcd's `--quota-backend-bytes`): a write that would grow the
    /// store's file past it raises the NOSPACE alarm and is refused.
    pub quota_backend_bytes: u64,
    /// A deliberate defect to compile in (only with the cargo feature `defects`; without
    /// it, [`crate::Member::open`] refuses a config that sets one).
    pub defect: Option<Defect>,
    /// The cluster id reported in response headers.
    pub cluster_id: u64,
    /// Nanoseconds between raft ticks.
    pub tick_interval_nanos: u64,
    /// Most raft ticks run for one `Tick` event (time jumped far ahead).
    pub ticks_per_event_max: u32,
    /// A pending request with no answer after this long fails with "request timed out".
    pub request_timeout_nanos: u64,
    /// Most client requests pending (proposed or waiting for a read index) at once.
    pub pending_requests_max: usize,
    /// Take a raft snapshot after this many entries were applied past the last one.
    pub snapshot_entries: u64,
    /// Entries kept in the log behind a snapshot, for slightly slow followers.
    pub snapshot_keep_entries: u64,
    /// Snapshot files kept (at least 2, so a corrupt newest one has a fallback).
    pub snapshot_files_kept: usize,
    /// Most raft `Ready` batches carried out for one event.
    pub readies_per_event_max: u32,
    /// The store's configuration.
    pub mvcc: invar_mvcc::Config,
    /// The write-ahead log's limits.
    pub wal: WalConfig,
    /// Seed of the member's own generator (lease ids).
    pub seed: u64,
    /// Ticks between periodic progress notifications to watchers created with
    /// `progress_notify` (etcd: 10 minutes).
    pub watch_progress_interval_ticks: u64,
    /// A watcher created with `fragment` gets its events in pieces of at most this many
    /// bytes (keys, values and previous values; at least one event per piece).
    pub watch_fragment_bytes_max: usize,
    /// Most expired leases the leader proposes to revoke per tick.
    pub lease_revokes_per_tick_max: usize,
    /// An expired lease whose revoke was proposed but not applied is proposed again after
    /// this long (etcd: 3 s).
    pub lease_revoke_retry_nanos: u64,
}

impl Config {
    /// Defaults for member `id` of a new cluster of `initial_voters`, with `seed` for every
    /// random choice (raft's election jitter and lease ids draw from it).
    pub fn new(id: NodeId, initial_voters: &[NodeId], seed: u64) -> Config {
        Config {
            raft: invar_raft::Config::new(id, seed),
            initial_voters: initial_voters.to_vec(),
            initial_cluster: BTreeMap::new(),
            join_existing: false,
            learners_max: 1,
            strict_reconfig_check: true,
            quota_backend_bytes: QUOTA_BACKEND_BYTES_DEFAULT,
            defect: None,
            cluster_id: 0x1_4a7a,
            tick_interval_nanos: 100_000_000,
            ticks_per_event_max: 10,
            request_timeout_nanos: 7_000_000_000,
            pending_requests_max: 10_000,
            snapshot_entries: 10_000,
            snapshot_keep_entries: 5_000,
            snapshot_files_kept: 2,
            readies_per_event_max: 64,
            mvcc: invar_mvcc::Config::default(),
            wal: WalConfig::default(),
            seed: seed ^ 0x6e6f_6465,
            watch_progress_interval_ticks: 6_000,
            watch_fragment_bytes_max: 1_572_864,
            lease_revokes_per_tick_max: 100,
            lease_revoke_retry_nanos: 3_000_000_000,
        }
    }

    /// Checks the limits.
    pub fn validate(&self) -> Result<(), NodeError> {
        let invalid = |what: &str| Err(NodeError::InvalidConfig(what.to_string()));
        if let Err(error) = self.raft.validate() {
            return Err(NodeError::InvalidConfig(error.to_string()));
        }
        if let Err(error) = self.mvcc.validate() {
            return invalid(error);
        }
        if let Err(error) = self.wal.validate() {
            return Err(NodeError::InvalidConfig(error.to_string()));
        }
        if self.tick_interval_nanos == 0 {
            return invalid("tick_interval_nanos must be at least 1");
        }
        if self.ticks_per_event_max == 0 || self.readies_per_event_max == 0 {
            return invalid("ticks_per_event_max and readies_per_event_max must be at least 1");
        }
        if self.pending_requests_max == 0 {
            return invalid("pending_requests_max must be at least 1");
        }
        if self.snapshot_entries == 0 {
            return invalid("snapshot_entries must be at least 1");
        }
        if self.watch_progress_interval_ticks == 0 || self.watch_fragment_bytes_max == 0 {
            return invalid(
                "watch_progress_interval_ticks and watch_fragment_bytes_max must be at least 1",
            );
        }
        if self.lease_revokes_per_tick_max == 0 {
            return invalid("lease_revokes_per_tick_max must be at least 1");
        }
        if self.snapshot_files_kept < 2 {
            return invalid("snapshot_files_kept must be at least 2");
        }
        if self.quota_backend_bytes == 0 {
            return invalid("quota_backend_bytes must be at least 1");
        }
        if let Some(defect) = self.defect
            && !Defect::compiled_in()
        {
            return Err(NodeError::InvalidConfig(format!(
                "defect {defect} needs a build with the `defects` cargo feature"
            )));
        }
        Ok(())
    }
}

impl Config {
    /// Whether `defect` is configured (compiled in: the `defects` feature is on).
    #[cfg(feature = "defects")]
    pub(crate) fn has_defect(&self, defect: Defect) -> bool {
        self.defect == Some(defect)
    }
}
