//! `invar check`: checks history files and prints one verdict line per file.
//!
//! This shell does the I/O and owns the clock: it reads each file's bytes, measures the wall-time
//! deadline, and hands both to `invar-check`, which is deterministic.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use invar_check::linearizability::kv::KvModel;
use invar_check::linearizability::register::RegisterModel;
use invar_check::linearizability::{SearchOutcome, check_operations};
use invar_check::{Budget, ParseError, Verdict, convert, format, html, jepsen, report};

/// Which model judges the history.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelArg {
    /// etcd's keyspace with revisions (JSON-lines histories), plus the watch checker.
    Etcd,
    /// A read/write/cas register (Jepsen's cas-register; EDN histories).
    Register,
    /// A map of string keys: get/put/append (EDN) or single-key get/put/delete (JSON lines).
    Kv,
}

/// How the files are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    /// Invar's history format (crates/check/docs/history-format.md).
    Jsonl,
    /// Jepsen's logs (`INFO jepsen.util - ...`) or EDN map lines.
    Edn,
}

/// Check histories for linearizability and watch guarantees.
///
/// Prints `FILE: ok`, `FILE: violation <why>` or `FILE: unknown <why>` per file, then a summary.
/// Exit code: 0 all ok, 1 any violation, 3 no violation but some unknown, 2 bad usage or an
/// unreadable file.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The model; default: etcd for JSON lines, register for EDN.
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// The format; default: jsonl for `.jsonl`/`.json` files, edn otherwise.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// History files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write an HTML report here (with several files: OUT-<file name>.html for each).
    #[arg(long, value_name = "OUT.html")]
    pub html: Option<PathBuf>,
    /// Wall-time limit per file (e.g. 500ms, 60s, 2m); past it the verdict is `unknown`.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("bad duration {text:?}"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("bad duration unit {unit:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

/// Runs `invar check`.
///
/// # Errors
/// Only for failures to write the HTML report; bad input is reported per file (exit code 2).
pub fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (mut ok, mut violations, mut unknown, mut unreadable) = (0, 0, 0, 0);
    for file in &args.files {
        let format = args.format.unwrap_or_else(|| default_format(file));
        let model = args.model.unwrap_or(match format {
            FormatArg::Jsonl => ModelArg::Etcd,
            FormatArg::Edn => ModelArg::Register,
        });
        let html_out = args
            .html
            .as_ref()
            .map(|out| html_path(out, file, args.files.len()));
        match check_file(file, format, model, args.timeout, html_out.as_deref()) {
            Ok(verdict) => {
                println!("{}: {verdict}", file.display());
                match verdict {
                    Verdict::Ok => ok += 1,
                    Verdict::Violation(_) => violations += 1,
                    Verdict::Unknown(_) => unknown += 1,
                }
            }
            Err(FileError::Input(message)) => {
                eprintln!("{}:{message}", file.display());
                unreadable += 1;
            }
            Err(FileError::Output(e)) => return Err(e),
        }
    }
    println!(
        "{} files: {ok} ok, {violations} violation, {unknown} unknown, {unreadable} unreadable ({:.3} s)",
        args.files.len(),
        started.elapsed().as_secs_f64()
    );
    let code = if unreadable > 0 {
        2
    } else if violations > 0 {
        1
    } else if unknown > 0 {
        3
    } else {
        0
    };
    Ok(ExitCode::from(code))
}

fn default_format(file: &Path) -> FormatArg {
    match file.extension().and_then(|e| e.to_str()) {
        Some("jsonl" | "json") => FormatArg::Jsonl,
        _ => FormatArg::Edn,
    }
}

fn html_path(out: &Path, file: &Path, files: usize) -> PathBuf {
    if files == 1 {
        return out.to_path_buf();
    }
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("report");
    let name = file
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("history");
    out.with_file_name(format!("{stem}-{name}.html"))
}

enum FileError {
    /// Unreadable or malformed input: `LINE: message` (or `: message`).
    Input(String),
    /// The report could not be written.
    Output(anyhow::Error),
}

fn input_error(e: &ParseError) -> FileError {
    FileError::Input(format!("{}: {}", e.line, e.message))
}

fn check_file(
    file: &Path,
    format: FormatArg,
    model: ModelArg,
    timeout: Duration,
    html_out: Option<&Path>,
) -> Result<Verdict, FileError> {
    let bytes = std::fs::read(file).map_err(|e| FileError::Input(format!(" cannot read: {e}")))?;
    let text = invar_check::text_from_bytes(&bytes).map_err(|e| input_error(&e))?;
    let deadline = Instant::now() + timeout;
    let mut expired = || Instant::now() >= deadline;
    let mut budget = Budget::with_deadline(&mut expired);
    let title = file.display().to_string();
    let (verdict, page_html) = match (format, model) {
        (FormatArg::Jsonl, ModelArg::Etcd) => {
            let history = format::parse_history(text).map_err(|e| input_error(&e))?;
            let report = report::check_etcd_history(&history, &mut budget);
            let page = html_out.map(|_| html::render(&html::etcd_page(&title, &history, &report)));
            (empty_is_unknown(history.ops.len(), report.verdict), page)
        }
        (FormatArg::Jsonl, ModelArg::Kv) => {
            let history = format::parse_history(text).map_err(|e| input_error(&e))?;
            let ops = convert::kv_operations(&history).map_err(|e| input_error(&e))?;
            search_page(&KvModel, &ops, &mut budget, &title, html_out, |i| {
                i.key().to_owned()
            })
        }
        (FormatArg::Edn, ModelArg::Register) => {
            let ops = jepsen::register_operations(text).map_err(|e| input_error(&e))?;
            search_page(&RegisterModel, &ops, &mut budget, &title, html_out, |_| {
                "register".to_owned()
            })
        }
        (FormatArg::Edn, ModelArg::Kv) => {
            let ops = jepsen::kv_operations(text).map_err(|e| input_error(&e))?;
            search_page(&KvModel, &ops, &mut budget, &title, html_out, |i| {
                i.key().to_owned()
            })
        }
        (FormatArg::Jsonl, ModelArg::Register) | (FormatArg::Edn, ModelArg::Etcd) => {
            return Err(FileError::Input(format!(
                " the {model:?} model does not read {format:?} histories (etcd: jsonl; register: edn; kv: both)"
            )));
        }
    };
    if let (Some(out), Some(page)) = (html_out, page_html) {
        std::fs::write(out, page)
            .map_err(|e| FileError::Output(anyhow::anyhow!("writing {}: {e}", out.display())))?;
    }
    Ok(verdict)
}

fn empty_is_unknown(ops: usize, verdict: Verdict) -> Verdict {
    if ops == 0 && verdict.is_ok() {
        Verdict::Unknown("empty history: no operations to check".to_owned())
    } else {
        verdict
    }
}

fn search_page<M: invar_check::linearizability::Model>(
    model: &M,
    ops: &[invar_check::linearizability::Operation<M::Input, M::Output>],
    budget: &mut Budget<'_>,
    title: &str,
    html_out: Option<&Path>,
    key_of: impl Fn(&M::Input) -> String,
) -> (Verdict, Option<String>) {
    let SearchOutcome {
        verdict,
        linearized,
        failed_op,
    } = check_operations(model, ops, budget);
    let verdict = empty_is_unknown(ops.len(), verdict);
    let page = html_out.map(|_| {
        let page = html::Page {
            title,
            verdict: &verdict,
            ops: html::model_timeline(model, ops, key_of),
            linearized: &linearized,
            failed_op,
            watches: Vec::new(),
        };
        html::render(&page)
    });
    (verdict, page)
}
