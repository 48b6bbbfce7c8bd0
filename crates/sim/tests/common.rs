//! Shared by the simulator's tests.

use invar_sim::options::NANOS_PER_SECOND;
use invar_sim::{Mode, Options, WorkloadKind};

/// Options for a short run.
pub fn short(workload: WorkloadKind, mode: Mode, seconds: u64) -> Options {
    Options {
        time_nanos: seconds * NANOS_PER_SECOND,
        mode,
        workload,
        ..Options::default()
    }
}
