//! Reading an Invar history with the general search's KV model, ignoring revisions: a
//! cross-check of the etcd fast path, and the way to check histories whose store has no
//! revisions. Only single-key range, put and delete are expressible; anything else is an error.

use crate::error::ParseError;
use crate::format::{History, Request};
use crate::linearizability::Operation;
use crate::linearizability::kv::{KvInput, KvOutput};

/// The KV-model operations of `history` (a missing key reads as `""`). Failed reads are dropped,
/// writes that failed with an error are unknown outcomes (they may have taken effect).
///
/// # Errors
/// A [`ParseError`] naming the line of the first request the KV model cannot express.
pub fn kv_operations(history: &History) -> Result<Vec<Operation<KvInput, KvOutput>>, ParseError> {
    let mut ops = Vec::new();
    for (line, op) in &history.ops {
        let input = match &op.request {
            Request::Range {
                key,
                range_end: None,
                revision: 0,
                limit: 0,
                keys_only: false,
                count_only: false,
                ..
            } => KvInput::Get { key: key.clone() },
            Request::Put {
                key,
                value,
                ignore_value: false,
                ignore_lease: false,
                ..
            } => KvInput::Put {
                key: key.clone(),
                value: value.clone(),
            },
            Request::DeleteRange {
                key,
                range_end: None,
                ..
            } => KvInput::Delete { key: key.clone() },
            other => {
                let msg = format!(
                    "the kv model cannot express {other:?} (single-key get, put and delete only)"
                );
                return Err(ParseError::new(*line, msg));
            }
        };
        let is_get = matches!(input, KvInput::Get { .. });
        let (output, return_time) = match (&op.response, is_get) {
            (Some(r), true) => {
                let value = r.kvs.first().map(|kv| kv.value.clone()).unwrap_or_default();
                (Some(KvOutput::Value(value)), op.return_time)
            }
            (Some(_), false) => (Some(KvOutput::Done), op.return_time),
            (None, true) => continue,
            (None, false) => (None, None),
        };
        ops.push(Operation {
            client: op.client,
            invoke_time: op.invoke,
            return_time,
            input,
            output,
            line: *line,
        });
    }
    Ok(ops)
}
