//! The HTML report: one self-contained page (inline CSS and SVG, no scripts, fonts or links)
//! that draws a history as a timeline per client and per key, marks the longest linearizable
//! prefix and the operation where linearization fails, and lists the watch responses.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::format::{History, Request};
use crate::linearizability::{Model, Operation};
use crate::report::Report;
use crate::verdict::Verdict;

/// One bar of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineOp {
    /// The client lane.
    pub client: u64,
    /// The key lane ("" when the operation has no single key).
    pub key: String,
    /// Invoke time.
    pub invoke: u64,
    /// Return time; `None` for an unknown outcome (the bar runs to the end, dashed).
    pub return_time: Option<u64>,
    /// What the bar says when hovered.
    pub label: String,
    /// Source line.
    pub line: u64,
}

/// One watch response on the watch timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineWatch {
    /// The watch lane.
    pub watch: u64,
    /// Receive time.
    pub time: u64,
    /// What it carried.
    pub label: String,
}

/// What the page shows.
#[derive(Debug, Clone)]
pub struct Page<'a> {
    /// The page title (the file name).
    pub title: &'a str,
    /// The verdict.
    pub verdict: &'a Verdict,
    /// The operations.
    pub ops: Vec<TimelineOp>,
    /// Indices into `ops` of the longest linearizable prefix, in order.
    pub linearized: &'a [usize],
    /// Index into `ops` of the operation where linearization fails.
    pub failed_op: Option<usize>,
    /// Watch responses.
    pub watches: Vec<TimelineWatch>,
}

/// The timeline of an etcd history.
#[must_use]
pub fn etcd_timeline(history: &History) -> (Vec<TimelineOp>, Vec<TimelineWatch>) {
    let ops = history
        .ops
        .iter()
        .map(|(line, op)| {
            let key = match &op.request {
                Request::Range {
                    key,
                    range_end: None,
                    ..
                }
                | Request::Put { key, .. }
                | Request::DeleteRange {
                    key,
                    range_end: None,
                    ..
                } => key.clone(),
                _ => String::new(),
            };
            let outcome = match (&op.response, &op.error) {
                (Some(r), _) => format!("ok rev {}", r.revision),
                (None, Some(e)) => format!("error {e}"),
                (None, None) => "unknown".to_owned(),
            };
            let request = serde_json::to_string(&op.request).unwrap_or_default();
            TimelineOp {
                client: op.client,
                key,
                invoke: op.invoke,
                return_time: op.return_time,
                label: format!("line {line}: {request} -> {outcome}"),
                line: *line,
            }
        })
        .collect();
    let watches = history
        .watch_responses
        .iter()
        .map(|(line, r)| {
            let events: Vec<String> = r
                .events
                .iter()
                .map(|e| format!("{:?} {}@{}", e.event_type, e.kv.key, e.kv.mod_revision))
                .collect();
            let kind = if r.created {
                "created"
            } else if r.canceled {
                "canceled"
            } else if r.events.is_empty() {
                "progress"
            } else {
                "events"
            };
            TimelineWatch {
                watch: r.watch,
                time: r.time,
                label: format!(
                    "line {line}: {kind} rev {} [{}]",
                    r.revision,
                    events.join(", ")
                ),
            }
        })
        .collect();
    (ops, watches)
}

/// The timeline of a history checked by the general search.
#[must_use]
pub fn model_timeline<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    key_of: impl Fn(&M::Input) -> String,
) -> Vec<TimelineOp> {
    ops.iter()
        .map(|op| TimelineOp {
            client: op.client,
            key: key_of(&op.input),
            invoke: op.invoke_time,
            return_time: op.return_time,
            label: format!("line {}: {}", op.line, model.describe(op)),
            line: op.line,
        })
        .collect()
}

