//! Keeps the configuration reference (`docs/configuration.md`) true: each service's tests
//! hand its clap command to [`mismatches`], which compares it with the document both ways,
//! so a setting added, renamed or given another default without the document (or the other
//! way round) fails the build's tests instead of misleading an operator.
//!
//! The document has a `### <title>` section per group of settings, each with a table whose
//! rows read `` | `HOOKLINE_…` | `--flag` | default | meaning | ``. A default written in
//! backticks must be the command's default; a cell without backticks (empty, or words in
//! parentheses such as "(system CAs)" or "(empty)") says that the command has none, or an
//! empty one.

use std::collections::BTreeMap;

/// One documented setting: a row of a reference table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documented {
    /// The `### ` section it is in, for messages.
    pub section: String,
    /// The flag cell without backticks (`--listen`), empty when the row names none.
    pub flag: String,
    /// The default in backticks, `None` when the cell has none.
    pub default: Option<String>,
}

/// The settings documented in the sections of `document` titled `sections`, by variable.
pub fn documented(document: &str, sections: &[&str]) -> BTreeMap<String, Documented> {
    let mut rows = BTreeMap::new();
    let mut current: Option<&str> = None;
    for line in document.lines() {
        if let Some(title) = line.strip_prefix("### ") {
            current = sections
                .iter()
                .copied()
                .find(|wanted| *wanted == title.trim());
            continue;
        }
        if line.starts_with("## ") {
            current = None;
            continue;
        }
        let Some(section) = current else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| a | b | c | d |" splits into ["", a, b, c, d, ""].
        if cells.len() < 6 || !cells[1].starts_with("`HOOKLINE_") {
            continue;
        }
        rows.insert(
            cells[1].trim_matches('`').to_owned(),
            Documented {
                section: section.to_owned(),
                flag: cells[2].trim_matches('`').to_owned(),
                default: quoted(cells[3]),
            },
        );
    }
    rows
}

/// The text of a cell that is one backticked value.
fn quoted(cell: &str) -> Option<String> {
    let inner = cell.strip_prefix('`')?.strip_suffix('`')?;
    (!inner.contains('`')).then(|| inner.to_owned())
}

/// One setting of a command line, as clap has it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Setting {
    flag: String,
    default: Option<String>,
}

/// Every setting with an environment variable of `command` and its subcommands.
fn settings(command: &clap::Command, into: &mut BTreeMap<String, Setting>) {
    for arg in command.get_arguments() {
        let Some(env) = arg.get_env() else { continue };
        if arg.is_hide_set() {
            continue;
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|value| value.to_string_lossy().into_owned())
            .collect();
        into.insert(
            env.to_string_lossy().into_owned(),
            Setting {
                flag: arg
                    .get_long()
                    .map(|long| format!("--{long}"))
                    .unwrap_or_default(),
                // An empty default is documented as such in words ("(empty)").
                default: Some(defaults.join(",")).filter(|joined| !joined.is_empty()),
            },
        );
    }
    for sub in command.get_subcommands() {
        settings(sub, into);
    }
}

/// What differs between `command` and the settings documented in `sections` of `document`:
/// one line per difference, empty when they agree.
pub fn mismatches(command: &clap::Command, document: &str, sections: &[&str]) -> Vec<String> {
    let name = command.get_name();
    let mut actual = BTreeMap::new();
    settings(command, &mut actual);
    let documented = documented(document, sections);
    let mut found = Vec::new();
    for (env, setting) in &actual {
        let Some(row) = documented.get(env) else {
            found.push(format!(
                "{env} ({}) of {name} is not documented in any of the sections {sections:?}",
                setting.flag
            ));
            continue;
        };
        if row.flag != setting.flag {
            found.push(format!(
                "{env}: {name}'s flag is `{}`, the section {:?} says `{}`",
                setting.flag, row.section, row.flag
            ));
        }
        if row.default != setting.default {
            found.push(format!(
                "{env}: {name}'s default is {:?}, the section {:?} says {:?}",
                setting.default, row.section, row.default
            ));
        }
    }
    for (env, row) in &documented {
        if !actual.contains_key(env) {
            found.push(format!(
                "{env} is documented in the section {:?} but {name} has no such setting",
                row.section
            ));
        }
    }
    found
}

/// [`mismatches`] as a test wants it: `Err` with every difference and what to do.
pub fn verify(command: &clap::Command, document: &str, sections: &[&str]) -> Result<(), String> {
    let found = mismatches(command, document, sections);
    if found.is_empty() {
        return Ok(());
    }
    Err(format!(
        "docs/configuration.md disagrees with `{} --help`; update the document (or the setting):\n{}",
        command.get_name(),
        found.join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, Command};

    const DOCUMENT: &str = "\
# Reference

### Shared

| Variable | Flag | Default | Meaning |
| --- | --- | --- | --- |
| `HOOKLINE_A` | `--a` | `1` | A. |
| `HOOKLINE_B` | `--b` | (none) | B. |

### Other

| `HOOKLINE_C` | `--c` | | C. |

## Elsewhere

| `HOOKLINE_D` | `--d` | | Not a reference section. |
";

    fn command() -> Command {
        Command::new("svc")
            .arg(Arg::new("a").long("a").env("HOOKLINE_A").default_value("1"))
            .arg(Arg::new("b").long("b").env("HOOKLINE_B"))
    }

    #[test]
    fn a_command_that_matches_its_sections_has_no_mismatch() {
        assert_eq!(
            mismatches(&command(), DOCUMENT, &["Shared"]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_kind_of_drift_is_named() {
        let drifted = Command::new("svc")
            .arg(Arg::new("a").long("a").env("HOOKLINE_A").default_value("2"))
            .arg(Arg::new("b").long("bee").env("HOOKLINE_B"))
            .subcommand(Command::new("run").arg(Arg::new("e").long("e").env("HOOKLINE_E")));
        let found = mismatches(&drifted, DOCUMENT, &["Shared", "Other"]);
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(found[0].contains("HOOKLINE_A") && found[0].contains("default"));
        assert!(found[1].contains("HOOKLINE_B") && found[1].contains("--bee"));
        assert!(found[2].contains("HOOKLINE_E") && found[2].contains("not documented"));
        assert!(found[3].contains("HOOKLINE_C") && found[3].contains("no such setting"));
        // Sections not asked for, and tables outside `### ` sections, are not read.
        assert!(!found.iter().any(|line| line.contains("HOOKLINE_D")));
    }
}
