//! The WAL's on-disk record format: framing and payload codecs. Pure functions on bytes.
//!
//! A frame is `len: u32 | type: u8 | payload crc: u32 | header crc: u32 | payload (len bytes)`.
//! The first nine bytes and the payload are whitened (XORed with a fixed keystream, by position
//! in the frame; see `whiten`); the payload crc is the CRC32C of the whitened payload and the
//! header crc the CRC32C of the nine whitened bytes before it. The header has its own checksum so that a damaged length is caught as
//! damage, never mistaken for a record cut short by a crash. All integers are little endian and
//! fixed width; nothing platform-sized reaches the disk.
//!
//! Payloads:
//! - `SegmentHeader` (type 1): magic `b"INVARWAL"`, format version `u32`, segment sequence
//!   `u64`, first index `u64` (the index the segment's first new entry will have).
//! - `HardState` (type 2): term `u64`, vote `u64`, commit `u64`.
//! - `Entries` (type 3): count `u32`, then per entry: index `u64`, term `u64`, kind `u8`,
//!   data length `u32`, data. Entries are contiguous and in index order.
//! - `SnapshotMarker` (type 4): index `u64`, term `u64`, reset `u8` (0: the log held the
//!   marker's entry, keep what follows it; 1: it did not, drop the whole log).

use invar_raft::{Entry, EntryKind, HardState, Index, Term};

/// Bytes of a frame before its payload.
pub(crate) const FRAME_HEADER_BYTES: usize = 13;
/// The segment header's magic.
pub(crate) const MAGIC: [u8; 8] = *b"INVARWAL";
/// The format version written and accepted.
pub(crate) const VERSION: u32 = 1;

const ENTRY_HEADER_BYTES: usize = 8 + 8 + 1 + 4;

/// The kinds of records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordType {
    SegmentHeader = 1,
    HardState = 2,
    Entries = 3,
    SnapshotMarker = 4,
}

impl RecordType {
    fn from_byte(byte: u8) -> Option<RecordType> {
        match byte {
            1 => Some(RecordType::SegmentHeader),
            2 => Some(RecordType::HardState),
            3 => Some(RecordType::Entries),
            4 => Some(RecordType::SnapshotMarker),
            _ => None,
        }
    }
}

/// One decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    SegmentHeader {
        sequence: u64,
        first_index: Index,
    },
    HardState(HardState),
    Entries(Vec<Entry>),
    SnapshotMarker {
        index: Index,
        term: Term,
        reset: bool,
    },
}

/// Why the bytes at some offset are not a valid frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The segment ends inside the frame header.
    ShortHeader { available: u64 },
    /// The header's checksum does not match: its length and type cannot be trusted.
    HeaderCrc { stored: u32, computed: u32 },
    /// The (checksummed) length is larger than any record may be.
    TooLong { len: u64, max: u64 },
    /// The (checksummed) type byte is unknown.
    UnknownType(u8),
    /// The segment ends inside the payload that a valid header announces.
    ShortPayload { needed: u64, available: u64 },
    /// The payload's checksum does not match.
    PayloadCrc { stored: u32, computed: u32 },
}

impl FrameError {
    /// What the reader expected, for `Corrupted { expected }`.
    pub(crate) fn expected(&self) -> String {
        match self {
            FrameError::ShortHeader { available } => format!(
                "a record header of {FRAME_HEADER_BYTES} bytes, found only {available} \
                 before the end"
            ),
            FrameError::HeaderCrc { stored, computed } => {
                format!("record header crc32c {computed:#010x}, stored {stored:#010x}")
            }
            FrameError::TooLong { len, max } => {
                format!("a record length of at most {max} bytes, found {len}")
            }
            FrameError::UnknownType(byte) => format!("a record type 1..=4, found {byte}"),
            FrameError::ShortPayload { needed, available } => {
                format!("a record of {needed} bytes, found only {available} before the end")
            }
            FrameError::PayloadCrc { stored, computed } => {
                format!("record payload crc32c {computed:#010x}, stored {stored:#010x}")
            }
        }
    }
}

/// Appends one frame holding `payload` to `out`.
pub(crate) fn encode_frame(out: &mut Vec<u8>, record_type: RecordType, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    assert_eq!(len as usize, payload.len(), "record payload over 4 GiB");
    let start = out.len();
    out.resize(start + FRAME_HEADER_BYTES, 0);
    out.extend_from_slice(payload);
    whiten(&mut out[start + FRAME_HEADER_BYTES..], FRAME_HEADER_BYTES);
    let payload_crc = crc32c::crc32c(&out[start + FRAME_HEADER_BYTES..]);
    let header = &mut out[start..start + FRAME_HEADER_BYTES];
    header[..4].copy_from_slice(&len.to_le_bytes());
    header[4] = record_type as u8;
    header[5..9].copy_from_slice(&payload_crc.to_le_bytes());
    whiten(&mut header[..9], 0);
    let header_crc = crc32c::crc32c(&header[..9]);
    header[9..].copy_from_slice(&header_crc.to_le_bytes());
    debug_assert_eq!(out.len() - start, FRAME_HEADER_BYTES + payload.len());
}

