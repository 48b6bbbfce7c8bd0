//! Jepsen histories: `jepsen.util` log lines (`INFO jepsen.util - 3 :ok :read 4`) and EDN map
//! lines (`{:process 3, :type :ok, :f :read, :value 4}`), read into operations for the
//! [`RegisterModel`](crate::linearizability::register::RegisterModel) or the
//! [`KvModel`](crate::linearizability::kv::KvModel).
//!
//! Each line is one event; the line number is its time. An `:invoke` opens an operation for its
//! process, and the next `:ok`, `:fail` or `:info` of that process closes it:
//! - `:ok` is a completed operation;
//! - `:fail` of a `cas` is a cas that ran and found another value; `:fail` of anything else
//!   definitely did not happen, so the operation is dropped;
//! - `:info` (e.g. `:timed-out`) of a write or cas is an unknown outcome; of a read, it is dropped
//!   (a read without a value constrains nothing). Operations still open at the end are unknown.

use std::collections::BTreeMap;

use crate::edn::{Edn, parse_value};
use crate::error::ParseError;
use crate::linearizability::Operation;
use crate::linearizability::kv::{KvInput, KvOutput};
use crate::linearizability::register::{RegisterInput, RegisterOutput};

/// How one Jepsen event completes (or opens) an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `:invoke`.
    Invoke,
    /// `:ok`.
    Ok,
    /// `:fail`.
    Fail,
    /// `:info`.
    Info,
}

/// One line of a Jepsen history.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// 1-based line number; also the event's time.
    pub line: u64,
    /// The process (client) id.
    pub process: u64,
    /// Invoke or completion.
    pub kind: EventType,
    /// The function, without its colon (`read`, `write`, `cas`, `get`, `put`, `append`).
    pub f: String,
    /// The `:key` of a map line, if any.
    pub key: Option<Edn>,
    /// The value.
    pub value: Edn,
}

/// Reads every event of a Jepsen history. Blank lines and log lines of other loggers (`INFO
/// jepsen.core - ...`) are skipped; any other line that is neither a `jepsen.util` event nor an
/// EDN map is an error.
///
/// # Errors
/// A [`ParseError`] naming the first bad line.
pub fn parse_events(text: &str) -> Result<Vec<Event>, ParseError> {
    let mut events = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index as u64 + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('{') {
            events.push(map_event(&parse_value(trimmed, line)?, line)?);
        } else if let Some(pos) = trimmed.find("jepsen.util - ") {
            events.push(log_event(&trimmed[pos + "jepsen.util - ".len()..], line)?);
        } else if is_other_log_line(trimmed) {
            continue;
        } else {
            return Err(ParseError::new(
                line,
                "expected a `jepsen.util -` log line or an EDN map",
            ));
        }
    }
    Ok(events)
}

fn is_other_log_line(line: &str) -> bool {
    ["INFO ", "WARN ", "DEBUG ", "ERROR ", "TRACE "]
        .iter()
        .any(|level| line.starts_with(level))
}

fn event_type(keyword: &Edn, line: u64) -> Result<EventType, ParseError> {
    match keyword {
        Edn::Keyword(k) if k == "invoke" => Ok(EventType::Invoke),
        Edn::Keyword(k) if k == "ok" => Ok(EventType::Ok),
        Edn::Keyword(k) if k == "fail" => Ok(EventType::Fail),
        Edn::Keyword(k) if k == "info" => Ok(EventType::Info),
        other => Err(ParseError::new(line, format!("bad event type {other:?}"))),
    }
}

fn process_id(value: &Edn, line: u64) -> Result<u64, ParseError> {
    match value {
        Edn::Int(p) if *p >= 0 => Ok(p.unsigned_abs()),
        other => Err(ParseError::new(line, format!("bad process {other:?}"))),
    }
}

fn function(value: &Edn, line: u64) -> Result<String, ParseError> {
    match value {
        Edn::Keyword(f) => Ok(f.clone()),
        other => Err(ParseError::new(line, format!("bad :f {other:?}"))),
    }
}

fn log_event(rest: &str, line: u64) -> Result<Event, ParseError> {
    let mut fields = rest.split_whitespace();
    let (Some(process), Some(kind), Some(f)) = (fields.next(), fields.next(), fields.next()) else {
        return Err(ParseError::new(
            line,
            "expected `<process> <type> <f> <value>`",
        ));
    };
    let value_text = fields.collect::<Vec<_>>().join(" ");
    let value = if value_text.is_empty() {
        Edn::Nil
    } else {
        parse_value(&value_text, line)?
    };
    Ok(Event {
        line,
        process: process_id(&parse_value(process, line)?, line)?,
        kind: event_type(&parse_value(kind, line)?, line)?,
        f: function(&parse_value(f, line)?, line)?,
        key: None,
        value,
    })
}

