//! A member's clock: simulated time mapped to the member's local time (what its shell's clock
//! reads) by pieces, each with an offset and a drift; a jump starts a new piece.
//!
//! A member keeps its own time from the readings it is given: the first reading, then every
//! step forward (a reading that went back adds nothing; see `invar_node::Instant`). So a jump
//! forward moves the member's time forward, a jump back costs it nothing, and a restarted
//! member starts again from the reading it gets ([`Clock::restart`]). [`Clock::own`] models
//! that time (up to a tick's worth at each backward jump, which the member's ticking makes
//! up for: it reads the clock once per tick).
//!
//! The pieces are kept, so that the lease property can ask how far a member's own time
//! advanced between two past simulated times (within one incarnation).

/// Parts per million.
const PPM: i128 = 1_000_000;

#[derive(Clone, Copy, Debug)]
struct Piece {
    /// Simulated time where the piece starts.
    sim: u64,
    /// Local time there.
    local: u64,
    /// The member's own time there.
    own: u64,
    /// Drift in parts per million (above -1,000,000: local time always runs forward).
    drift_ppm: i64,
    /// The member restarted here (its own time starts again from the local time).
    restart: bool,
}

impl Piece {
    fn elapsed_local(&self, sim: u64) -> u64 {
        let elapsed = i128::from(sim.saturating_sub(self.sim));
        let scaled = elapsed * (PPM + i128::from(self.drift_ppm)) / PPM;
        u64::try_from(scaled).unwrap_or(u64::MAX)
    }

    /// The first simulated time at which this piece's clock has run `nanos` of local time.
    fn sim_after(&self, nanos: u64) -> u64 {
        let rate = PPM + i128::from(self.drift_ppm);
        let elapsed = (i128::from(nanos) * PPM + rate - 1) / rate;
        u64::try_from(i128::from(self.sim) + elapsed).unwrap_or(u64::MAX)
    }
}

/// One member's clock.
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    pieces: Vec<Piece>,
}

impl Clock {
    /// A clock reading `offset` at simulated time 0, running `drift_ppm` fast.
    pub(crate) fn new(offset: u64, drift_ppm: i64) -> Clock {
        let drift_ppm = drift_ppm.clamp(-500_000, 500_000);
        Clock {
            pieces: vec![Piece {
                sim: 0,
                local: offset,
                own: offset,
                drift_ppm,
                restart: false,
            }],
        }
    }

    fn piece_at(&self, sim: u64) -> &Piece {
        let i = self.pieces.partition_point(|p| p.sim <= sim);
        &self.pieces[i.saturating_sub(1)]
    }

    /// Local time (the shell's clock) at simulated time `sim`.
    pub(crate) fn local(&self, sim: u64) -> u64 {
        let piece = self.piece_at(sim);
        piece.local.saturating_add(piece.elapsed_local(sim))
    }

    /// The member's own time at simulated time `sim`.
    pub(crate) fn own(&self, sim: u64) -> u64 {
        let piece = self.piece_at(sim);
        piece.own.saturating_add(piece.elapsed_local(sim))
    }

    /// The first simulated time at or after `now` at which local time reaches `local`,
    /// assuming no further jump.
    pub(crate) fn sim_when(&self, local: u64, now: u64) -> u64 {
        let Some(piece) = self.pieces.last() else {
            return now;
        };
        let current = self.local(now.max(piece.sim));
        if local <= current {
            return now;
        }
        piece.sim_after(local - piece.local).max(now)
    }

    fn push(&mut self, now: u64, local: u64, own: u64, restart: bool) {
        let drift_ppm = self.pieces.last().map_or(0, |p| p.drift_ppm);
        // Pieces after `now` cannot exist: the world only moves forward.
        self.pieces.retain(|p| p.sim < now);
        self.pieces.push(Piece {
            sim: now,
            local,
            own,
            drift_ppm,
            restart,
        });
    }

    /// Jumps by `nanos` (backwards when negative) at simulated time `now`.
    pub(crate) fn jump(&mut self, now: u64, nanos: i64) {
        let (local, own) = (self.local(now), self.own(now));
        let step = nanos.unsigned_abs();
        if nanos >= 0 {
            self.push(
                now,
                local.saturating_add(step),
                own.saturating_add(step),
                false,
            );
        } else {
            self.push(now, local.saturating_sub(step), own, false);
        }
    }

