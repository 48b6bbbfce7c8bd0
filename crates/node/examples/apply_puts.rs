//! Apply throughput of a three-member cluster in one process, on simulated disks: the
//! leader gets N puts (64-byte values) with up to W of them in flight at once, and the run
//! ends when every member applied them all. It prints what the run did (requests, Ready
//! batches are not visible here, so the disks' mutating operations stand in for the work
//! below raft); time it from outside, e.g.
//!
//! ```sh
//! CARGO_BUILD_JOBS=1 cargo build --release -p invar-node --example apply_puts
//! /usr/bin/time -f '%e s' target/release/examples/apply_puts 20000 64
//! ```
//!
//! Arguments: the number of puts (default 20,000), the most in flight (default 64), and
//! optionally `catch-up`: member 3 is cut off during the puts and catches up afterwards
//! (the log is kept, so it gets entries, not a snapshot: its Readies carry many committed
//! entries at once). Delivery is in order and instant, so otherwise each committed entry
//! reaches a member in a Ready of its own; the run is deterministic (the same arguments give
//! the same output).

use std::collections::VecDeque;
use std::path::Path;

use invar_mvcc::PutRequest;
use invar_node::{ClientRequest, Config, Effect, Event, Instant, Member};
use invar_raft::Message;
use invar_storage::fs::SimFs;

const TICK_NANOS: u64 = 10_000_000;
const MEMBERS: u64 = 3;

fn arg(position: usize, default: u64) -> u64 {
    std::env::args()
        .nth(position)
        .map(|text| text.parse().expect("a number"))
        .unwrap_or(default)
}

struct World {
    members: Vec<Member<SimFs>>,
    /// The member whose messages are dropped, both ways.
    cut: Option<u64>,
    disks: Vec<SimFs>,
    in_flight: VecDeque<Message>,
    now: Instant,
    answered: u64,
    failed: u64,
}

impl World {
    fn new(snapshot_entries: u64) -> World {
        let ids: Vec<u64> = (1..=MEMBERS).collect();
        let mut members = Vec::new();
        let mut disks = Vec::new();
        for &id in &ids {
            let mut config = Config::new(id, &ids, 7 * id);
            config.tick_interval_nanos = TICK_NANOS;
            config.snapshot_entries = snapshot_entries;
            config.snapshot_keep_entries = 1_000;
            let disk = SimFs::with_seed(11 * id);
            let member = Member::open(disk.clone(), Path::new("/member"), config).expect("open");
            members.push(member);
            disks.push(disk);
        }
        World {
            members,
            cut: None,
            disks,
            in_flight: VecDeque::new(),
            now: Instant(0),
            answered: 0,
            failed: 0,
        }
    }

    fn feed(&mut self, slot: usize, event: Event) {
        let effects = self.members[slot].handle(event).expect("handle");
        for effect in effects {
            match effect {
                Effect::Send(message) => {
                    let cut = self
                        .cut
                        .is_some_and(|id| id == message.to || id == message.from);
                    if !cut {
                        self.in_flight.push_back(message);
                    }
                }
                Effect::Reply { result, .. } => {
                    self.answered += 1;
                    self.failed += u64::from(result.is_err());
                }
                Effect::Watch { .. } => {}
            }
        }
    }

    /// Delivers every message in flight (and those they cause), in order.
    fn drain(&mut self) {
        while let Some(message) = self.in_flight.pop_front() {
            let slot = usize::try_from(message.to - 1).expect("member id");
            self.feed(slot, Event::Message(message));
        }
    }

    fn tick(&mut self) {
        self.now = self.now.plus_nanos(TICK_NANOS);
        for slot in 0..self.members.len() {
            self.feed(slot, Event::Tick(self.now));
        }
        self.drain();
    }

    fn leader(&self) -> Option<usize> {
        self.members.iter().position(Member::is_leader)
    }
}

fn main() {
    let puts = arg(1, 20_000);
    let window = arg(2, 64).max(1);
    let catch_up = std::env::args()
        .nth(3)
        .is_some_and(|mode| mode == "catch-up");
    let snapshot_entries = if catch_up { puts + 1_000 } else { 5_000 };
    let mut world = World::new(snapshot_entries);
    while world.leader().is_none() {
        world.tick();
    }
    if catch_up {
        let leader_id = world.leader().expect("a leader") as u64 + 1;
        world.cut = Some(if leader_id == 3 { 2 } else { 3 });
    }
    let mut sent = 0u64;
    let mut request_id = 1u64;
    while world.answered < puts {
        let leader = world.leader().expect("a stable leader");
        while sent < puts && sent - world.answered < window {
            let request = ClientRequest::Put(PutRequest {
                key: format!("key/{:08}", sent % 10_000).into_bytes(),
                value: vec![b'v'; 64],
                ..PutRequest::default()
            });
            let event = Event::Request {
                id: request_id,
                request,
            };
            request_id += 1;
            sent += 1;
            world.feed(leader, event);
        }
        world.drain();
        world.tick();
    }
    world.cut = None;
    while world
        .members
        .iter()
        .any(|m| m.applied_index() < world.members[0].raft().committed())
    {
        world.tick();
    }
    let ops: Vec<u64> = world.disks.iter().map(SimFs::mutating_ops).collect();
    println!(
        "puts {puts} window {window} catch-up {catch_up}: answered {} failed {} revision {} applied {:?} \
         disk mutating ops per member {ops:?}",
        world.answered,
        world.failed,
        world.members[0].store().revision(),
        world
            .members
            .iter()
            .map(Member::applied_index)
            .collect::<Vec<_>>(),
    );
}
