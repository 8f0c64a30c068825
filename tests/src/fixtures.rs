//! The GitLab payloads the tests send, from `schemas/fixtures/` (see its README for origins).

use std::path::PathBuf;

/// The fixtures folder of the schemas crate.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas/fixtures")
}

/// A fixture's bytes, by path under `schemas/fixtures/` (e.g. `seeds/pipeline_hook.json`).
pub fn read(name: &str) -> Vec<u8> {
    let path = dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}
