//! A member's clock: simulated time mapped to the member's local time by pieces, each with an
//! offset and a drift; a jump starts a new piece. Members see their clock only through the
//! instants of their ticks, and never act on a time earlier than one they saw, so what a
//! member "knows" is the running maximum of its clock ([`Clock::seen`]).
//!
//! The pieces are kept, so that the lease property can ask how far a member's clock advanced
//! between two past simulated times.

/// Parts per million.
const PPM: i128 = 1_000_000;

#[derive(Clone, Copy, Debug)]
struct Piece {
    /// Simulated time where the piece starts.
    sim: u64,
    /// Local time there.
    local: u64,
    /// The highest local time of every earlier piece (and of this one's start).
    seen_before: u64,
    /// Drift in parts per million (above -1,000,000: local time always runs forward).
    drift_ppm: i64,
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
                seen_before: offset,
                drift_ppm,
            }],
        }
    }

    fn piece_at(&self, sim: u64) -> &Piece {
        let i = self.pieces.partition_point(|p| p.sim <= sim);
        &self.pieces[i.saturating_sub(1)]
    }

    fn local_in(piece: &Piece, sim: u64) -> u64 {
        let elapsed = i128::from(sim.saturating_sub(piece.sim));
        let scaled = elapsed * (PPM + i128::from(piece.drift_ppm)) / PPM;
        u64::try_from(i128::from(piece.local) + scaled).unwrap_or(u64::MAX)
    }

    /// Local time at simulated time `sim`.
    pub(crate) fn local(&self, sim: u64) -> u64 {
        Clock::local_in(self.piece_at(sim), sim)
    }

    /// The highest local time up to simulated time `sim`: what a member that ticked then
    /// takes as "now".
    pub(crate) fn seen(&self, sim: u64) -> u64 {
        let piece = self.piece_at(sim);
        piece.seen_before.max(Clock::local_in(piece, sim))
    }

    /// The first simulated time at or after `from` (and at or after `now`, the present) at
    /// which local time reaches `local`, assuming no further jump.
    pub(crate) fn sim_when(&self, local: u64, now: u64) -> u64 {
        let Some(piece) = self.pieces.last() else {
            return now;
        };
        if local <= Clock::local_in(piece, now.max(piece.sim)) {
            return now;
        }
        let ahead = i128::from(local - piece.local);
        let rate = PPM + i128::from(piece.drift_ppm);
        // Round up so that local(sim) >= local.
        let elapsed = (ahead * PPM + rate - 1) / rate;
        let at = i128::from(piece.sim) + elapsed;
        u64::try_from(at).unwrap_or(u64::MAX).max(now)
    }

    /// Jumps by `nanos` (backwards when negative) at simulated time `now`.
    pub(crate) fn jump(&mut self, now: u64, nanos: i64) {
        let current = self.local(now);
        let seen = self.seen(now);
        let drift_ppm = self.pieces.last().map_or(0, |p| p.drift_ppm);
        let local = if nanos >= 0 {
            current.saturating_add(nanos.unsigned_abs())
        } else {
            current.saturating_sub(nanos.unsigned_abs())
        };
        // Pieces after `now` cannot exist: the world only moves forward.
        self.pieces.retain(|p| p.sim < now);
        self.pieces.push(Piece {
            sim: now,
            local,
            seen_before: seen.max(local),
            drift_ppm,
        });
    }

    /// How far the member's seen time advanced from simulated time `from` to `to`.
    pub(crate) fn advanced(&self, from: u64, to: u64) -> u64 {
        self.seen(to).saturating_sub(self.seen(from))
    }

    /// The first simulated time at which the member's seen time is `nanos` past what it was
    /// at `from`, given the pieces so far (and none after `now`).
    pub(crate) fn first_advanced(&self, from: u64, nanos: u64, now: u64) -> u64 {
        let target = self.seen(from).saturating_add(nanos);
        let start = self
            .pieces
            .partition_point(|p| p.sim <= from)
            .saturating_sub(1);
        for (i, piece) in self.pieces.iter().enumerate().skip(start) {
            let begin = piece.sim.max(from);
            if piece.seen_before >= target {
                return begin;
            }
            let end = self.pieces.get(i + 1).map_or(u64::MAX, |next| next.sim);
            let rate = PPM + i128::from(piece.drift_ppm);
            let ahead = i128::from(target.saturating_sub(piece.local));
            let at = i128::from(piece.sim) + (ahead * PPM + rate - 1) / rate;
            let at = u64::try_from(at).unwrap_or(u64::MAX).max(begin);
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
    fn backward_jump_does_not_lower_what_was_seen() {
        let mut clock = Clock::new(0, 0);
        clock.jump(1_000, -600);
        assert_eq!(clock.local(1_000), 400);
        assert_eq!(clock.seen(1_000), 1_000);
        assert_eq!(clock.seen(1_500), 1_000, "still catching up");
        assert_eq!(clock.seen(1_700), 1_100);
        assert_eq!(clock.advanced(500, 1_700), 600);
        assert_eq!(clock.first_advanced(500, 600, 2_000), 1_700);
    }

    #[test]
    fn forward_jump_advances_at_once() {
        let mut clock = Clock::new(0, 0);
        clock.jump(100, 5_000);
        assert_eq!(clock.seen(100), 5_100);
        assert_eq!(clock.advanced(50, 100), 5_050);
        assert_eq!(clock.first_advanced(50, 1_000, 200), 100);
        assert_eq!(clock.first_advanced(0, 20, 200), 20);
        assert_eq!(clock.sim_when(5_200, 100), 200);
    }
}
