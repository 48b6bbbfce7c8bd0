//! Store images: the whole store (every kept revision record, the leases, the current and
//! compact revisions) as one checksummed byte string, for raft snapshots. A member that
//! installs a leader's snapshot restores its store from the image; the consistent index is not
//! part of the image (it is the snapshot's raft index, given by the caller).
//!
//! # Format (little endian)
//!
//! ```text
//! magic "INVARIMG" | version u8 | current revision i64 | compact revision i64
//! | record count u64 | (main u64, sub u64, record length u32, record bytes)...
//! | lease count u64 | (id i64, ttl i64, granted revision i64, remaining ttl i64)...
//! | crc32c u32 of every byte before it
//! ```
//!
//! Records are stored in the `kv` table's own format (see `codec`), so restoring checks each
//! one again. Decoding never panics: bad bytes are [`MvccError::Corrupted`].

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use crate::error::{MvccError, Result, backend};
use crate::index::KeyIndex;
use crate::lease::Leases;
use crate::revision::{Revision, RevisionKey};
use crate::store::{KV, LEASE, META, Store};

const MAGIC: [u8; 8] = *b"INVARIMG";
const VERSION: u8 = 1;

/// A decoded image, checked but not yet written.
struct Image {
    current_revision: i64,
    compact_revision: i64,
    records: Vec<(RevisionKey, Vec<u8>)>,
    leases: Vec<(i64, (i64, i64, i64))>,
}

fn corrupted(what: &str) -> MvccError {
    MvccError::Corrupted(format!("store image: {what}"))
}

struct Cursor<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self
            .offset
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| corrupted(&format!("truncated in {what}")))?;
        let out = &self.bytes[self.offset..end];
        self.offset = end;
        Ok(out)
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_le_bytes(buf))
    }

    fn i64(&mut self, what: &str) -> Result<i64> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8, what)?);
        Ok(i64::from_le_bytes(buf))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let mut buf = [0u8; 4];
        buf.copy_from_slice(self.take(4, what)?);
        Ok(u32::from_le_bytes(buf))
    }

    /// A count of items of at least `item_bytes` each, bounded by the bytes left.
    fn count(&mut self, item_bytes: usize, what: &str) -> Result<usize> {
        let count = self.u64(what)?;
        let left = (self.bytes.len() - self.offset) / item_bytes;
        usize::try_from(count)
            .ok()
            .filter(|count| *count <= left)
            .ok_or_else(|| corrupted(&format!("{what} {count} exceeds the bytes left")))
    }
}

fn decode(bytes: &[u8]) -> Result<Image> {
    let body_len = bytes
        .len()
        .checked_sub(4)
        .ok_or_else(|| corrupted("shorter than its checksum"))?;
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[body_len..]);
    if crc32c::crc32c(&bytes[..body_len]) != u32::from_le_bytes(crc) {
        return Err(corrupted("checksum mismatch"));
    }
    let mut c = Cursor {
        bytes: &bytes[..body_len],
        offset: 0,
    };
    if c.take(8, "magic")? != MAGIC {
        return Err(corrupted("bad magic"));
    }
    if c.take(1, "version")? != [VERSION] {
        return Err(corrupted("unknown version"));
    }
    let current_revision = c.i64("current revision")?;
    let compact_revision = c.i64("compact revision")?;
    if current_revision < 1 || compact_revision < -1 || compact_revision > current_revision {
        return Err(corrupted("revisions inconsistent"));
    }
    let record_count = c.count(20, "record count")?;
    let mut records = Vec::with_capacity(record_count);
    for _ in 0..record_count {
        let key = (c.u64("record main")?, c.u64("record sub")?);
        Revision::from_key(key)?;
        let len = c.u32("record length")? as usize;
        records.push((key, c.take(len, "record")?.to_vec()));
    }
    let lease_count = c.count(32, "lease count")?;
    let mut leases = Vec::with_capacity(lease_count);
    for _ in 0..lease_count {
        let id = c.i64("lease id")?;
        let value = (
            c.i64("lease ttl")?,
            c.i64("lease rev")?,
            c.i64("lease rem")?,
        );
        leases.push((id, value));
    }
    if c.offset != body_len {
        return Err(corrupted("trailing bytes before the checksum"));
    }
    Ok(Image {
        current_revision,
        compact_revision,
        records,
        leases,
    })
}