/// XORs `bytes`, found `position` bytes into a frame, with the frame keystream (an involution).
///
/// Whitening makes an all-zero run inside a valid record as unlikely as guessing the stream,
/// so that a zero sector piece really means "never written" to the torn-tail check, even when
/// entries carry runs of zeros.
fn whiten(bytes: &mut [u8], position: usize) {
    let mut done = 0;
    while done < bytes.len() {
        let at = position + done;
        let word = keystream_word(at as u64 / 8).to_le_bytes();
        let lane = at % 8;
        let n = (8 - lane).min(bytes.len() - done);
        for (byte, key) in bytes[done..done + n].iter_mut().zip(&word[lane..lane + n]) {
            *byte ^= key;
        }
        done += n;
    }
}

/// The keystream's `n`th 8-byte word: SplitMix64's finalizer over the word number.
fn keystream_word(n: u64) -> u64 {
    let mut z = n.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn le_u32(bytes: &[u8]) -> u32 {
    let mut array = [0u8; 4];
    array.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(array)
}

/// The header's first nine bytes, un-whitened: (length, type byte, payload crc).
fn read_header(raw: &[u8]) -> (u64, u8, u32) {
    let mut header = [0u8; 9];
    header.copy_from_slice(&raw[..9]);
    whiten(&mut header, 0);
    (u64::from(le_u32(&header)), header[4], le_u32(&header[5..]))
}

/// Decodes the frame at the start of `bytes`: its type, payload and total length. Never
/// panics, whatever the bytes.
pub(crate) fn decode_frame(
    bytes: &[u8],
    payload_bytes_max: u64,
) -> Result<(RecordType, Vec<u8>, usize), FrameError> {
    let available = bytes.len() as u64;
    let Some(header) = bytes.get(..FRAME_HEADER_BYTES) else {
        return Err(FrameError::ShortHeader { available });
    };
    let stored = le_u32(&header[9..]);
    let computed = crc32c::crc32c(&header[..9]);
    if stored != computed {
        return Err(FrameError::HeaderCrc { stored, computed });
    }
    let (len, type_byte, payload_crc) = read_header(header);
    if len > payload_bytes_max {
        return Err(FrameError::TooLong {
            len,
            max: payload_bytes_max,
        });
    }
    let record_type = RecordType::from_byte(type_byte).ok_or(FrameError::UnknownType(type_byte))?;
    let frame_len = FRAME_HEADER_BYTES as u64 + len;
    let Some(raw) = usize::try_from(frame_len)
        .ok()
        .and_then(|end| bytes.get(FRAME_HEADER_BYTES..end))
    else {
        return Err(FrameError::ShortPayload {
            needed: frame_len,
            available,
        });
    };
    let computed = crc32c::crc32c(raw);
    if payload_crc != computed {
        return Err(FrameError::PayloadCrc {
            stored: payload_crc,
            computed,
        });
    }
    let mut payload = raw.to_vec();
    whiten(&mut payload, FRAME_HEADER_BYTES);
    Ok((record_type, payload, FRAME_HEADER_BYTES + raw.len()))
}

/// A cursor over a payload that fails instead of panicking when bytes run out.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.bytes.len() < n {
            return Err("payload shorter than its fields");
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        let mut array = [0u8; 8];
        array.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(array))
    }

    fn finish(&self) -> Result<(), &'static str> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err("payload longer than its fields")
        }
    }
}

impl Record {
    /// Encodes the record as one frame appended to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let mut payload = Vec::new();
        let record_type = match self {
            Record::SegmentHeader {
                sequence,
                first_index,
            } => {
                payload.extend_from_slice(&MAGIC);
                payload.extend_from_slice(&VERSION.to_le_bytes());
                payload.extend_from_slice(&sequence.to_le_bytes());
                payload.extend_from_slice(&first_index.to_le_bytes());
                RecordType::SegmentHeader
            }
            Record::HardState(hs) => {
                for field in [hs.term, hs.vote, hs.commit] {
                    payload.extend_from_slice(&field.to_le_bytes());
                }
                RecordType::HardState
            }
            Record::Entries(entries) => {
                encode_entries(&mut payload, entries);
                RecordType::Entries
            }
            Record::SnapshotMarker { index, term, reset } => {
                payload.extend_from_slice(&index.to_le_bytes());
                payload.extend_from_slice(&term.to_le_bytes());
                payload.push(u8::from(*reset));
                RecordType::SnapshotMarker
            }
        };
        encode_frame(out, record_type, &payload);
    }

    /// Decodes a payload of the given type. Never panics, whatever the bytes.
    pub(crate) fn decode(record_type: RecordType, payload: &[u8]) -> Result<Record, &'static str> {
        let mut r = Reader { bytes: payload };
        let record = match record_type {
            RecordType::SegmentHeader => {
                if r.take(8)? != MAGIC {
                    return Err("segment header magic \"INVARWAL\"");
                }
                if r.u32()? != VERSION {
                    return Err("segment format version 1");
                }
                Record::SegmentHeader {
                    sequence: r.u64()?,
                    first_index: r.u64()?,
                }
            }
            RecordType::HardState => Record::HardState(HardState {
                term: r.u64()?,
                vote: r.u64()?,
                commit: r.u64()?,
            }),
            RecordType::Entries => Record::Entries(decode_entries(&mut r)?),
            RecordType::SnapshotMarker => Record::SnapshotMarker {
                index: r.u64()?,
                term: r.u64()?,
                reset: match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err("snapshot marker reset flag 0 or 1"),
                },
            },
        };
        r.finish()?;
        Ok(record)
    }
}

