//! The simulated network between member slots: per-link delay distributions (a minimum plus
//! an exponential tail, so messages reorder), loss, duplication, delay spikes, clogged links
//! (messages wait until the clog ends), and partitions of any shape as sets of blocked
//! directed links. Client traffic only has a delay: etcd's robustness faults, like these,
//! are between peers.

use std::collections::{BTreeMap, BTreeSet};

use invar_raft::Prng;

use crate::schedule::{LinkProfile, Shape, exponential};

/// A partition in force.
#[derive(Clone, Debug)]
struct Cut {
    /// Blocked directed links (from slot, to slot).
    links: BTreeSet<(usize, usize)>,
}

/// The peer network.
#[derive(Debug)]
pub(crate) struct Network {
    slots: usize,
    links: Vec<LinkProfile>,
    rng: Prng,
    /// Partitions in force, by id.
    cuts: BTreeMap<u64, Cut>,
    /// The union of every cut's links.
    blocked: BTreeSet<(usize, usize)>,
    /// Clogged links: until when.
    clogs: BTreeMap<(usize, usize), u64>,
    /// Delay spikes: (extra delay, until when).
    spikes: BTreeMap<(usize, usize), (u64, u64)>,
    /// Links made calm for good (liveness mode's healed core): no loss, no duplication.
    calm: BTreeSet<(usize, usize)>,
    next_cut: u64,
}

impl Network {
    pub(crate) fn new(slots: usize, links: Vec<LinkProfile>, rng: Prng) -> Network {
        Network {
            slots,
            links,
            rng,
            cuts: BTreeMap::new(),
            blocked: BTreeSet::new(),
            clogs: BTreeMap::new(),
            spikes: BTreeMap::new(),
            calm: BTreeSet::new(),
            next_cut: 1,
        }
    }

    fn profile(&self, from: usize, to: usize) -> LinkProfile {
        self.links
            .get(from * self.slots + to)
            .cloned()
            .unwrap_or(LinkProfile {
                delay_min_nanos: 500_000,
                delay_mean_nanos: 500_000,
                loss_ppm: 0,
                duplicate_ppm: 0,
            })
    }

    /// Whether `from` → `to` is cut.
    pub(crate) fn is_blocked(&self, from: usize, to: usize) -> bool {
        self.blocked.contains(&(from, to))
    }

    /// When the copies of a message sent now on `from` → `to` arrive: none if it is lost or
    /// the link is cut, two if it is duplicated.
    pub(crate) fn send(&mut self, from: usize, to: usize, now: u64) -> Vec<u64> {
        if from == to {
            return vec![now];
        }
        if self.is_blocked(from, to) {
            return Vec::new();
        }
        let link = self.profile(from, to);
        let calm = self.calm.contains(&(from, to));
        if !calm && link.loss_ppm > 0 && self.rng.range(0, 1_000_000) < link.loss_ppm {
            return Vec::new();
        }
        let copies =
            if !calm && link.duplicate_ppm > 0 && self.rng.range(0, 1_000_000) < link.duplicate_ppm
            {
                2
            } else {
                1
            };
        let spike = match self.spikes.get(&(from, to)) {
            Some(&(extra, until)) if until > now => extra,
            _ => 0,
        };
        let clog = match self.clogs.get(&(from, to)) {
            Some(&until) if until > now => until,
            _ => 0,
        };
        (0..copies)
            .map(|_| {
                let delay = link.delay_min_nanos
                    + exponential(&mut self.rng, link.delay_mean_nanos.max(1))
                    + spike;
                (now + delay).max(clog)
            })
            .collect()
    }

    /// Starts a partition over `members` (the slots now in the cluster) with `shape`, where
    /// `leader` is the slot leading now; returns its id, or `None` if it cuts nothing.
    pub(crate) fn cut(
        &mut self,
        shape: &Shape,
        members: &[usize],
        leader: Option<usize>,
    ) -> Option<u64> {
        let mut links = BTreeSet::new();
        let both = |links: &mut BTreeSet<(usize, usize)>, a: usize, b: usize| {
            links.insert((a, b));
            links.insert((b, a));
        };
        match shape {
            Shape::Split { side } => {
                for &a in side.iter().filter(|s| members.contains(s)) {
                    for &b in members.iter().filter(|s| !side.contains(s)) {
                        both(&mut links, a, b);
                    }
                }
            }
            Shape::OneWay { slot, inbound } => {
                for &other in members.iter().filter(|&&s| s != *slot) {
                    if *inbound {
                        links.insert((other, *slot));
                    } else {
                        links.insert((*slot, other));
                    }
                }
            }
            Shape::Bridge { bridge, left } => {
                for &a in left.iter().filter(|s| members.contains(s)) {
                    for &b in members
                        .iter()
                        .filter(|&&s| s != *bridge && !left.contains(&s))
                    {
                        both(&mut links, a, b);
                    }
                }
            }
            Shape::IsolateLeader => {
                let leader = leader?;
                for &other in members.iter().filter(|&&s| s != leader) {
                    both(&mut links, leader, other);
                }
            }
        }
        if links.is_empty() {
            return None;
        }
        let id = self.next_cut;
        self.next_cut += 1;
        self.cuts.insert(id, Cut { links });
        self.rebuild();
        Some(id)
    }

