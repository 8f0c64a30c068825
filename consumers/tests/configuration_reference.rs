//! `docs/configuration.md` documents exactly the consumers' settings, flags and defaults.

use clap::CommandFactory;

#[test]
fn the_configuration_reference_matches_the_command_line() {
    let document = include_str!("../../docs/configuration.md");
    let sections = &[
        "Shared by both services",
        "hookline-consumers",
        "ClickHouse connection (hookline-consumers and hookline-report)",
    ];
    if let Err(drift) = hookline_runtime::reference::verify(
        &hookline_consumers::config::Cli::command(),
        document,
        sections,
    ) {
        panic!("{drift}");
    }
}
