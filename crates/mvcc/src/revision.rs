//! Revisions and key ranges.

use crate::error::{MvccError, Result};

/// A revision: `main` is bumped once per mutating request, `sub` numbers the changes inside it.
///
/// Invariant: a stored revision has `main >= 1` and `sub >= 0`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    /// The store revision of the request.
    pub main: i64,
    /// The position of the change inside the request.
    pub sub: i64,
}

/// A revision as the `kv` table's key.
pub(crate) type RevisionKey = (u64, u64);

impl Revision {
    /// The table key for this revision.
    pub(crate) fn to_key(self) -> RevisionKey {
        assert!(
            self.main >= 1 && self.sub >= 0,
            "revision {self:?} is never stored"
        );
        (self.main.unsigned_abs(), self.sub.unsigned_abs())
    }

    /// The revision for a table key read from disk.
    pub(crate) fn from_key(key: RevisionKey) -> Result<Self> {
        let main = i64::try_from(key.0).ok().filter(|main| *main >= 1);
        let sub = i64::try_from(key.1).ok();
        match (main, sub) {
            (Some(main), Some(sub)) => Ok(Revision { main, sub }),
            _ => Err(MvccError::Corrupted(format!(
                "kv table key {key:?} is not a revision"
            ))),
        }
    }
}

/// The keys a request covers, from its `key` and `range_end` (etcd's conventions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRange<'a> {
    /// `range_end` empty: the key alone.
    Single(&'a [u8]),
    /// `range_end == "\0"`: every key `>= key`.
    From(&'a [u8]),
    /// `[key, range_end)`; empty when `range_end <= key`.
    Between(&'a [u8], &'a [u8]),
}

impl<'a> KeyRange<'a> {
    /// Interprets `key` and `range_end` as etcd does.
    pub fn new(key: &'a [u8], range_end: &'a [u8]) -> Self {
        match range_end {
            [] => KeyRange::Single(key),
            [0] => KeyRange::From(key),
            _ => KeyRange::Between(key, range_end),
        }
    }

    /// Whether `candidate` is in the range.
    pub fn contains(&self, candidate: &[u8]) -> bool {
        match *self {
            KeyRange::Single(key) => candidate == key,
            KeyRange::From(key) => candidate >= key,
            KeyRange::Between(key, end) => candidate >= key && candidate < end,
        }
    }
}
