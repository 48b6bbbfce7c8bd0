//! Progress of a run over many seeds: a bar on a terminal, plain lines elsewhere (CI logs).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar on a terminal; hidden elsewhere (then [`plain_line`] prints progress lines).
pub fn bar(seeds: u64) -> ProgressBar {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(seeds);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} seeds {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    }
}

/// Without a terminal: a plain line at every tenth of a run of at least `min_total` seeds.
pub fn plain_line(bar: &ProgressBar, total: usize, done: usize, failed: usize, min_total: usize) {
    let step = (total / 10).max(1);
    if bar.is_hidden() && total >= min_total && done.is_multiple_of(step) {
        eprintln!("progress: {done}/{total} seeds, {failed} failed");
    }
}
