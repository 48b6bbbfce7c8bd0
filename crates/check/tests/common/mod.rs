//! Builders for hand-made histories.
#![allow(dead_code)]

use invar_check::format::{
    Compare, CompareResult, CompareTarget, EventType, History, KeyValue, OpRecord, Request,
    Response, WatchEvent, WatchFilter, WatchRecord, WatchResponseRecord,
};

/// A history under construction; each record gets the next line number.
#[derive(Default)]
pub struct H {
    pub history: History,
    line: u64,
}

impl H {
    fn next_line(&mut self) -> u64 {
        self.line += 1;
        self.line + 1
    }

    /// A completed operation.
    pub fn ok(
        &mut self,
        client: u64,
        t: (u64, u64),
        request: Request,
        response: Response,
    ) -> &mut Self {
        let line = self.next_line();
        let op = OpRecord {
            client,
            invoke: t.0,
            return_time: Some(t.1),
            request,
            response: Some(response),
            error: None,
        };
        self.history.ops.push((line, op));
        self
    }

    /// An operation that failed with `error` at `t.1`.
    pub fn err(&mut self, client: u64, t: (u64, u64), request: Request, error: &str) -> &mut Self {
        let line = self.next_line();
        let op = OpRecord {
            client,
            invoke: t.0,
            return_time: Some(t.1),
            request,
            response: None,
            error: Some(error.into()),
        };
        self.history.ops.push((line, op));
        self
    }

    /// An operation whose outcome is unknown.
    pub fn unknown(&mut self, client: u64, invoke: u64, request: Request) -> &mut Self {
        let line = self.next_line();
        let op = OpRecord {
            client,
            invoke,
            return_time: None,
            request,
            response: None,
            error: None,
        };
        self.history.ops.push((line, op));
        self
    }

    /// A watch request.
    pub fn watch(&mut self, watch: WatchRecord) -> &mut Self {
        let line = self.next_line();
        self.history.watches.push((line, watch));
        self
    }

    /// A watch response.
    pub fn watch_response(&mut self, response: WatchResponseRecord) -> &mut Self {
        let line = self.next_line();
        self.history.watch_responses.push((line, response));
        self
    }
}

pub fn put(key: &str, value: &str) -> Request {
    Request::Put {
        key: key.into(),
        value: value.into(),
        lease: 0,
        prev_kv: false,
        ignore_value: false,
        ignore_lease: false,
    }
}

pub fn get(key: &str) -> Request {
    Request::Range {
        key: key.into(),
        range_end: None,
        revision: 0,
        limit: 0,
        serializable: false,
        keys_only: false,
        count_only: false,
    }
}

pub fn get_at(key: &str, revision: i64) -> Request {
    Request::Range {
        key: key.into(),
        range_end: None,
        revision,
        limit: 0,
        serializable: false,
        keys_only: false,
        count_only: false,
    }
}

pub fn get_all() -> Request {
    Request::Range {
        key: "\0".into(),
        range_end: Some("\0".into()),
        revision: 0,
        limit: 0,
        serializable: false,
        keys_only: false,
        count_only: false,
    }
}

pub fn get_stale(key: &str) -> Request {
    Request::Range {
        key: key.into(),
        range_end: None,
        revision: 0,
        limit: 0,
        serializable: true,
        keys_only: false,
        count_only: false,
    }
}

pub fn delete(key: &str) -> Request {
    Request::DeleteRange {
        key: key.into(),
        range_end: None,
        prev_kv: false,
    }
}

pub fn compact(revision: i64) -> Request {
    Request::Compact {
        revision,
        physical: false,
    }
}

pub fn txn_if_version(
    key: &str,
    version: i64,
    success: Vec<Request>,
    failure: Vec<Request>,
) -> Request {
    let compare = vec![Compare {
        key: key.into(),
        range_end: None,
        result: CompareResult::Equal,
        target: CompareTarget::Version(version),
    }];
    Request::Txn {
        compare,
        success,
        failure,
    }
}

pub fn kv(key: &str, value: &str, create: i64, modified: i64, version: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
        create_revision: create,
        mod_revision: modified,
        version,
        lease: 0,
    }
}

/// A write's response at `revision`.
pub fn rev(revision: i64) -> Response {
    Response {
        revision,
        ..Response::default()
    }
}

/// A range response at `revision` with `kvs`.
pub fn read(revision: i64, kvs: Vec<KeyValue>) -> Response {
    Response {
        revision,
        count: Some(kvs.len() as i64),
        kvs,
        ..Response::default()
    }
}

pub fn deleted(revision: i64, count: i64) -> Response {
    Response {
        revision,
        deleted: Some(count),
        ..Response::default()
    }
}

pub fn txn_response(revision: i64, succeeded: bool, responses: Vec<Response>) -> Response {
    Response {
        revision,
        succeeded: Some(succeeded),
        responses,
        ..Response::default()
    }
}

pub fn watch_on(
    watch: u64,
    key: &str,
    range_end: Option<&str>,
    start_revision: i64,
) -> WatchRecord {
    WatchRecord {
        watch,
        client: 100 + watch,
        time: 0,
        key: key.into(),
        range_end: range_end.map(Into::into),
        start_revision,
        prev_kv: false,
        filters: Vec::<WatchFilter>::new(),
        progress_notify: false,
    }
}

pub fn put_event(kv: KeyValue) -> WatchEvent {
    WatchEvent {
        event_type: EventType::Put,
        kv,
        prev_kv: None,
    }
}

pub fn delete_event(key: &str, revision: i64) -> WatchEvent {
    WatchEvent {
        event_type: EventType::Delete,
        kv: kv(key, "", 0, revision, 0),
        prev_kv: None,
    }
}

pub fn events(
    watch: u64,
    time: u64,
    revision: i64,
    events: Vec<WatchEvent>,
) -> WatchResponseRecord {
    WatchResponseRecord {
        watch,
        time,
        revision,
        created: false,
        canceled: false,
        compact_revision: 0,
        progress_notify: false,
        events,
    }
}

pub fn progress(watch: u64, time: u64, revision: i64) -> WatchResponseRecord {
    WatchResponseRecord {
        progress_notify: true,
        ..events(watch, time, revision, Vec::new())
    }
}