/// A page for an etcd history and its report.
#[must_use]
pub fn etcd_page<'a>(title: &'a str, history: &History, report: &'a Report) -> Page<'a> {
    let (ops, watches) = etcd_timeline(history);
    Page {
        title,
        verdict: &report.verdict,
        ops,
        linearized: &report.linearized,
        failed_op: report.failed_op,
        watches,
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

const LANE_HEIGHT: usize = 22;
const LABEL_WIDTH: usize = 110;
const STYLE: &str = "body{font-family:sans-serif;margin:16px;color:#222}\
    .ok{color:#176b1e}.violation{color:#b3121b}.unknown{color:#8a6100}\
    rect.lin{fill:#7bc47f}rect.fail{fill:#e5484d}rect.other{fill:#b8bec7}\
    rect.unk{fill-opacity:.45;stroke:#555;stroke-dasharray:4 2}\
    circle.w{fill:#3b6fd6}text{font-size:11px}table{border-collapse:collapse;font-size:12px}\
    td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}\
    .legend span{display:inline-block;width:14px;height:10px;margin:0 4px 0 12px}";

/// Renders the page: a standalone HTML document.
#[must_use]
pub fn render(page: &Page<'_>) -> String {
    let mut times: Vec<u64> = page
        .ops
        .iter()
        .flat_map(|o| [Some(o.invoke), o.return_time])
        .flatten()
        .collect();
    times.extend(page.watches.iter().map(|w| w.time));
    times.sort_unstable();
    times.dedup();
    let rank = |t: u64| times.partition_point(|&x| x < t);
    let end = times.len() + 1;
    let scale = (1600 / end.max(1)).clamp(2, 24);
    let width = LABEL_WIDTH + end * scale + 20;
    let x = |t: u64| LABEL_WIDTH + rank(t) * scale;
    let mut class: BTreeMap<usize, &str> = BTreeMap::new();
    for &i in page.linearized {
        class.insert(i, "lin");
    }
    if let Some(f) = page.failed_op {
        class.insert(f, "fail");
    }
    let (verdict_class, verdict_text) = match page.verdict {
        Verdict::Ok => ("ok", "ok".to_owned()),
        Verdict::Violation(v) => ("violation", format!("violation: {}", v.explanation)),
        Verdict::Unknown(r) => ("unknown", format!("unknown: {r}")),
    };
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>{STYLE}</style></head><body>\
         <h1>{title}</h1><p id=\"verdict\" class=\"{verdict_class}\">{verdict}</p>\
         <p class=\"legend\"><span style=\"background:#7bc47f\"></span>in the longest linearizable prefix\
         <span style=\"background:#e5484d\"></span>where linearization fails\
         <span style=\"background:#b8bec7\"></span>other\
         <span style=\"background:#eee;border:1px dashed #555\"></span>unknown outcome</p>",
        title = escape(page.title),
        verdict = escape(&verdict_text),
    );
    let lanes_by = |key_of: &dyn Fn(&TimelineOp) -> String| {
        let mut lanes: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, op) in page.ops.iter().enumerate() {
            lanes.entry(key_of(op)).or_default().push(i);
        }
        lanes
    };
    let by_client = lanes_by(&|op| format!("client {:>6}", op.client));
    let by_key = lanes_by(&|op| {
        if op.key.is_empty() {
            "(range/txn)".to_owned()
        } else {
            format!("key {}", op.key)
        }
    });
    for (heading, id, lanes) in [
        ("Timeline per client", "clients", &by_client),
        ("Timeline per key", "keys", &by_key),
    ] {
        let height = lanes.len() * LANE_HEIGHT + 10;
        let _ = write!(
            html,
            "<h2>{heading}</h2><svg id=\"{id}\" class=\"timeline\" width=\"{width}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\">"
        );
        for (lane, (name, ops)) in lanes.iter().enumerate() {
            let y = lane * LANE_HEIGHT + 4;
            let _ = write!(
                html,
                "<text x=\"2\" y=\"{}\">{}</text>",
                y + 13,
                escape(name.trim_start())
            );
            for &i in ops {
                let op = &page.ops[i];
                let x0 = x(op.invoke);
                let x1 = op.return_time.map_or(LABEL_WIDTH + end * scale, x);
                let mut css = class.get(&i).copied().unwrap_or("other").to_owned();
                if op.return_time.is_none() {
                    css.push_str(" unk");
                }
                let _ = write!(
                    html,
                    "<rect class=\"op {css}\" data-line=\"{}\" x=\"{x0}\" y=\"{y}\" width=\"{}\" height=\"{}\" rx=\"3\"><title>{}</title></rect>",
                    op.line,
                    (x1.saturating_sub(x0)).max(3),
                    LANE_HEIGHT - 6,
                    escape(&op.label)
                );
            }
        }
        html.push_str("</svg>");
    }
    render_watches(&mut html, page, width, &x);
    render_order(&mut html, page);
    html.push_str("</body></html>\n");
    html
}

