//! Reading a [`Request`] without buffering it.
//!
//! A derived internally tagged enum (`"op": "put"`) first buffers the whole object, then reads
//! the variant from the buffer: most of the parse time of a large history. This reader takes the
//! common shape, `"op"` as the first field (as [`write_history`](super::write_history) writes
//! it), in one pass: it reads the tag, then the variant's fields straight from the rest of the
//! object. Any other order is buffered into a JSON map and read the same way, so both accept
//! exactly the same objects: the variant's fields (unknown fields are an error, optional ones
//! default) and the tag.

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::{Compare, Request};

/// The tags, as the format spells them.
const VARIANTS: &[&str] = &[
    "range",
    "put",
    "delete_range",
    "txn",
    "compact",
    "lease_grant",
    "lease_revoke",
    "lease_keep_alive",
    "defragment",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeFields {
    key: String,
    #[serde(default)]
    range_end: Option<String>,
    #[serde(default)]
    revision: i64,
    #[serde(default)]
    limit: i64,
    #[serde(default)]
    serializable: bool,
    #[serde(default)]
    keys_only: bool,
    #[serde(default)]
    count_only: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutFields {
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    lease: i64,
    #[serde(default)]
    prev_kv: bool,
    #[serde(default)]
    ignore_value: bool,
    #[serde(default)]
    ignore_lease: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteRangeFields {
    key: String,
    #[serde(default)]
    range_end: Option<String>,
    #[serde(default)]
    prev_kv: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TxnFields {
    #[serde(default)]
    compare: Vec<Compare>,
    #[serde(default)]
    success: Vec<Request>,
    #[serde(default)]
    failure: Vec<Request>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompactFields {
    revision: i64,
    #[serde(default)]
    physical: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaseGrantFields {
    ttl: i64,
    #[serde(default)]
    id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaseIdFields {
    id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

/// Reads the fields of the variant tagged `tag` from `fields` (the object without its tag).
fn variant<'de, D: Deserializer<'de>>(tag: &str, fields: D) -> Result<Request, D::Error> {
    Ok(match tag {
        "range" => {
            let f = RangeFields::deserialize(fields)?;
            Request::Range {
                key: f.key,
                range_end: f.range_end,
                revision: f.revision,
                limit: f.limit,
                serializable: f.serializable,
                keys_only: f.keys_only,
                count_only: f.count_only,
            }
        }
        "put" => {
            let f = PutFields::deserialize(fields)?;
            Request::Put {
                key: f.key,
                value: f.value,
                lease: f.lease,
                prev_kv: f.prev_kv,
                ignore_value: f.ignore_value,
                ignore_lease: f.ignore_lease,
            }
        }
        "delete_range" => {
            let f = DeleteRangeFields::deserialize(fields)?;
            Request::DeleteRange {
                key: f.key,
                range_end: f.range_end,
                prev_kv: f.prev_kv,
            }
        }
        "txn" => {
            let f = TxnFields::deserialize(fields)?;
            Request::Txn {
                compare: f.compare,
                success: f.success,
                failure: f.failure,
            }
        }
        "compact" => {
            let f = CompactFields::deserialize(fields)?;
            Request::Compact {
                revision: f.revision,
                physical: f.physical,
            }
        }
        "lease_grant" => {
            let f = LeaseGrantFields::deserialize(fields)?;
            Request::LeaseGrant {
                ttl: f.ttl,
                id: f.id,
            }
        }
        "lease_revoke" => Request::LeaseRevoke {
            id: LeaseIdFields::deserialize(fields)?.id,
        },
        "lease_keep_alive" => Request::LeaseKeepAlive {
            id: LeaseIdFields::deserialize(fields)?.id,
        },
        "defragment" => {
            NoFields::deserialize(fields)?;
            Request::Defragment {}
        }
        other => return Err(de::Error::unknown_variant(other, VARIANTS)),
    })
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RequestVisitor)
    }
}

struct RequestVisitor;

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = Request;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a request object with an \"op\" field")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Request, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Err(de::Error::missing_field("op"));
        };
        if first == "op" {
            let tag: String = map.next_value()?;
            return variant(&tag, MapAccessDeserializer::new(map));
        }
        // Another order: buffer the object, take the tag out, read the rest.
        let mut fields = serde_json::Map::new();
        fields.insert(first, map.next_value()?);
        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
            if fields.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate field `{key}`")));
            }
            fields.insert(key, value);
        }
        let tag = match fields.remove("op") {
            Some(serde_json::Value::String(tag)) => tag,
            Some(_) => return Err(de::Error::custom("\"op\" must be a string")),
            None => return Err(de::Error::missing_field("op")),
        };
        variant(&tag, serde_json::Value::Object(fields)).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Request, serde_json::Error> {
        serde_json::from_str(text)
    }

    #[test]
    fn every_variant_reads_back_what_was_written_in_any_field_order() {
        let requests = vec![
            Request::Range {
                key: "a".into(),
                range_end: Some("b".into()),
                revision: 3,
                limit: 2,
                serializable: true,
                keys_only: true,
                count_only: false,
            },
            Request::Put {
                key: "k".into(),
                value: "v".into(),
                lease: 7,
                prev_kv: true,
                ignore_value: false,
                ignore_lease: true,
            },
            Request::DeleteRange {
                key: "k".into(),
                range_end: None,
                prev_kv: true,
            },
            Request::Txn {
                compare: Vec::new(),
                success: vec![Request::Defragment {}],
                failure: vec![Request::LeaseRevoke { id: 4 }],
            },
            Request::Compact {
                revision: 9,
                physical: true,
            },
            Request::LeaseGrant { ttl: 5, id: 6 },
            Request::LeaseRevoke { id: 1 },
            Request::LeaseKeepAlive { id: 2 },
            Request::Defragment {},
        ];
        for request in requests {
            let text = serde_json::to_string(&request).unwrap();
            assert!(text.starts_with(r#"{"op":"#), "{text}");
            assert_eq!(parse(&text).unwrap(), request, "{text}");
            // The same object with the tag last takes the buffered path.
            let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
            let object = value.as_object_mut().unwrap();
            let tag = object.remove("op").unwrap();
            let mut reordered = serde_json::to_string(object).unwrap();
            reordered.pop();
            let sep = if object.is_empty() { "" } else { "," };
            let reordered = format!("{reordered}{sep}\"op\":{tag}}}");
            assert_eq!(parse(&reordered).unwrap(), request, "{reordered}");
        }
    }

    #[test]
    fn defaults_apply_and_bad_objects_are_refused_on_both_paths() {
        let put = parse(r#"{"op":"put","key":"k"}"#).unwrap();
        assert_eq!(put, parse(r#"{"key":"k","op":"put"}"#).unwrap());
        assert!(matches!(put, Request::Put { lease: 0, .. }));
        for bad in [
            r#"{"op":"put","key":"k","bogus":1}"#,
            r#"{"key":"k","bogus":1,"op":"put"}"#,
            r#"{"op":"frobnicate","key":"k"}"#,
            r#"{"key":"k","op":"frobnicate"}"#,
            r#"{"op":"put"}"#,
            r#"{"key":"k"}"#,
            r#"{}"#,
            r#"{"key":"k","op":3}"#,
            r#"{"key":"k","key":"j","op":"put"}"#,
            r#"{"op":"put","key":"k","op":"put"}"#,
            r#"{"op":"range","key":"k","limit":"x"}"#,
            r#"[]"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
