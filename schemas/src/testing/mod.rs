//! Test support built on the contract, behind the `testing` feature: the GitLab payloads
//! ([`fixtures`]) and the hook lifecycles generated from them ([`gitlab`]). The consumers'
//! property tests, the end-to-end tests and the development tools (`dev/`) share them; the
//! services never enable the feature.

pub mod fixtures;
pub mod gitlab;
