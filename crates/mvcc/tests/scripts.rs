//! Data-driven tests: each `testdata/*.txt` script runs commands against a fresh store and
//! compares their output with the expected text after `----`. A file opens with `#` lines
//! saying what it proves. `INVAR_REWRITE=1` rewrites the expected output in place; review the
//! diff before committing it: an unexplained change is a bug report, not a fix.
//!
//! Commands (arguments `\0` mean the byte 0; `k=v` options may come in any order):
//! `put KEY VALUE [lease=ID] [prev_kv] [ignore_value] [ignore_lease]`,
//! `get KEY [end=END] [rev=N] [limit=N] [sort=asc|desc] [target=key|version|create|mod|value]
//! [keys_only] [count_only] [min_mod=N] [max_mod=N] [min_create=N] [max_create=N]`,
//! `del KEY [end=END] [prev_kv]`, `compact REV`, `grant ID TTL`, `revoke ID`, `hash [REV]`,
//! `watch KEY [end=END] [start=N] [prev_kv] [noput] [nodelete]`, `restart`, and `txn` whose
//! following lines are `if TARGET KEY OP VALUE`, `then COMMAND` or `else COMMAND` (COMMAND is a
//! put, get or del). After every write, the watch responses it caused are printed.

use std::fmt::Write as _;
use std::path::Path;

use invar_mvcc::{
    CompactionRequest, Compare, CompareResult, CompareTarget, Config, DeleteRangeRequest,
    HashKvRequest, KeyValue, LeaseGrantRequest, LeaseRevokeRequest, MemBackend, PutRequest,
    RangeRequest, RequestOp, ResponseOp, SortOrder, SortTarget, Store, TargetUnion, TxnRequest,
    WatchCreateRequest, WatchResponse, WatchStream,
};

struct Env {
    backend: MemBackend,
    store: Store,
    stream: WatchStream,
    index: u64,
}

fn bytes(token: &str) -> Vec<u8> {
    token.replace("\\0", "\0").into_bytes()
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "\\0")
}

fn show_kv(kv: &KeyValue) -> String {
    format!(
        "{}={} create={} mod={} ver={} lease={}",
        show(&kv.key),
        show(&kv.value),
        kv.create_revision,
        kv.mod_revision,
        kv.version,
        kv.lease
    )
}

/// Positional arguments and `key=value` / flag options of one command line.
struct Args<'a> {
    positional: Vec<&'a str>,
    options: Vec<(&'a str, &'a str)>,
}

impl<'a> Args<'a> {
    fn parse(words: &[&'a str]) -> Self {
        let mut args = Args {
            positional: vec![],
            options: vec![],
        };
        for word in words {
            match word.split_once('=') {
                Some((key, value)) => args.options.push((key, value)),
                None if [
                    "prev_kv",
                    "ignore_value",
                    "ignore_lease",
                    "keys_only",
                    "count_only",
                    "noput",
                    "nodelete",
                ]
                .contains(word) =>
                {
                    args.options.push((word, ""))
                }
                None => args.positional.push(word),
            }
        }
        args
    }
    fn flag(&self, name: &str) -> bool {
        self.options.iter().any(|(key, _)| *key == name)
    }
    fn text(&self, name: &str) -> Option<&'a str> {
        self.options
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
    }
    fn number(&self, name: &str) -> i64 {
        self.text(name)
            .map_or(0, |value| value.parse().expect("number"))
    }
    fn at(&self, i: usize) -> &'a str {
        self.positional.get(i).copied().unwrap_or("")
    }
}

fn put_request(args: &Args) -> PutRequest {
    PutRequest {
        key: bytes(args.at(1)),
        value: bytes(args.at(2)),
        lease: args.number("lease"),
        prev_kv: args.flag("prev_kv"),
        ignore_value: args.flag("ignore_value"),
        ignore_lease: args.flag("ignore_lease"),
    }
}

fn range_request(args: &Args) -> RangeRequest {
    RangeRequest {
        key: bytes(args.at(1)),
        range_end: bytes(args.text("end").unwrap_or("")),
        limit: args.number("limit"),
        revision: args.number("rev"),
        sort_order: match args.text("sort") {
            Some("asc") => SortOrder::Ascend,
            Some("desc") => SortOrder::Descend,
            _ => SortOrder::None,
        },
        sort_target: match args.text("target") {
            Some("version") => SortTarget::Version,
            Some("create") => SortTarget::Create,
            Some("mod") => SortTarget::Mod,
            Some("value") => SortTarget::Value,
            _ => SortTarget::Key,
        },
        keys_only: args.flag("keys_only"),
        count_only: args.flag("count_only"),
        min_mod_revision: args.number("min_mod"),
        max_mod_revision: args.number("max_mod"),
        min_create_revision: args.number("min_create"),
        max_create_revision: args.number("max_create"),
        ..Default::default()
    }
}

fn delete_request(args: &Args) -> DeleteRangeRequest {
    DeleteRangeRequest {
        key: bytes(args.at(1)),
        range_end: bytes(args.text("end").unwrap_or("")),
        prev_kv: args.flag("prev_kv"),
    }
}

