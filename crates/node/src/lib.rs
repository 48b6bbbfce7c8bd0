//! `invar-node`: one member of an Invar cluster, deterministic. It composes the consensus core
//! (`invar-raft`), the write-ahead log and snapshot files (`invar-storage`) and the
//! revisioned store (`invar-mvcc`), and keeps the client requests it is waiting on.
//!
//! Events go in ([`Event`]: a peer message, a tick at a given time, a client request, a watch
//! create/cancel/progress request), effects come out ([`Effect`]: a message to send, a reply
//! to a request, a watch response).
//!
//! # What it never does
//!
//! No clock (time is the [`Instant`] in each [`Event::Tick`]), no threads, no sockets, no
//! `std::fs` (files go through `invar-storage`'s file trait, real or simulated), no OS
//! randomness (lease ids and raft's election jitter come from seeds in [`Config`]), no
//! `HashMap` iteration. The same events give the same effects and the same bytes on disk.
//!
//! # Call protocol (the shell's loop)
//!
//! 1. [`Member::open`] the member's directory: a new member bootstraps a cluster of
//!    [`Config::initial_voters`]; an existing one restarts from its WAL, its snapshot and its
//!    store, replaying only the committed entries above the store's consistent index.
//! 2. Feed events with [`Member::handle`]: [`Event::Tick`] at least every
//!    [`Config::tick_interval_nanos`] (see [`Member::next_deadline`]), [`Event::Message`] for
//!    each peer message, [`Event::Request`] for each client request.
//! 3. Carry out the returned effects in order: [`Effect::Send`] the messages (everything they
//!    promise is already durable: the WAL was synced before they were produced), deliver
//!    [`Effect::Reply`]s and [`Effect::Watch`] responses (on their stream, in order).
//! 4. If `handle` returns an error, the member is stopped: drop it, and open it again.
//!
//! # Inside one event
//!
//! The event is given to raft; then each raft `Ready` is carried out in its contract's order:
//! the snapshot file and the WAL (marker, entries, hard state) are written and synced, the
//! messages are emitted, a leader's snapshot is restored into the store, committed entries are
//! applied in log order in one store batch (one redb transaction holding their changes and
//! the last one's raft index, the store's consistent index, committed once; durable every
//! `mvcc.commits_per_sync` commits), writes are answered (and watchers notified) in log order
//! once the batch is committed, linearizable reads when the applied index reaches their
//! read index; then `advance`. When the log has grown
//! by [`Config::snapshot_entries`] since the last snapshot, the store is synced, its image
//! becomes a raft snapshot, a snapshot file and a WAL marker; old WAL segments and snapshot
//! files are released.
//!
//! # Requests
//!
//! - Serializable ranges are served from the local store at once.
//! - Linearizable ranges ask raft for a read index (forwarded to the leader by raft itself on
//!   a follower) and are served once this member applied that index.
//! - Put, DeleteRange, Txn (read-only ones too), Compact, LeaseGrant and LeaseRevoke are
//!   checked with `invar_mvcc::validate` and proposed as a [`codec::Proposal`] (the member's
//!   id, the request id, the request). **Only the leader proposes: a follower answers
//!   [`RequestError::NotLeader`] with the leader it knows and does not forward**, so that a
//!   request is never proposed twice behind the client's back; the client (or the server
//!   shell) retries on the leader.
//! - LeaseKeepAlive and LeaseTimeToLive are answered by the leader from its clock after a
//!   ReadIndex round confirms that it still leads in the term it took them in (etcd's
//!   `ensureLeadership`): a deposed leader that has not noticed yet never renews; its
//!   request fails with [`RequestError::LeaderChanged`] or [`RequestError::NotLeader`], or
//!   times out. A follower answers [`RequestError::NotLeader`]; LeaseLeases is served
//!   locally. Lease expiry is decided by the leader's clock only and revoked through
//!   consensus (a proposed LeaseRevoke); a new leader renews every lease's TTL from its own
//!   clock (see `lease.rs`).
//! - A write is answered when the entry at its index is applied and is the one it proposed
//!   (same member, request id and term). If another entry takes its index, or this member
//!   stops leading first, it fails with [`RequestError::LeaderChanged`] ("etcdserver: leader
//!   changed"): it may still be applied, so the client must treat the outcome as unknown.
//!   Unanswered reads fail the same way when the leader changes, and every request fails with
//!   [`RequestError::TimedOut`] after [`Config::request_timeout_nanos`].
//!
//! - The cluster API (MemberAdd, MemberRemove, MemberPromote, MoveLeader) is leader-only and
//!   goes through raft conf changes, one at a time, whose context carries the member's
//!   attributes; MemberList is served from the applied member list (after a ReadIndex round
//!   when `linearizable`). Rules, ids and errors: see `membership.rs`. A member that applied
//!   its own removal answers every request "the member has been permanently removed from
//!   the cluster" ([`Member::is_removed`]).
//! - Status, HashKv, Defragment and Snapshot are served by this member at once; Alarm Get
//!   too, Activate/Deactivate go through consensus. The backend quota raises the NOSPACE
//!   alarm; with it raised, Put, growing Txns and LeaseGrant fail with "etcdserver: mvcc:
//!   database space exceeded" on every member; a disk that is really full stops the member
//!   ([`NodeError::is_no_space`]). See `maintenance.rs`.
//! - A learner serves serializable reads and the local maintenance requests only
//!   ("etcdserver: rpc not supported for learner").
//! - The member list and the alarms are replicated state beside the store: applied from the
//!   log, carried in every raft snapshot (an envelope around the store image), and rebuilt on
//!   restart from the snapshot plus the WAL's entries up to the consistent index (see
//!   `cluster.rs`). A new member joins with [`Config::join_existing`] after a MemberAdd.
//!
//! # Deliberate defects
//!
//! [`Defect`] lists realistic mistakes compiled in only with the cargo feature `defects`
//! and chosen per member with [`Config::defect`] (a build without the feature refuses a
//! config naming one), so that the simulator can prove its properties catch each.
//!
//! # Watches
//!
//! Served from this member's applied store (followers too), per client stream
//! ([`StreamId`]). Each apply's events go at once to the synced watchers; a watcher that
//! starts in the past gets the history in pieces of at most
//! `mvcc.watch_catch_up_revisions_max` revisions, one piece per stream per event, and a
//! start (or, while catching up, next) revision below the compact revision is canceled with
//! the compact revision. Progress notifications (every
//! [`Config::watch_progress_interval_ticks`] ticks to synced watchers created with
//! `progress_notify`; on demand with [`Event::WatchProgress`] once the whole stream is
//! synced) carry the applied revision and never precede an event at or below it.
//!
//! # Invariants
//!
//! - Nothing is sent or acknowledged before the WAL sync that makes it durable, and no write
//!   is acknowledged (nor its events sent) before the store batch holding it is committed.
//! - The store's consistent index equals raft's applied index after every `Ready`; an entry
//!   at or below it is never applied again (asserted).
//! - Every request gets exactly one reply (or none if the member crashes first).

#![deny(missing_docs, unreachable_pub)]

mod api;
mod cluster;
pub mod codec;
mod config;
mod defect;
mod error;
mod event;
mod lease;
mod maintenance;
mod member;
mod membership;
mod pending;
mod ready;
mod watch;

pub use api::{
    AlarmAction, AlarmMember, AlarmRequest, AlarmResponse, AlarmType, ETCD_API_VERSION,
    MemberAddRequest, MemberAddResponse, MemberAttributes, MemberIdRequest, MemberInfo,
    MemberListRequest, MembersResponse, MoveLeaderRequest, SnapshotResponse, StatusResponse,
};
pub use config::{Config, QUOTA_BACKEND_BYTES_DEFAULT};
pub use defect::{Defect, UnknownDefect};
pub use error::{NodeError, RequestError};
pub use event::{
    ClientRequest, ClientResponse, Effect, Event, Instant, LeaseKeepAliveRequest,
    LeaseKeepAliveResponse, RequestId, StreamId,
};
pub use member::{Member, member_paths};
