//! The byte format of one revision record in the `kv` table, and of lease records.
//!
//! A record is `[format u8][flags u8][create i64][mod i64][version i64][lease i64]`
//! `[key_len u32][key][value][crc32c u32]`, integers big-endian, the CRC over every byte before
//! it. Flag bit 0 marks a tombstone (a delete). Decoding never panics: bad bytes are
//! [`MvccError::Corrupted`] naming the revision and what was expected.

use crate::error::{MvccError, Result};
use crate::revision::Revision;
use crate::types::KeyValue;

const FORMAT_V1: u8 = 1;
const FLAG_TOMBSTONE: u8 = 1;
/// Bytes of a record besides its key and value.
const FIXED_LEN: usize = 1 + 1 + 8 * 4 + 4 + 4;

/// One decoded record: the kv (for a tombstone, only the key) and whether it is a tombstone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) kv: KeyValue,
    pub(crate) tombstone: bool,
}

/// Encodes a record. The kv of a tombstone must carry only its key.
pub(crate) fn encode(kv: &KeyValue, tombstone: bool) -> Vec<u8> {
    debug_assert!(!tombstone || (kv.value.is_empty() && kv.version == 0));
    let mut out = Vec::with_capacity(FIXED_LEN + kv.key.len() + kv.value.len());
    out.push(FORMAT_V1);
    out.push(if tombstone { FLAG_TOMBSTONE } else { 0 });
    for field in [kv.create_revision, kv.mod_revision, kv.version, kv.lease] {
        out.extend_from_slice(&field.to_be_bytes());
    }
    let key_len = u32::try_from(kv.key.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&key_len.to_be_bytes());
    out.extend_from_slice(&kv.key);
    out.extend_from_slice(&kv.value);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn corrupted(revision: Revision, what: &str) -> MvccError {
    MvccError::Corrupted(format!(
        "kv record at revision ({}, {}): {what}",
        revision.main, revision.sub
    ))
}

fn read_i64(bytes: &[u8], at: usize) -> i64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&bytes[at..at + 8]);
    i64::from_be_bytes(buf)
}

/// Decodes a record stored at `revision`.
pub(crate) fn decode(revision: Revision, bytes: &[u8]) -> Result<Record> {
    if bytes.len() < FIXED_LEN {
        return Err(corrupted(revision, "shorter than the fixed header"));
    }
    let body_len = bytes.len() - 4;
    let mut crc_bytes = [0u8; 4];
    crc_bytes.copy_from_slice(&bytes[body_len..]);
    if crc32c::crc32c(&bytes[..body_len]) != u32::from_be_bytes(crc_bytes) {
        return Err(corrupted(revision, "crc32c mismatch"));
    }
    if bytes[0] != FORMAT_V1 {
        return Err(corrupted(revision, "expected format byte 1"));
    }
    let tombstone = match bytes[1] {
        0 => false,
        FLAG_TOMBSTONE => true,
        _ => return Err(corrupted(revision, "unknown flags")),
    };
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(&bytes[34..38]);
    let key_len = usize::try_from(u32::from_be_bytes(len_bytes)).unwrap_or(usize::MAX);
    let key_end = 38usize.saturating_add(key_len);
    if key_end > body_len || key_len == 0 {
        return Err(corrupted(revision, "key length out of bounds"));
    }
    let kv = KeyValue {
        key: bytes[38..key_end].to_vec(),
        create_revision: read_i64(bytes, 2),
        mod_revision: read_i64(bytes, 10),
        version: read_i64(bytes, 18),
        value: bytes[key_end..body_len].to_vec(),
        lease: read_i64(bytes, 26),
    };
    if !tombstone && kv.mod_revision != revision.main {
        return Err(corrupted(
            revision,
            "mod_revision differs from the record's revision",
        ));
    }
    Ok(Record { kv, tombstone })
}

/// Folds one kept revision record into a HashKV checksum. The canonical form is
/// `main, sub (i64 BE), tombstone (u8), key_len (u32 BE), key, value_len (u32 BE), value,
/// create, mod, version, lease (i64 BE)`; for a tombstone the kv holds only its key.
/// Public so that reference models can compute the same hash.
pub fn hash_record(crc: u32, main: i64, sub: i64, kv: &KeyValue, tombstone: bool) -> u32 {
    let mut crc = crc32c::crc32c_append(crc, &main.to_be_bytes());
    crc = crc32c::crc32c_append(crc, &sub.to_be_bytes());
    crc = crc32c::crc32c_append(crc, &[u8::from(tombstone)]);
    let key_len = u32::try_from(kv.key.len()).unwrap_or(u32::MAX);
    crc = crc32c::crc32c_append(crc, &key_len.to_be_bytes());
    crc = crc32c::crc32c_append(crc, &kv.key);
    let value_len = u32::try_from(kv.value.len()).unwrap_or(u32::MAX);
    crc = crc32c::crc32c_append(crc, &value_len.to_be_bytes());
    crc = crc32c::crc32c_append(crc, &kv.value);
    for field in [kv.create_revision, kv.mod_revision, kv.version, kv.lease] {
        crc = crc32c::crc32c_append(crc, &field.to_be_bytes());
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Decoding arbitrary bytes returns a record or an error, never a panic; whatever
        /// decodes re-encodes to the same bytes.
        #[test]
        fn decode_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..96),
            main in 1i64..100,
        ) {
            let revision = Revision { main, sub: 0 };
            if let Ok(record) = decode(revision, &bytes) {
                prop_assert_eq!(encode(&record.kv, record.tombstone), bytes);
            }
        }

        /// Valid records with a corrupted byte never decode to a different record.
        #[test]
        fn encode_decode_round_trip(
            key in proptest::collection::vec(any::<u8>(), 1..16),
            value in proptest::collection::vec(any::<u8>(), 0..32),
            version in 1i64..9,
            lease in 0i64..9,
            flip in any::<usize>(),
        ) {
            let kv = KeyValue { key, create_revision: 3, mod_revision: 5, version, value, lease };
            let revision = Revision { main: 5, sub: 2 };
            let mut bytes = encode(&kv, false);
            let expected = Record { kv: kv.clone(), tombstone: false };
            prop_assert_eq!(decode(revision, &bytes).ok(), Some(expected));
            let at = flip % bytes.len();
            bytes[at] ^= 1;
            prop_assert!(decode(revision, &bytes).is_err());
        }
    }

    #[test]
    fn round_trip_and_every_flipped_byte_is_detected() {
        let kv = KeyValue {
            key: b"k".to_vec(),
            create_revision: 2,
            mod_revision: 5,
            version: 3,
            value: b"value".to_vec(),
            lease: 7,
        };
        let revision = Revision { main: 5, sub: 0 };
        let bytes = encode(&kv, false);
        assert_eq!(
            decode(revision, &bytes).unwrap(),
            Record {
                kv,
                tombstone: false
            }
        );
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            assert!(decode(revision, &bad).is_err(), "flip at {at} not detected");
        }
        for len in 0..bytes.len() {
            assert!(decode(revision, &bytes[..len]).is_err());
        }
    }
}