fn request_op(line: &str) -> RequestOp {
    let words: Vec<&str> = line.split_whitespace().collect();
    let args = Args::parse(&words);
    match args.at(0) {
        "put" => RequestOp::Put(put_request(&args)),
        "get" => RequestOp::Range(range_request(&args)),
        "del" => RequestOp::DeleteRange(delete_request(&args)),
        other => panic!("not a txn op: {other}"),
    }
}

fn compare(line: &str) -> Compare {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [target, key, op, value] = words[..] else {
        panic!("if TARGET KEY OP VALUE: {line}")
    };
    let number = || value.parse::<i64>().expect("number");
    let (target, union) = match target {
        "version" => (CompareTarget::Version, TargetUnion::Version(number())),
        "create" => (CompareTarget::Create, TargetUnion::CreateRevision(number())),
        "mod" => (CompareTarget::Mod, TargetUnion::ModRevision(number())),
        "lease" => (CompareTarget::Lease, TargetUnion::Lease(number())),
        _ => (CompareTarget::Value, TargetUnion::Value(bytes(value))),
    };
    let result = match op {
        "=" => CompareResult::Equal,
        "!=" => CompareResult::NotEqual,
        ">" => CompareResult::Greater,
        _ => CompareResult::Less,
    };
    Compare {
        result,
        target,
        key: bytes(key),
        target_union: Some(union),
        range_end: vec![],
    }
}

fn show_range(out: &mut String, response: &invar_mvcc::RangeResponse) {
    for kv in &response.kvs {
        writeln!(out, "{}", show_kv(kv)).unwrap();
    }
    let (count, more, rev) = (response.count, response.more, response.header.revision);
    writeln!(out, "count={count} more={more} rev={rev}").unwrap();
}

fn show_watch(out: &mut String, responses: &[WatchResponse]) {
    for response in responses {
        let mut line = format!("watch {}:", response.watch_id);
        if response.created {
            line.push_str(" created");
        }
        if response.canceled {
            write!(
                line,
                " canceled compact_revision={}",
                response.compact_revision
            )
            .unwrap();
        }
        for event in &response.events {
            let kind = if event.r#type == invar_mvcc::EventType::Put {
                "PUT"
            } else {
                "DELETE"
            };
            write!(line, " {kind} {}", show_kv(&event.kv)).unwrap();
            if let Some(prev) = &event.prev_kv {
                write!(line, " (prev {})", show_kv(prev)).unwrap();
            }
        }
        writeln!(out, "{line}").unwrap();
    }
}

impl Env {
    fn new() -> Self {
        let backend = MemBackend::new();
        let store = Store::open(Box::new(backend.clone()), Config::default()).expect("open");
        Env {
            backend,
            store,
            stream: WatchStream::new(),
            index: 0,
        }
    }

    fn next(&mut self) -> u64 {
        self.index += 1;
        self.index
    }

    fn notify(&mut self, out: &mut String, events: &[invar_mvcc::Event]) {
        let responses = self.stream.notify(&self.store, events).expect("notify");
        show_watch(out, &responses);
        self.catch_up(out);
    }

    fn catch_up(&mut self, out: &mut String) {
        while self.stream.needs_catch_up(&self.store) {
            let responses = self.stream.catch_up(&self.store).expect("catch up");
            show_watch(out, &responses);
        }
    }

