//! Invar's history format, version 1: JSON lines, one record per line (documented in
//! `docs/history-format.md`).
//!
//! The first line is the header `{"type":"header","format":"invar-history","version":1}`. Every
//! other line is an operation (`"type":"op"`), a watch request (`"type":"watch"`) or a watch
//! response (`"type":"watch_response"`). Keys and values are UTF-8 strings.

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

mod request_de;

/// The format version this crate reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The `format` field of the header.
pub const FORMAT_NAME: &str = "invar-history";

/// One key's value, as etcd's `mvccpb.KeyValue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value (empty for a keys-only read or a delete event).
    #[serde(default)]
    pub value: String,
    /// Revision of the key's last creation.
    #[serde(default)]
    pub create_revision: i64,
    /// Revision of the key's last modification.
    #[serde(default)]
    pub mod_revision: i64,
    /// Number of modifications since creation (0 after delete).
    #[serde(default)]
    pub version: i64,
    /// Attached lease id, 0 for none.
    #[serde(default)]
    pub lease: i64,
}

/// A txn compare target with its operand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareTarget {
    /// The key's version.
    Version(i64),
    /// The key's create revision.
    CreateRevision(i64),
    /// The key's mod revision.
    ModRevision(i64),
    /// The key's value (a missing key never matches).
    Value(String),
    /// The key's lease.
    Lease(i64),
}

/// How a compare relates the key's field to the operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareResult {
    /// `==`.
    Equal,
    /// `>`.
    Greater,
    /// `<`.
    Less,
    /// `!=`.
    NotEqual,
}

/// One txn compare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compare {
    /// The key (or start of the range).
    pub key: String,
    /// End of the range (etcd's conventions); absent for a single key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_end: Option<String>,
    /// The relation.
    pub result: CompareResult,
    /// The field and operand.
    pub target: CompareTarget,
}

/// A request, as etcd's v3 API.
// Deserialize is written by hand (`request_de`): the derived one buffers every object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// `Range`.
    Range {
        /// Key or range start.
        key: String,
        /// Range end (`"\u0000"` = all keys from `key`); absent for one key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        range_end: Option<String>,
        /// Read at this revision; 0 = latest.
        #[serde(default)]
        revision: i64,
        /// At most this many kvs; 0 = no limit.
        #[serde(default)]
        limit: i64,
        /// Served locally without ReadIndex (may be stale).
        #[serde(default)]
        serializable: bool,
        /// Values are left out.
        #[serde(default)]
        keys_only: bool,
        /// Only the count is returned.
        #[serde(default)]
        count_only: bool,
    },
    /// `Put`.
    Put {
        /// The key.
        key: String,
        /// The value.
        #[serde(default)]
        value: String,
        /// Lease to attach; 0 = none.
        #[serde(default)]
        lease: i64,
        /// Return the previous kv.
        #[serde(default)]
        prev_kv: bool,
        /// Keep the current value.
        #[serde(default)]
        ignore_value: bool,
        /// Keep the current lease.
        #[serde(default)]
        ignore_lease: bool,
    },
    /// `DeleteRange`.
    DeleteRange {
        /// Key or range start.
        key: String,
        /// Range end; absent for one key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        range_end: Option<String>,
        /// Return the deleted kvs.
        #[serde(default)]
        prev_kv: bool,
    },
    /// `Txn`.
    Txn {
        /// All must hold for `success` to run.
        #[serde(default)]
        compare: Vec<Compare>,
        /// Run when every compare holds.
        #[serde(default)]
        success: Vec<Request>,
        /// Run otherwise.
        #[serde(default)]
        failure: Vec<Request>,
    },
    /// `Compact`.
    Compact {
        /// Compact everything below this revision.
        revision: i64,
        /// Wait for the physical compaction.
        #[serde(default)]
        physical: bool,
    },
    /// `LeaseGrant`.
    LeaseGrant {
        /// Requested TTL in seconds.
        ttl: i64,
        /// Requested id; 0 = server-chosen.
        #[serde(default)]
        id: i64,
    },
    /// `LeaseRevoke`.
    LeaseRevoke {
        /// The lease.
        id: i64,
    },
    /// `LeaseKeepAlive` (one round trip).
    LeaseKeepAlive {
        /// The lease.
        id: i64,
    },
    /// `Defragment` (not linearizable; recorded for the timeline only).
    Defragment {},
}