impl Store {
    /// The whole store as an image (see the module doc), as of the last applied entry.
    ///
    /// # Panics
    /// While a batch is open: an image is of committed state.
    pub fn image(&self) -> Result<Vec<u8>> {
        self.check_usable()?;
        self.assert_no_batch("image");
        let read = self.db.begin_read().map_err(backend)?;
        let mut out = MAGIC.to_vec();
        out.push(VERSION);
        out.extend_from_slice(&self.current_revision.to_le_bytes());
        out.extend_from_slice(&self.compact_revision.to_le_bytes());
        let kv = read.open_table(KV).map_err(backend)?;
        out.extend_from_slice(&kv.len().map_err(backend)?.to_le_bytes());
        for item in kv.iter().map_err(backend)? {
            let (key, value) = item.map_err(backend)?;
            let (main, sub) = key.value();
            let record = value.value();
            let len = u32::try_from(record.len())
                .map_err(|_| MvccError::Backend("record over 4 GiB".into()))?;
            out.extend_from_slice(&main.to_le_bytes());
            out.extend_from_slice(&sub.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(record);
        }
        let lease = read.open_table(LEASE).map_err(backend)?;
        out.extend_from_slice(&lease.len().map_err(backend)?.to_le_bytes());
        for item in lease.iter().map_err(backend)? {
            let (id, value) = item.map_err(backend)?;
            let (ttl, granted, remaining) = value.value();
            for field in [id.value(), ttl, granted, remaining] {
                out.extend_from_slice(&field.to_le_bytes());
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Replaces the whole store with `image` (from [`Store::image`]) as of raft entry `index`,
    /// in one durable (synced) redb transaction. The image is checked before anything is
    /// written: a bad image is [`MvccError::Corrupted`] and changes nothing.
    ///
    /// # Panics
    /// If `index` is below the consistent index: a snapshot never moves a store backwards;
    /// or while a batch is open.
    pub fn restore_image(&mut self, index: u64, image: &[u8]) -> Result<()> {
        self.check_usable()?;
        self.assert_no_batch("restore_image");
        assert!(
            index >= self.consistent_index,
            "snapshot index {index} below the consistent index {}",
            self.consistent_index
        );
        let image = decode(image)?;
        let result = self.write_image(index, &image);
        if result.is_err() {
            self.poison();
        }
        result
    }

    fn write_image(&mut self, index: u64, image: &Image) -> Result<()> {
        let consistent_index = i64::try_from(index)
            .map_err(|_| MvccError::Backend("consistent index above i64::MAX".into()))?;
        let txn = self.db.begin_write().map_err(backend)?;
        {
            txn.delete_table(KV).map_err(backend)?;
            txn.delete_table(LEASE).map_err(backend)?;
            let mut kv = txn.open_table(KV).map_err(backend)?;
            for (key, record) in &image.records {
                kv.insert(*key, record.as_slice()).map_err(backend)?;
            }
            let mut lease = txn.open_table(LEASE).map_err(backend)?;
            for (id, value) in &image.leases {
                lease.insert(*id, *value).map_err(backend)?;
            }
            let mut meta = txn.open_table(META).map_err(backend)?;
            meta.insert(crate::store::META_CURRENT_REVISION, image.current_revision)
                .map_err(backend)?;
            meta.insert(crate::store::META_COMPACT_REVISION, image.compact_revision)
                .map_err(backend)?;
            meta.insert(crate::store::META_CONSISTENT_INDEX, consistent_index)
                .map_err(backend)?;
        }
        txn.commit().map_err(backend)?;
        self.index = KeyIndex::default();
        self.leases = Leases::default();
        self.restore()?;
        self.attach_restored_leases()?;
        self.commits_since_sync = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        CompactionRequest, Config, HashKvRequest, LeaseGrantRequest, MemBackend, PutRequest,
        Request,
    };

    fn store() -> Store {
        Store::open(Box::new(MemBackend::new()), Config::default()).expect("open")
    }

    fn put(key: &str, value: &str, lease: i64) -> Request {
        Request::Put(PutRequest {
            key: key.into(),
            value: value.into(),
            lease,
            ..PutRequest::default()
        })
    }

    fn hash(store: &Store) -> u32 {
        store.hash_kv(&HashKvRequest::default()).expect("hash").hash
    }

    /// An image restored into another store gives the same hash, revisions and leases, and
    /// the restored store keeps applying from the image's index.
    #[test]
    fn image_round_trip() {
        let mut a = store();
        let grant = LeaseGrantRequest { ttl: 10, id: 7 };
        let requests = [
            put("a", "1", 0),
            Request::LeaseGrant(grant),
            put("b", "2", 7),
            put("a", "3", 0),
            Request::Compact(CompactionRequest {
                revision: 3,
                physical: true,
            }),
            put("c", "4", 0),
        ];
        for (k, request) in requests.iter().enumerate() {
            let _ = a.apply(k as u64 + 1, request).expect("apply");
        }
        let image = a.image().expect("image");
        let mut b = store();
        let _ = b.apply(1, &put("zzz", "gone", 0)).expect("apply");
        b.restore_image(6, &image).expect("restore");
        assert_eq!(hash(&a), hash(&b));
        assert_eq!(a.revision(), b.revision());
        assert_eq!(a.compact_revision(), b.compact_revision());
        assert_eq!(b.consistent_index(), 6);
        assert_eq!(b.durable_consistent_index(), 6);
        assert_eq!(b.lease_keys(7), vec![b"b".to_vec()]);
        b.check_invariants().expect("invariants");
        let _ = a.apply(7, &put("d", "5", 0)).expect("apply");
        let _ = b.apply(7, &put("d", "5", 0)).expect("apply");
        assert_eq!(hash(&a), hash(&b));
        assert_eq!(b.image().expect("image"), a.image().expect("image"));
    }

    /// A restored store reopens (from its durable bytes) at the image's state.
    #[test]
    fn restore_is_durable() {
        let mut a = store();
        let _ = a.apply(1, &put("a", "1", 0)).expect("apply");
        let image = a.image().expect("image");
        let backend = MemBackend::new();
        let mut b = Store::open(Box::new(backend.clone()), Config::default()).expect("open");
        b.restore_image(5, &image).expect("restore");
        drop(b);
        let c = Store::open(Box::new(backend.crash()), Config::default()).expect("reopen");
        assert_eq!(c.consistent_index(), 5);
        assert_eq!(hash(&c), hash(&a));
    }

    /// Every truncation and every flipped byte of an image is refused without a panic, and
    /// the store is left unchanged.
    #[test]
    fn bad_images_are_refused() {
        let mut a = store();
        let _ = a.apply(1, &put("a", "1", 0)).expect("apply");
        let _ = a.apply(2, &put("b", "2", 0)).expect("apply");
        let image = a.image().expect("image");
        let mut b = store();
        let _ = b.apply(1, &put("x", "y", 0)).expect("apply");
        let before = hash(&b);
        for len in 0..image.len() {
            assert!(b.restore_image(3, &image[..len]).is_err());
        }
        for at in 0..image.len() {
            let mut bad = image.clone();
            bad[at] ^= 0x40;
            assert!(b.restore_image(3, &bad).is_err());
        }
        assert_eq!(hash(&b), before);
        assert_eq!(b.consistent_index(), 1);
    }
}
