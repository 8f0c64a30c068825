//! `docs/configuration.md` documents exactly ingest's settings, flags and defaults.

use clap::CommandFactory;

#[test]
fn the_configuration_reference_matches_the_command_line() {
    let document = include_str!("../../docs/configuration.md");
    let command = hookline_ingest::config::Config::command();
    let found = hookline_runtime::reference::mismatches(
        &command,
        document,
        &["Shared by both services", "hookline-ingest"],
    );
    assert!(
        found.is_empty(),
        "docs/configuration.md disagrees with hookline-ingest --help; update the document:\n{}",
        found.join("\n")
    );
}