impl Request {
    /// True for requests that may change the keyspace.
    #[must_use]
    pub fn may_write(&self) -> bool {
        match self {
            Request::Put { .. } | Request::DeleteRange { .. } | Request::LeaseRevoke { .. } => true,
            Request::Txn {
                success, failure, ..
            } => success.iter().chain(failure).any(Request::may_write),
            _ => false,
        }
    }
}

/// A response; which fields are present depends on the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// The header revision (for a txn's sub-responses: the txn's).
    #[serde(default)]
    pub revision: i64,
    /// Range: the kvs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kvs: Vec<KeyValue>,
    /// Range: the number of keys in the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// Range: more keys beyond the limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub more: bool,
    /// Put: the previous kv, when asked for and present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_kv: Option<KeyValue>,
    /// DeleteRange: how many keys were deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted: Option<i64>,
    /// DeleteRange: the deleted kvs, when asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prev_kvs: Vec<KeyValue>,
    /// Txn: whether the success branch ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<bool>,
    /// Txn: one response per op of the branch that ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responses: Vec<Response>,
    /// LeaseGrant: the lease id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// LeaseGrant/KeepAlive: the TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
}

/// One client operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpRecord {
    /// The client (one operation at a time per client).
    pub client: u64,
    /// Invoke time (any unit, non-decreasing per client).
    pub invoke: u64,
    /// Return time; absent when the outcome is unknown.
    #[serde(default, rename = "return", skip_serializing_if = "Option::is_none")]
    pub return_time: Option<u64>,
    /// The request.
    pub request: Request,
    /// The response, when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    /// The error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Watch filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum WatchFilter {
    /// Drop PUT events.
    NoPut,
    /// Drop DELETE events.
    NoDelete,
}

/// A watch create request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchRecord {
    /// The watch's id in this history (unique).
    pub watch: u64,
    /// The client that opened it.
    pub client: u64,
    /// When the request was sent.
    pub time: u64,
    /// Key or range start.
    pub key: String,
    /// Range end; absent for one key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_end: Option<String>,
    /// First revision to deliver; 0 = after the creation's header revision.
    #[serde(default)]
    pub start_revision: i64,
    /// Events carry the previous kv.
    #[serde(default)]
    pub prev_kv: bool,
    /// Event types filtered out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<WatchFilter>,
    /// Progress notifications requested.
    #[serde(default)]
    pub progress_notify: bool,
}

/// An event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A put.
    Put,
    /// A delete.
    Delete,
}

/// One watch event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchEvent {
    /// Put or delete.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// The key's new kv (for a delete: key and mod revision only).
    pub kv: KeyValue,
    /// The previous kv, if requested and available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_kv: Option<KeyValue>,
}

/// One watch response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchResponseRecord {
    /// The watch it belongs to.
    pub watch: u64,
    /// When it was received.
    pub time: u64,
    /// Header revision.
    pub revision: i64,
    /// The creation acknowledgement.
    #[serde(default)]
    pub created: bool,
    /// The watch was canceled (e.g. compacted).
    #[serde(default)]
    pub canceled: bool,
    /// When canceled by compaction: the compact revision.
    #[serde(default)]
    pub compact_revision: i64,
    /// A progress notification (no events).
    #[serde(default)]
    pub progress_notify: bool,
    /// The events.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<WatchEvent>,
}

/// One line of a history.
#[allow(clippy::large_enum_variant)] // one record per line, parsed and moved once
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The first line.
    Header {
        /// Always `invar-history`.
        format: String,
        /// The version, [`FORMAT_VERSION`].
        version: u32,
    },
    /// An operation.
    Op(OpRecord),
    /// A watch request.
    Watch(WatchRecord),
    /// A watch response.
    WatchResponse(WatchResponseRecord),
}

/// A parsed history: operations, watches and watch responses, each with its 1-based line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Operations in file order.
    pub ops: Vec<(u64, OpRecord)>,
    /// Watch requests in file order.
    pub watches: Vec<(u64, WatchRecord)>,
    /// Watch responses in file order.
    pub watch_responses: Vec<(u64, WatchResponseRecord)>,
}

