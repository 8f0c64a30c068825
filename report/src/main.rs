//! `hookline-report`: runs the query library and prints the results, or writes the HTML page.

use anyhow::Context;
use clap::Parser;
use hookline_report::cli::Cli;
use hookline_report::{html, run, terminal};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let parameters = cli.parameters(time::OffsetDateTime::now_utc());
    let client = cli.connection.client();
    let sections = run::run(&client, &parameters, cli.connection.timeouts().receive).await?;
    let scope = scope(&cli, &parameters);
    print!("{}", terminal::render(&scope, &sections));
    if let Some(path) = &cli.html {
        std::fs::write(path, html::render(&scope, &sections))
            .with_context(|| format!("cannot write the HTML report to {}", path.display()))?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}

/// What the report covers, in words.
fn scope(cli: &Cli, parameters: &hookline_schemas::queries::Parameters) -> String {
    let pairs = parameters.pairs();
    let (from, to) = (&pairs[0].1, &pairs[1].1);
    let mut scope = format!("{from} to {to} UTC");
    for (what, value) in [
        ("projects", &cli.project),
        ("ref", &cli.git_ref),
        ("environment", &cli.environment),
    ] {
        if !value.is_empty() {
            scope.push_str(&format!(", {what} {value}"));
        }
    }
    scope
}
