//! `docs/configuration.md` documents exactly `hookline-report`'s settings with variables.

use clap::CommandFactory;

#[test]
fn the_configuration_reference_matches_the_command_line() {
    let document = include_str!("../../docs/configuration.md");
    let sections = &["ClickHouse connection (hookline-consumers and hookline-report)"];
    if let Err(drift) = hookline_runtime::reference::verify(
        &hookline_report::cli::Cli::command(),
        document,
        sections,
    ) {
        panic!("{drift}");
    }
}