/// Parses a JSON-lines history and checks its well-formedness: the header and version, each
/// line's shape, return ≥ invoke, one operation at a time per client, nothing after a client's
/// unknown-outcome operation, watch ids unique, responses after their watch.
///
/// # Errors
/// A [`ParseError`] naming the first bad line.
pub fn parse_history(text: &str) -> Result<History, ParseError> {
    let mut history = History::default();
    let mut header_seen = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let record =
            parse_record(raw).map_err(|e| ParseError::new(line, format!("bad record: {e}")))?;
        match record {
            Record::Header { format, version } => {
                if header_seen {
                    return Err(ParseError::new(line, "a second header"));
                }
                if format != FORMAT_NAME || version != FORMAT_VERSION {
                    let msg = format!(
                        "unsupported history {format:?} version {version} (this reads \
                         {FORMAT_NAME:?} version {FORMAT_VERSION})"
                    );
                    return Err(ParseError::new(line, msg));
                }
                header_seen = true;
            }
            _ if !header_seen => {
                return Err(ParseError::new(line, "expected the header line first"));
            }
            Record::Op(op) => history.ops.push((line, op)),
            Record::Watch(w) => history.watches.push((line, w)),
            Record::WatchResponse(r) => history.watch_responses.push((line, r)),
        }
    }
    if !header_seen {
        return Err(ParseError::new(0, "empty history: no header line"));
    }
    validate(&history)?;
    Ok(history)
}

/// Parses one line. Lines that start with the `type` field, as written by [`write_history`],
/// take a fast path that deserializes the record's struct directly (the tagged enum would buffer
/// the whole object first); others go through [`Record`].
fn parse_record(raw: &str) -> Result<Record, serde_json::Error> {
    let fast = |prefix: &str| raw.strip_prefix(prefix).map(|rest| format!("{{{rest}"));
    if let Some(body) = fast(r#"{"type":"op","#) {
        return serde_json::from_str(&body).map(Record::Op);
    }
    if let Some(body) = fast(r#"{"type":"watch_response","#) {
        return serde_json::from_str(&body).map(Record::WatchResponse);
    }
    serde_json::from_str(raw)
}

fn validate(history: &History) -> Result<(), ParseError> {
    use std::collections::BTreeMap;
    let mut last: BTreeMap<u64, (u64, Option<u64>)> = BTreeMap::new();
    let mut ops: Vec<&(u64, OpRecord)> = history.ops.iter().collect();
    ops.sort_by_key(|(line, op)| (op.invoke, *line));
    for (line, op) in ops {
        if let Some(ret) = op.return_time
            && ret < op.invoke
        {
            return Err(ParseError::new(*line, "return time before invoke time"));
        }
        if op.return_time.is_some() && op.response.is_none() && op.error.is_none() {
            return Err(ParseError::new(
                *line,
                "a returned operation needs a response or an error",
            ));
        }
        if op.response.is_some() && op.error.is_some() {
            return Err(ParseError::new(*line, "both a response and an error"));
        }
        if op.return_time.is_none() && op.response.is_some() {
            return Err(ParseError::new(*line, "a response without a return time"));
        }
        if let Some(&(prev_line, prev_return)) = last.get(&op.client) {
            match prev_return {
                None => {
                    let msg = format!(
                        "client {} continues after its unknown-outcome operation on line \
                         {prev_line} (use a new client id)",
                        op.client
                    );
                    return Err(ParseError::new(*line, msg));
                }
                Some(ret) if ret > op.invoke => {
                    let msg = format!(
                        "client {} invokes before its operation on line {prev_line} returned",
                        op.client
                    );
                    return Err(ParseError::new(*line, msg));
                }
                Some(_) => {}
            }
        }
        last.insert(op.client, (*line, op.return_time));
    }
    let mut watch_lines: BTreeMap<u64, u64> = BTreeMap::new();
    for (line, w) in &history.watches {
        if watch_lines.insert(w.watch, *line).is_some() {
            return Err(ParseError::new(
                *line,
                format!("watch id {} used twice", w.watch),
            ));
        }
    }
    for (line, r) in &history.watch_responses {
        match watch_lines.get(&r.watch) {
            Some(&wline) if wline < *line => {}
            _ => {
                let msg = format!(
                    "response for watch {} before (or without) its request",
                    r.watch
                );
                return Err(ParseError::new(*line, msg));
            }
        }
    }
    Ok(())
}

/// Writes a history in this format (the header first), one record per line.
#[must_use]
pub fn write_history(history: &History) -> String {
    let mut out = String::new();
    for_each_history_line(history, |line| {
        out.push_str(line);
        out.push('\n');
    });
    out
}