    fn run(&mut self, command: &str, body: &[&str]) -> String {
        let mut out = String::new();
        let words: Vec<&str> = command.split_whitespace().collect();
        let args = Args::parse(&words);
        let result: Result<(), invar_mvcc::MvccError> = (|| {
            match args.at(0) {
                "put" => {
                    let index = self.next();
                    let applied = self.store.put(index, &put_request(&args))?;
                    writeln!(out, "rev={}", applied.response.header.revision).unwrap();
                    if let Some(prev) = &applied.response.prev_kv {
                        writeln!(out, "prev {}", show_kv(prev)).unwrap();
                    }
                    self.notify(&mut out, &applied.events);
                }
                "get" => show_range(&mut out, &self.store.range(&range_request(&args))?),
                "del" => {
                    let index = self.next();
                    let applied = self.store.delete_range(index, &delete_request(&args))?;
                    let response = &applied.response;
                    writeln!(
                        out,
                        "deleted={} rev={}",
                        response.deleted, response.header.revision
                    )
                    .unwrap();
                    for kv in &response.prev_kvs {
                        writeln!(out, "prev {}", show_kv(kv)).unwrap();
                    }
                    self.notify(&mut out, &applied.events);
                }
                "txn" => self.txn(&mut out, body)?,
                "compact" => {
                    let index = self.next();
                    let req = CompactionRequest {
                        revision: args.at(1).parse().expect("rev"),
                        physical: true,
                    };
                    let applied = self.store.compact(index, &req)?;
                    writeln!(out, "rev={}", applied.response.header.revision).unwrap();
                }
                "grant" => {
                    let index = self.next();
                    let req = LeaseGrantRequest {
                        id: args.at(1).parse().expect("id"),
                        ttl: args.at(2).parse().expect("ttl"),
                    };
                    let response = self.store.lease_grant(index, &req)?;
                    writeln!(
                        out,
                        "id={} ttl={} rev={}",
                        response.id, response.ttl, response.header.revision
                    )
                    .unwrap();
                }
                "revoke" => {
                    let index = self.next();
                    let applied = self.store.lease_revoke(
                        index,
                        &LeaseRevokeRequest {
                            id: args.at(1).parse().expect("id"),
                        },
                    )?;
                    writeln!(out, "rev={}", applied.response.header.revision).unwrap();
                    self.notify(&mut out, &applied.events);
                }
                "hash" => {
                    let revision = args.at(1).parse().unwrap_or(0);
                    let response = self.store.hash_kv(&HashKvRequest { revision })?;
                    let (compact, hashed) = (response.compact_revision, response.hash_revision);
                    writeln!(
                        out,
                        "hash={:08x} compact={compact} hash_rev={hashed}",
                        response.hash
                    )
                    .unwrap();
                }
                "watch" => {
                    let mut filters = vec![];
                    if args.flag("noput") {
                        filters.push(invar_mvcc::FilterType::NoPut);
                    }
                    if args.flag("nodelete") {
                        filters.push(invar_mvcc::FilterType::NoDelete);
                    }
                    let req = WatchCreateRequest {
                        key: bytes(args.at(1)),
                        range_end: bytes(args.text("end").unwrap_or("")),
                        start_revision: args.number("start"),
                        prev_kv: args.flag("prev_kv"),
                        filters,
                        ..Default::default()
                    };
                    let responses = self.stream.create(&self.store, &req)?;
                    show_watch(&mut out, &responses);
                    self.catch_up(&mut out);
                }
                "restart" => {
                    self.store.sync()?;
                    let reopened = Store::open(Box::new(self.backend.clone()), Config::default());
                    self.store = reopened?;
                    let (rev, compact, index) = (
                        self.store.revision(),
                        self.store.compact_revision(),
                        self.store.consistent_index(),
                    );
                    writeln!(out, "rev={rev} compact={compact} index={index}").unwrap();
                }
                other => panic!("unknown command {other:?}"),
            }
            Ok(())
        })();
        if let Err(error) = result {
            writeln!(out, "error: {error} ({})", error.code().name()).unwrap();
        }
        out
    }

    fn txn(&mut self, out: &mut String, body: &[&str]) -> Result<(), invar_mvcc::MvccError> {
        let mut req = TxnRequest::default();
        for line in body {
            let (head, rest) = line.split_once(' ').unwrap_or((line, ""));
            match head {
                "if" => req.compare.push(compare(rest)),
                "then" => req.success.push(request_op(rest)),
                "else" => req.failure.push(request_op(rest)),
                other => panic!("txn line must start with if/then/else: {other}"),
            }
        }
        let index = self.next();
        let applied = self.store.txn(index, &req)?;
        let response = &applied.response;
        writeln!(
            out,
            "succeeded={} rev={}",
            response.succeeded, response.header.revision
        )
        .unwrap();
        for op in &response.responses {
            match op {
                ResponseOp::Range(range) => show_range(out, range),
                ResponseOp::Put(put) => writeln!(out, "put rev={}", put.header.revision).unwrap(),
                ResponseOp::DeleteRange(del) => {
                    writeln!(out, "deleted={} rev={}", del.deleted, del.header.revision).unwrap()
                }
                ResponseOp::Txn(_) => writeln!(out, "txn").unwrap(),
            }
        }
        self.notify(out, &applied.events);
        Ok(())
    }
}

/// Runs one script; returns the file with the actual outputs in place of the expected ones.
fn run_script(text: &str) -> String {
    let mut env = Env::new();
    let mut rewritten = String::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() || line.starts_with('#') {
            rewritten.push_str(line);
            rewritten.push('\n');
            i += 1;
            continue;
        }
        let command = line;
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && lines[i] != "----" {
            body.push(lines[i]);
            i += 1;
        }
        i += 1; // the "----"
        while i < lines.len() && !lines[i].trim().is_empty() {
            i += 1; // the old expected output
        }
        let output = env.run(command, &body);
        rewritten.push_str(command);
        rewritten.push('\n');
        for line in &body {
            rewritten.push_str(line);
            rewritten.push('\n');
        }
        rewritten.push_str("----\n");
        rewritten.push_str(&output);
    }
    rewritten
}

// The harness reads and (on request) rewrites its own script files; the store under test
// never touches std::fs.
#[allow(clippy::disallowed_methods)]
#[test]
fn testdata_scripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let rewrite = std::env::var("INVAR_REWRITE").is_ok_and(|v| v == "1");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata")
        .map(|e| e.expect("entry").path())
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for path in names {
        let text = std::fs::read_to_string(&path).expect("read script");
        let actual = run_script(&text);
        if rewrite {
            std::fs::write(&path, &actual).expect("rewrite");
        } else {
            assert_eq!(
                actual,
                text,
                "{} differs; INVAR_REWRITE=1 to regenerate",
                path.display()
            );
        }
    }
}