    /// The member restarts at `now`: its own time starts again from the local time.
    pub(crate) fn restart(&mut self, now: u64) {
        let local = self.local(now);
        self.push(now, local, local, true);
    }

    /// How far the member's own time advanced from simulated time `from` to `to`, within
    /// one incarnation: the most any of the incarnations alive in between advanced over its
    /// part of the span (a restarted member knows nothing of its earlier life).
    pub(crate) fn advanced(&self, from: u64, to: u64) -> u64 {
        let mut best = 0;
        let mut start = from;
        for restart in self
            .pieces
            .iter()
            .filter(|p| p.restart && p.sim > from && p.sim <= to)
            .map(|p| p.sim)
        {
            best = best.max(self.own(restart - 1).saturating_sub(self.own(start)));
            start = restart;
        }
        best.max(self.own(to).saturating_sub(self.own(start)))
    }

    /// The first simulated time at which the member's own time is `nanos` past what it was at
    /// `from` (or, in a later incarnation, past where that one started), given the pieces so
    /// far (and none after `now`).
    pub(crate) fn first_advanced(&self, from: u64, nanos: u64, now: u64) -> u64 {
        let mut target = self.own(from).saturating_add(nanos);
        let start = self
            .pieces
            .partition_point(|p| p.sim <= from)
            .saturating_sub(1);
        for (i, piece) in self.pieces.iter().enumerate().skip(start) {
            let begin = piece.sim.max(from);
            if piece.restart && piece.sim > from {
                target = piece.own.saturating_add(nanos);
            }
            if piece.own >= target {
                return begin;
            }
            let end = self.pieces.get(i + 1).map_or(u64::MAX, |next| next.sim);
            let at = piece.sim_after(target - piece.own).max(begin);
            if at < end {
                return at;
            }
        }
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_and_inverse() {
        let clock = Clock::new(1_000, 10_000); // 1% fast
        assert_eq!(clock.local(0), 1_000);
        assert_eq!(clock.local(1_000_000), 1_000 + 1_010_000);
        let at = clock.sim_when(1_000 + 1_010_000, 0);
        assert!(clock.local(at) >= 1_000 + 1_010_000);
        assert!(clock.local(at - 1) < 1_000 + 1_010_000);
        assert_eq!(clock.sim_when(500, 7), 7, "already past");
    }

    #[test]
    fn a_backward_jump_costs_the_member_nothing() {
        let mut clock = Clock::new(0, 0);
        clock.jump(1_000, -600);
        assert_eq!(clock.local(1_000), 400);
        assert_eq!(clock.own(1_000), 1_000, "its own time does not go back");
        assert_eq!(clock.own(1_500), 1_500, "and runs on at the clock's pace");
        assert_eq!(clock.advanced(500, 1_700), 1_200);
        assert_eq!(clock.first_advanced(500, 600, 2_000), 1_100);
        assert_eq!(
            clock.sim_when(500, 1_000),
            1_100,
            "deadlines are local readings"
        );
    }

    #[test]
    fn a_restart_starts_from_the_reading() {
        let mut clock = Clock::new(0, 0);
        clock.jump(1_000, -600);
        clock.restart(1_100);
        assert_eq!(
            clock.own(1_100),
            500,
            "the new incarnation reads its clock as it is"
        );
        assert_eq!(clock.own(1_300), 700);
        assert_eq!(
            clock.advanced(900, 1_300),
            200,
            "the new life, from its start"
        );
        assert_eq!(
            clock.advanced(500, 1_300),
            599,
            "the old life advanced more before it"
        );
        assert_eq!(
            clock.first_advanced(900, 100, 2_000),
            1_000,
            "the old life got there"
        );
        assert_eq!(
            clock.first_advanced(1_050, 100, 2_000),
            1_200,
            "100 after the restart"
        );
    }

    #[test]
    fn a_forward_jump_advances_at_once() {
        let mut clock = Clock::new(0, 0);
        clock.jump(100, 5_000);
        assert_eq!(clock.own(100), 5_100);
        assert_eq!(clock.advanced(50, 100), 5_050);
        assert_eq!(clock.first_advanced(50, 1_000, 200), 100);
        assert_eq!(clock.first_advanced(0, 20, 200), 20);
        assert_eq!(clock.sim_when(5_200, 100), 200);
    }
}