/// A line of the written format, borrowing its record (no copy of a long history).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum RecordRef<'a> {
    Header { format: &'a str, version: u32 },
    Op(&'a OpRecord),
    Watch(&'a WatchRecord),
    WatchResponse(&'a WatchResponseRecord),
}

/// Gives each line of [`write_history`]'s text to `line`, without its newline: the header,
/// then the records in line order (each list is in line order already).
pub fn for_each_history_line(history: &History, mut line: impl FnMut(&str)) {
    let header = RecordRef::Header {
        format: FORMAT_NAME,
        version: FORMAT_VERSION,
    };
    // Serializing these plain structs cannot fail.
    line(&serde_json::to_string(&header).unwrap_or_default());
    let (mut ops, mut watches, mut responses) = (
        history.ops.iter().peekable(),
        history.watches.iter().peekable(),
        history.watch_responses.iter().peekable(),
    );
    loop {
        let next_op = ops.peek().map_or(u64::MAX, |(l, _)| *l);
        let next_watch = watches.peek().map_or(u64::MAX, |(l, _)| *l);
        let next_response = responses.peek().map_or(u64::MAX, |(l, _)| *l);
        let record = if next_op == u64::MAX && next_watch == u64::MAX && next_response == u64::MAX {
            break;
        } else if next_op <= next_watch && next_op <= next_response {
            ops.next().map(|(_, o)| RecordRef::Op(o))
        } else if next_watch <= next_response {
            watches.next().map(|(_, w)| RecordRef::Watch(w))
        } else {
            responses.next().map(|(_, r)| RecordRef::WatchResponse(r))
        };
        if let Some(record) = record {
            line(&serde_json::to_string(&record).unwrap_or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEADER: &str = r#"{"type":"header","format":"invar-history","version":1}"#;

    #[test]
    fn reads_every_record_kind() {
        let text = format!(
            "{HEADER}\n\
             {{\"type\":\"op\",\"client\":1,\"invoke\":1,\"return\":2,\"request\":{{\"op\":\"put\",\"key\":\"a\",\"value\":\"1\"}},\"response\":{{\"revision\":2}}}}\n\
             {{\"type\":\"op\",\"client\":2,\"invoke\":1,\"request\":{{\"op\":\"txn\",\"compare\":[{{\"key\":\"a\",\"result\":\"equal\",\"target\":{{\"version\":0}}}}],\"success\":[{{\"op\":\"put\",\"key\":\"a\",\"value\":\"2\"}}]}}}}\n\
             {{\"type\":\"watch\",\"watch\":1,\"client\":3,\"time\":0,\"key\":\"a\"}}\n\
             {{\"type\":\"watch_response\",\"watch\":1,\"time\":3,\"revision\":2,\"events\":[{{\"type\":\"put\",\"kv\":{{\"key\":\"a\",\"value\":\"1\",\"mod_revision\":2}}}}]}}\n"
        );
        let history = parse_history(&text).unwrap();
        assert_eq!(history.ops.len(), 2);
        assert_eq!(history.watch_responses[0].1.events.len(), 1);
        let again = parse_history(&write_history(&history)).unwrap();
        assert_eq!(again.ops.len(), 2);
        assert_eq!(again.ops[0].1, history.ops[0].1);
    }

    #[test]
    fn rejects_bad_histories_with_their_line() {
        assert_eq!(parse_history("{}").unwrap_err().line, 1);
        let no_header = r#"{"type":"op","client":1,"invoke":1,"request":{"op":"defragment"}}"#;
        assert_eq!(parse_history(no_header).unwrap_err().line, 1);
        let v2 = r#"{"type":"header","format":"invar-history","version":2}"#;
        assert!(parse_history(v2).unwrap_err().message.contains("version 2"));
        let overlap = format!(
            "{HEADER}\n\
             {{\"type\":\"op\",\"client\":1,\"invoke\":1,\"return\":5,\"request\":{{\"op\":\"defragment\"}},\"response\":{{}}}}\n\
             {{\"type\":\"op\",\"client\":1,\"invoke\":3,\"return\":6,\"request\":{{\"op\":\"defragment\"}},\"response\":{{}}}}\n"
        );
        assert_eq!(parse_history(&overlap).unwrap_err().line, 3);
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_history(&format!("{HEADER}\n{text}"));
            let _ = parse_history(&text);
        }
    }
}