fn map_event(map: &Edn, line: u64) -> Result<Event, ParseError> {
    let field = |name: &str| {
        map.get(name)
            .ok_or_else(|| ParseError::new(line, format!("map without :{name}")))
    };
    Ok(Event {
        line,
        process: process_id(field("process")?, line)?,
        kind: event_type(field("type")?, line)?,
        f: function(field("f")?, line)?,
        key: map.get("key").cloned(),
        value: map.get("value").cloned().unwrap_or(Edn::Nil),
    })
}

/// A completed (or never completed) invocation: the invoke event and its completion.
struct Pair<'a> {
    invoke: &'a Event,
    completion: Option<&'a Event>,
}

fn pair_events(events: &[Event]) -> Result<Vec<Pair<'_>>, ParseError> {
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut pairs: Vec<Pair<'_>> = Vec::new();
    for event in events {
        if event.kind == EventType::Invoke {
            if open.contains_key(&event.process) {
                let msg = format!(
                    "process {} invokes while its previous operation is open",
                    event.process
                );
                return Err(ParseError::new(event.line, msg));
            }
            open.insert(event.process, pairs.len());
            pairs.push(Pair {
                invoke: event,
                completion: None,
            });
        } else {
            let Some(index) = open.remove(&event.process) else {
                let msg = format!("completion for process {} without an invoke", event.process);
                return Err(ParseError::new(event.line, msg));
            };
            if pairs[index].invoke.f != event.f {
                let msg = format!(
                    ":{} completes an invoke of :{}",
                    event.f, pairs[index].invoke.f
                );
                return Err(ParseError::new(event.line, msg));
            }
            pairs[index].completion = Some(event);
        }
    }
    Ok(pairs)
}

fn int_or_nil(value: &Edn, line: u64) -> Result<Option<i64>, ParseError> {
    match value {
        Edn::Nil => Ok(None),
        Edn::Int(v) => Ok(Some(*v)),
        other => Err(ParseError::new(
            line,
            format!("expected an integer or nil, got {other:?}"),
        )),
    }
}

fn int(value: &Edn, line: u64) -> Result<i64, ParseError> {
    int_or_nil(value, line)?.ok_or_else(|| ParseError::new(line, "expected an integer, got nil"))
}

fn cas_args(value: &Edn, line: u64) -> Result<(i64, i64), ParseError> {
    match value {
        Edn::Vector(items) | Edn::List(items) if items.len() == 2 => {
            Ok((int(&items[0], line)?, int(&items[1], line)?))
        }
        other => Err(ParseError::new(
            line,
            format!("expected [from to], got {other:?}"),
        )),
    }
}

/// The operations of a register history (`read`, `write`, `cas`), initial value `nil`.
///
/// # Errors
/// A [`ParseError`] naming the first bad line.
pub fn register_operations(
    text: &str,
) -> Result<Vec<Operation<RegisterInput, RegisterOutput>>, ParseError> {
    let events = parse_events(text)?;
    let mut ops = Vec::new();
    for pair in pair_events(&events)? {
        let invoke = pair.invoke;
        let line = invoke.line;
        let input = match invoke.f.as_str() {
            "read" => RegisterInput::Read,
            "write" => RegisterInput::Write(int(&invoke.value, line)?),
            "cas" => {
                let (from, to) = cas_args(&invoke.value, line)?;
                RegisterInput::Cas { from, to }
            }
            other => {
                return Err(ParseError::new(
                    line,
                    format!("unknown register function :{other}"),
                ));
            }
        };
        let (output, return_time) = match pair.completion {
            None => (None, None),
            Some(done) => match (done.kind, &input) {
                (EventType::Ok, RegisterInput::Read) => (
                    Some(RegisterOutput::Read(int_or_nil(&done.value, done.line)?)),
                    Some(done.line),
                ),
                (EventType::Ok, RegisterInput::Write(_)) => {
                    (Some(RegisterOutput::Written), Some(done.line))
                }
                (EventType::Ok, RegisterInput::Cas { .. }) => {
                    (Some(RegisterOutput::Cas(true)), Some(done.line))
                }
                (EventType::Fail, RegisterInput::Cas { .. }) => {
                    (Some(RegisterOutput::Cas(false)), Some(done.line))
                }
                (EventType::Fail | EventType::Info, RegisterInput::Read)
                | (EventType::Fail, RegisterInput::Write(_)) => continue,
                (EventType::Info, _) => (None, None),
                (EventType::Invoke, _) => unreachable_invoke(done.line)?,
            },
        };
        ops.push(Operation {
            client: invoke.process,
            invoke_time: line,
            return_time,
            input,
            output,
            line,
        });
    }
    Ok(ops)
}