/// The payload bytes `entries` take in an `Entries` record (without the count).
pub(crate) fn entry_encoded_bytes(entry: &Entry) -> u64 {
    ENTRY_HEADER_BYTES as u64 + entry.data.len() as u64
}

/// Appends one `Entries` frame holding `entries` to `out`, without copying them into a
/// [`Record`] first.
pub(crate) fn encode_entries_record(out: &mut Vec<u8>, entries: &[Entry]) {
    let mut payload = Vec::new();
    encode_entries(&mut payload, entries);
    encode_frame(out, RecordType::Entries, &payload);
}

fn encode_entries(payload: &mut Vec<u8>, entries: &[Entry]) {
    let count = u32::try_from(entries.len()).unwrap_or(u32::MAX);
    assert_eq!(
        count as usize,
        entries.len(),
        "over 4 billion entries in a record"
    );
    payload.extend_from_slice(&count.to_le_bytes());
    for entry in entries {
        let data_len = u32::try_from(entry.data.len()).unwrap_or(u32::MAX);
        assert_eq!(data_len as usize, entry.data.len(), "entry data over 4 GiB");
        payload.extend_from_slice(&entry.index.to_le_bytes());
        payload.extend_from_slice(&entry.term.to_le_bytes());
        payload.push(entry.kind.to_byte());
        payload.extend_from_slice(&data_len.to_le_bytes());
        payload.extend_from_slice(&entry.data);
    }
}

fn decode_entries(r: &mut Reader<'_>) -> Result<Vec<Entry>, &'static str> {
    let count = r.u32()? as usize;
    // Each entry needs at least its header: bound the allocation by the bytes present.
    if count > r.bytes.len() / ENTRY_HEADER_BYTES {
        return Err("an entry count that fits the payload");
    }
    let mut entries = Vec::with_capacity(count);
    for _ in 0..count {
        let index = r.u64()?;
        let term = r.u64()?;
        let kind = EntryKind::from_byte(r.u8()?).ok_or("entry kind 0 or 1")?;
        let data_len = r.u32()? as usize;
        let data = r.take(data_len)?.to_vec();
        if let Some(prev) = entries.last().map(|e: &Entry| e.index)
            && prev.checked_add(1) != Some(index)
        {
            return Err("contiguous entry indexes within a record");
        }
        entries.push(Entry {
            term,
            index,
            kind,
            data,
        });
    }
    Ok(entries)
}

/// Whether the bad frame at `bytes[offset..]` looks like a partial write rather than damage.
///
/// Torn: the segment ends inside the frame (its length, if read, is covered by the header
/// checksum, so a damaged length cannot fake this), or the frame has a 512-byte-sector-aligned
/// piece of all zeros where the checksum failed (a sector that never reached the disk). A
/// checksummed header with an impossible length or type is damage, never a tear.
pub(crate) fn looks_torn(bytes: &[u8], offset: usize, error: &FrameError, sector: usize) -> bool {
    let (start, end) = match error {
        FrameError::ShortHeader { .. } | FrameError::ShortPayload { .. } => return true,
        FrameError::TooLong { .. } | FrameError::UnknownType(_) => return false,
        FrameError::HeaderCrc { .. } => (offset, offset.saturating_add(FRAME_HEADER_BYTES)),
        FrameError::PayloadCrc { .. } => {
            let header = bytes.get(offset..offset + FRAME_HEADER_BYTES);
            let len = header.map_or(0, |h| read_header(h).0 as usize);
            let payload_at = offset.saturating_add(FRAME_HEADER_BYTES);
            (payload_at, payload_at.saturating_add(len))
        }
    };
    has_zero_sector_piece(bytes, start, end.min(bytes.len()), sector.max(1))
}

/// Whether `bytes[start..end]`, cut at multiples of `sector`, has a piece of all zeros.
fn has_zero_sector_piece(bytes: &[u8], mut start: usize, end: usize, sector: usize) -> bool {
    while start < end {
        let piece_end = ((start / sector + 1) * sector).min(end);
        if bytes[start..piece_end].iter().all(|&b| b == 0) {
            return true;
        }
        start = piece_end;
    }
    false
}