    /// Ends partition `id` (nothing if it already ended).
    pub(crate) fn heal(&mut self, id: u64) {
        if self.cuts.remove(&id).is_some() {
            self.rebuild();
        }
    }

    fn rebuild(&mut self) {
        self.blocked = self
            .cuts
            .values()
            .flat_map(|cut| cut.links.iter().copied())
            .collect();
    }

    /// Clogs `from` → `to` until `until`.
    pub(crate) fn clog(&mut self, from: usize, to: usize, until: u64) {
        let entry = self.clogs.entry((from, to)).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Adds `extra` delay to `from` → `to` until `until`.
    pub(crate) fn spike(&mut self, from: usize, to: usize, extra: u64, until: u64) {
        self.spikes.insert((from, to), (extra, until));
    }

    /// Ends every partition, clog and spike.
    pub(crate) fn heal_all(&mut self) {
        self.cuts.clear();
        self.blocked.clear();
        self.clogs.clear();
        self.spikes.clear();
    }

    /// Makes every link between `core` slots healthy for good: cuts touching two of them
    /// lose those links, clogs and spikes between them end, loss and duplication stop.
    pub(crate) fn heal_core(&mut self, core: &[usize]) {
        let inside = |&(a, b): &(usize, usize)| core.contains(&a) && core.contains(&b);
        for cut in self.cuts.values_mut() {
            cut.links.retain(|link| !inside(link));
        }
        self.cuts.retain(|_, cut| !cut.links.is_empty());
        self.clogs.retain(|link, _| !inside(link));
        self.spikes.retain(|link, _| !inside(link));
        for &a in core {
            for &b in core {
                self.calm.insert((a, b));
            }
        }
        self.rebuild();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calm_links(n: usize) -> Vec<LinkProfile> {
        (0..n * n)
            .map(|_| LinkProfile {
                delay_min_nanos: 1_000,
                delay_mean_nanos: 1_000,
                loss_ppm: 0,
                duplicate_ppm: 0,
            })
            .collect()
    }

    #[test]
    fn shapes_block_the_right_links() {
        let mut net = Network::new(5, calm_links(5), Prng::new(1));
        let all = [0, 1, 2, 3, 4];
        let split = net
            .cut(&Shape::Split { side: vec![0, 1] }, &all, None)
            .expect("cuts");
        assert!(net.is_blocked(0, 3) && net.is_blocked(3, 0));
        assert!(!net.is_blocked(0, 1) && !net.is_blocked(2, 3));
        net.heal(split);
        assert!(!net.is_blocked(0, 3));
        net.cut(
            &Shape::Bridge {
                bridge: 2,
                left: vec![0, 1],
            },
            &all,
            None,
        );
        assert!(net.is_blocked(0, 3) && !net.is_blocked(0, 2) && !net.is_blocked(2, 4));
        net.heal_all();
        net.cut(
            &Shape::OneWay {
                slot: 4,
                inbound: true,
            },
            &all,
            None,
        );
        assert!(net.is_blocked(0, 4) && !net.is_blocked(4, 0));
        assert!(
            net.cut(&Shape::IsolateLeader, &all, None).is_none(),
            "no leader: nothing to cut"
        );
        net.cut(&Shape::IsolateLeader, &all, Some(1));
        assert!(net.is_blocked(1, 3) && net.is_blocked(3, 1));
        net.heal_core(&[1, 3]);
        assert!(!net.is_blocked(1, 3) && net.is_blocked(1, 2));
    }

    #[test]
    fn loss_duplication_and_clogs() {
        let mut links = calm_links(2);
        links[1].loss_ppm = 500_000;
        links[2].duplicate_ppm = 1_000_000;
        let mut net = Network::new(2, links, Prng::new(9));
        let lost = (0..1_000).filter(|_| net.send(0, 1, 0).is_empty()).count();
        assert!((350..650).contains(&lost), "about half lost: {lost}");
        assert_eq!(net.send(1, 0, 0).len(), 2, "always duplicated");
        net.clog(1, 0, 1_000_000);
        assert!(net.send(1, 0, 10).iter().all(|&at| at >= 1_000_000));
    }
}