fn render_watches(html: &mut String, page: &Page<'_>, width: usize, x: &dyn Fn(u64) -> usize) {
    if page.watches.is_empty() {
        return;
    }
    let mut lanes: BTreeMap<u64, Vec<&TimelineWatch>> = BTreeMap::new();
    for w in &page.watches {
        lanes.entry(w.watch).or_default().push(w);
    }
    let height = lanes.len() * LANE_HEIGHT + 10;
    let _ = write!(
        html,
        "<h2>Watch responses</h2><svg id=\"watches\" width=\"{width}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (lane, (watch, responses)) in lanes.iter().enumerate() {
        let y = lane * LANE_HEIGHT + 4;
        let _ = write!(html, "<text x=\"2\" y=\"{}\">watch {watch}</text>", y + 13);
        for r in responses {
            let _ = write!(
                html,
                "<circle class=\"w\" cx=\"{}\" cy=\"{}\" r=\"5\"><title>{}</title></circle>",
                x(r.time),
                y + 8,
                escape(&r.label)
            );
        }
    }
    html.push_str("</svg>");
}

fn render_order(html: &mut String, page: &Page<'_>) {
    let _ = write!(
        html,
        "<h2>Longest linearizable prefix ({} of {} operations)</h2><table id=\"order\"><tr><th>#</th><th>operation</th></tr>",
        page.linearized.len(),
        page.ops.len()
    );
    for (n, &i) in page.linearized.iter().enumerate().take(2000) {
        if let Some(op) = page.ops.get(i) {
            let _ = write!(html, "<tr><td>{n}</td><td>{}</td></tr>", escape(&op.label));
        }
    }
    if let Some(op) = page.failed_op.and_then(|f| page.ops.get(f)) {
        let _ = write!(
            html,
            "<tr class=\"violation\"><td>fails</td><td>{}</td></tr>",
            escape(&op.label)
        );
    }
    html.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Violation;

    #[test]
    fn page_is_self_contained_and_escaped() {
        let verdict =
            Verdict::Violation(Violation::new("linearizability", "<bad> & worse", Some(1)));
        let ops = vec![
            TimelineOp {
                client: 1,
                key: "a".into(),
                invoke: 1,
                return_time: Some(3),
                label: "put <a>".into(),
                line: 2,
            },
            TimelineOp {
                client: 2,
                key: "a".into(),
                invoke: 2,
                return_time: None,
                label: "get a".into(),
                line: 3,
            },
        ];
        let page = Page {
            title: "t.jsonl",
            verdict: &verdict,
            ops,
            linearized: &[0],
            failed_op: Some(1),
            watches: vec![],
        };
        let html = render(&page);
        assert!(html.contains("&lt;bad&gt; &amp; worse"));
        assert!(html.contains("class=\"op lin\""));
        assert!(html.contains("class=\"op fail unk\""));
        assert!(!html.contains("<script"));
        assert!(!html.contains("src="));
        assert!(!html.contains("href="));
    }
}
