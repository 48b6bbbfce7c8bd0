//! How a Raft member is tuned, with every limit named and validated.

use crate::types::NodeId;

/// Settings of one Raft member.
#[derive(Clone, Debug)]
pub struct Config {
    /// This member's id (never 0).
    pub id: NodeId,
    /// A follower that hears nothing from a leader for a random number of ticks in
    /// `[election_timeout_ticks, 2 * election_timeout_ticks)` starts an election. A leader
    /// with check-quorum steps down after this many ticks without hearing from a quorum.
    pub election_timeout_ticks: u32,
    /// A leader sends heartbeats every this many ticks.
    pub heartbeat_interval_ticks: u32,
    /// Campaign with a pre-vote round first, so a member that cannot win does not raise the
    /// term and disrupt a healthy leader.
    pub pre_vote: bool,
    /// A leader that has not heard from a quorum within an election timeout steps down, and
    /// followers that heard from a leader recently ignore vote requests (the leader lease).
    pub check_quorum: bool,
    /// At most this many append messages in flight to one follower in the replicate state.
    pub inflight_messages_max: usize,
    /// An append message carries entries of at most this many bytes (but at least one entry).
    pub message_bytes_max: u64,
    /// A leader refuses proposals while its uncommitted entries exceed this many bytes.
    pub uncommitted_bytes_max: u64,
    /// One `Ready` hands out committed entries of at most this many bytes (at least one).
    pub committed_bytes_per_ready_max: u64,
    /// Seed of the generator that draws randomized election timeouts.
    pub seed: u64,
}

/// Why a [`Config`] was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The id is 0.
    #[error("member id must not be 0")]
    ZeroId,
    /// A tick count is 0.
    #[error("{0} must be at least 1")]
    ZeroTicks(&'static str),
    /// The election timeout is not longer than the heartbeat interval.
    #[error("election timeout ({election}) must exceed the heartbeat interval ({heartbeat})")]
    ElectionNotAboveHeartbeat {
        /// The election timeout in ticks.
        election: u32,
        /// The heartbeat interval in ticks.
        heartbeat: u32,
    },
    /// A limit is 0.
    #[error("{0} must be at least 1")]
    ZeroLimit(&'static str),
}

impl Config {
    /// A configuration with etcd's defaults (election 10 ticks, heartbeat 1 tick, pre-vote and
    /// check-quorum on) for member `id`, with `seed` for its election jitter.
    pub fn new(id: NodeId, seed: u64) -> Config {
        Config {
            id,
            election_timeout_ticks: 10,
            heartbeat_interval_ticks: 1,
            pre_vote: true,
            check_quorum: true,
            inflight_messages_max: 256,
            message_bytes_max: 1024 * 1024,
            uncommitted_bytes_max: 64 * 1024 * 1024,
            committed_bytes_per_ready_max: 16 * 1024 * 1024,
            seed,
        }
    }

    /// Checks that the settings make sense together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id == 0 {
            return Err(ConfigError::ZeroId);
        }
        if self.election_timeout_ticks == 0 {
            return Err(ConfigError::ZeroTicks("election_timeout_ticks"));
        }
        if self.heartbeat_interval_ticks == 0 {
            return Err(ConfigError::ZeroTicks("heartbeat_interval_ticks"));
        }
        if self.election_timeout_ticks <= self.heartbeat_interval_ticks {
            return Err(ConfigError::ElectionNotAboveHeartbeat {
                election: self.election_timeout_ticks,
                heartbeat: self.heartbeat_interval_ticks,
            });
        }
        let limits = [
            ("inflight_messages_max", self.inflight_messages_max as u64),
            ("message_bytes_max", self.message_bytes_max),
            ("uncommitted_bytes_max", self.uncommitted_bytes_max),
            (
                "committed_bytes_per_ready_max",
                self.committed_bytes_per_ready_max,
            ),
        ];
        for (name, value) in limits {
            if value == 0 {
                return Err(ConfigError::ZeroLimit(name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_bad_combinations() {
        assert_eq!(Config::new(1, 0).validate(), Ok(()));
        assert_eq!(Config::new(0, 0).validate(), Err(ConfigError::ZeroId));
        let mut c = Config::new(1, 0);
        c.heartbeat_interval_ticks = 10;
        assert!(matches!(
            c.validate(),
            Err(ConfigError::ElectionNotAboveHeartbeat { .. })
        ));
        let mut c = Config::new(1, 0);
        c.inflight_messages_max = 0;
        assert_eq!(
            c.validate(),
            Err(ConfigError::ZeroLimit("inflight_messages_max"))
        );
    }
}