fn unreachable_invoke<T>(line: u64) -> Result<T, ParseError> {
    Err(ParseError::new(
        line,
        "internal: an invoke paired as a completion",
    ))
}

fn string_value(value: &Edn, line: u64) -> Result<String, ParseError> {
    match value {
        Edn::Str(s) => Ok(s.clone()),
        Edn::Int(i) => Ok(i.to_string()),
        Edn::Keyword(k) => Ok(k.clone()),
        other => Err(ParseError::new(
            line,
            format!("expected a string, got {other:?}"),
        )),
    }
}

/// The operations of a KV history (`get`, `put`, `append` on `:key`), every key starting `""`.
///
/// # Errors
/// A [`ParseError`] naming the first bad line.
pub fn kv_operations(text: &str) -> Result<Vec<Operation<KvInput, KvOutput>>, ParseError> {
    let events = parse_events(text)?;
    let mut ops = Vec::new();
    for pair in pair_events(&events)? {
        let invoke = pair.invoke;
        let line = invoke.line;
        let key_edn = invoke
            .key
            .as_ref()
            .ok_or_else(|| ParseError::new(line, "KV event without :key"))?;
        let key = string_value(key_edn, line)?;
        let input = match invoke.f.as_str() {
            "get" | "read" => KvInput::Get { key },
            "put" | "write" => KvInput::Put {
                key,
                value: string_value(&invoke.value, line)?,
            },
            "append" => KvInput::Append {
                key,
                value: string_value(&invoke.value, line)?,
            },
            other => {
                return Err(ParseError::new(
                    line,
                    format!("unknown KV function :{other}"),
                ));
            }
        };
        let is_get = matches!(input, KvInput::Get { .. });
        let (output, return_time) = match pair.completion.map(|done| (done.kind, done)) {
            None | Some((EventType::Info, _)) if is_get => continue,
            None | Some((EventType::Info, _)) => (None, None),
            Some((EventType::Fail, _)) => continue,
            Some((EventType::Ok, done)) if is_get => {
                let value = match &done.value {
                    Edn::Nil => String::new(),
                    v => string_value(v, done.line)?,
                };
                (Some(KvOutput::Value(value)), Some(done.line))
            }
            Some((EventType::Ok, done)) => (Some(KvOutput::Done), Some(done.line)),
            Some((EventType::Invoke, done)) => unreachable_invoke(done.line)?,
        };
        ops.push(Operation {
            client: invoke.process,
            invoke_time: line,
            return_time,
            input,
            output,
            line,
        });
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_log_lines_with_tabs_and_spaces() {
        let text = "INFO  jepsen.util - 0\t:invoke\t:cas\t[3 0]\n\
                    INFO  jepsen.util - 1   :invoke   :write   4\n\
                    INFO  jepsen.util - 0\t:fail\t:cas\t[3 0]\n\
                    INFO  jepsen.util - 1\t:info\t:write\t:timed-out\n";
        let ops = register_operations(text).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].output, Some(RegisterOutput::Cas(false)));
        assert_eq!(ops[0].return_time, Some(3));
        assert_eq!(ops[1].output, None);
        assert_eq!(ops[1].return_time, None);
    }

    #[test]
    fn bad_lines_are_named() {
        let text = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\ngarbage\n";
        assert_eq!(register_operations(text).unwrap_err().line, 2);
        let text = "INFO  jepsen.util - 0\t:ok\t:read\tnil\n";
        assert_eq!(register_operations(text).unwrap_err().line, 1);
        let text = "{:process 1, :type :invoke, :f :get, :value nil}\n";
        assert_eq!(kv_operations(text).unwrap_err().line, 1);
    }

    #[test]
    fn reads_kv_maps() {
        let text = "{:process 1, :type :invoke, :f :get, :key \"9\", :value nil}\n\
                    {:process 1, :type :ok, :f :get, :key \"9\", :value \"x\"}\n";
        let ops = kv_operations(text).unwrap();
        assert_eq!(ops[0].output, Some(KvOutput::Value("x".into())));
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = register_operations(&text);
            let _ = kv_operations(&text);
        }

        #[test]
        fn never_panics_on_near_valid_lines(
            lines in proptest::collection::vec(
                "(INFO  jepsen.util - [0-3] :(invoke|ok|fail|info) :(read|write|cas|get) (nil|[0-9]|\\[[0-9] [0-9]\\]|:timed-out))|\\{:process [0-3], :type :(invoke|ok), :f :(get|put|append), :key \"[ab]\", :value (nil|\"x\")\\}",
                0..12)
        ) {
            let text = lines.join("\n");
            let _ = register_operations(&text);
            let _ = kv_operations(&text);
        }
    }
}
