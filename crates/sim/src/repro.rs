//! Repro files: everything needed to replay one failing run exactly (the seed, the options,
//! the fault schedule, usually a shrunk one) and what it broke, as one JSON document.
//! `invar sim --replay FILE` runs it again.

use serde::{Deserialize, Serialize};

use crate::options::Options;
use crate::schedule::Schedule;

/// The `format` field of every repro file.
pub const REPRO_FORMAT: &str = "invar-sim-repro";
/// The version this build writes and reads.
pub const REPRO_VERSION: u32 = 1;

/// What the run broke.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broken {
    /// The property's name.
    pub property: String,
    /// What was seen.
    pub detail: String,
    /// The trace hash at the failure.
    pub trace_hash: String,
}

/// One failing run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repro {
    /// Always [`REPRO_FORMAT`].
    pub format: String,
    /// [`REPRO_VERSION`].
    pub version: u32,
    /// The seed.
    pub seed: u64,
    /// The options of the run.
    pub options: Options,
    /// Faults in the drawn schedule before shrinking.
    pub faults_drawn: usize,
    /// The schedule to replay.
    pub schedule: Schedule,
    /// What it broke.
    pub broken: Broken,
}

/// Why a file is not a repro this build can replay.
#[derive(Debug, thiserror::Error)]
pub enum ReproError {
    /// Not JSON of the right shape.
    #[error("not a repro file: {0}")]
    Shape(#[from] serde_json::Error),
    /// Another format or version.
    #[error(
        "repro file is {format:?} version {version}; this build reads {REPRO_FORMAT:?} version {REPRO_VERSION}"
    )]
    Version {
        /// Its format field.
        format: String,
        /// Its version field.
        version: u32,
    },
}

impl Repro {
    /// The JSON text (pretty, one field per line, so that a diff of two repros reads well).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Reads a repro file's text.
    ///
    /// # Errors
    /// A [`ReproError`] when the text is not a repro of this format and version.
    pub fn from_json(text: &str) -> Result<Repro, ReproError> {
        let repro: Repro = serde_json::from_str(text)?;
        if repro.format != REPRO_FORMAT || repro.version != REPRO_VERSION {
            return Err(ReproError::Version {
                format: repro.format,
                version: repro.version,
            });
        }
        Ok(repro)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version_check() {
        let options = Options::default();
        let repro = Repro {
            format: REPRO_FORMAT.into(),
            version: REPRO_VERSION,
            seed: 42,
            options: options.clone(),
            faults_drawn: 3,
            schedule: Schedule::draw(42, &options),
            broken: Broken {
                property: "linearizable".into(),
                detail: "a read saw the future".into(),
                trace_hash: "00ff".into(),
            },
        };
        let text = repro.to_json();
        assert_eq!(Repro::from_json(&text).expect("reads back"), repro);
        let newer = text.replace("\"version\": 1", "\"version\": 99");
        assert!(matches!(
            Repro::from_json(&newer),
            Err(ReproError::Version { version: 99, .. })
        ));
        assert!(matches!(Repro::from_json("{}"), Err(ReproError::Shape(_))));
    }
}
