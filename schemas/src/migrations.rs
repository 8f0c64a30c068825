//! The ClickHouse schema as versioned SQL migrations.
//!
//! Each file in `schemas/migrations/` is one migration, numbered in the order it applies and
//! never edited once released: a change to the schema is a new file. The files are compiled
//! into the binaries, so the schema a consumer writes and the schema it migrates to cannot
//! drift apart. Statements use unqualified table names; the runner chooses the database.
//! Every statement must be idempotent (`IF NOT EXISTS`, …) so that several replicas may apply
//! the same migration at once; `MATERIALIZE COLUMN`, which writes a column's default into the
//! rows, is too.

/// One migration: a numbered file of SQL statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Applies in increasing order; recorded in the migrations table once applied.
    pub version: u32,
    /// The file name without the number, for logs and the migrations table.
    pub name: &'static str,
    /// The file's text: statements separated by `;` at the end of a line.
    pub sql: &'static str,
}

impl Migration {
    /// The statements of the migration, comments and blank lines removed.
    pub fn statements(&self) -> Vec<String> {
        let mut statements = Vec::new();
        let mut current = String::new();
        for line in self.sql.lines() {
            let code = line.trim_end();
            if code.trim_start().starts_with("--") || code.trim().is_empty() {
                continue;
            }
            current.push_str(code);
            current.push('\n');
            if code.ends_with(';') {
                let statement = current.trim().trim_end_matches(';').trim().to_owned();
                statements.push(statement);
                current.clear();
            }
        }
        if !current.trim().is_empty() {
            statements.push(current.trim().to_owned());
        }
        statements
    }
}

/// A [`Migration`] from its number, name and file (`migrations/{file}.sql`).
macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../migrations/", $file, ".sql")),
        }
    };
}

/// Every migration, in the order it applies.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "raw_hooks", "0001_raw_hooks"),
    migration!(2, "pipelines", "0002_pipelines"),
    migration!(3, "jobs", "0003_jobs"),
    migration!(4, "merge_requests", "0004_merge_requests"),
    migration!(5, "pushes", "0005_pushes"),
    migration!(6, "issues", "0006_issues"),
    migration!(7, "deployments", "0007_deployments"),
    migration!(8, "releases", "0008_releases"),
    migration!(9, "instance_events", "0009_instance_events"),
    migration!(10, "raw_hooks_inserted_at", "0010_raw_hooks_inserted_at"),
    migration!(11, "pipelines_jobs_v2", "0011_pipelines_jobs_v2"),
    migration!(12, "commits", "0012_commits"),
    migration!(13, "deployments_v2", "0013_deployments_v2"),
    migration!(14, "issues_v2", "0014_issues_v2"),
    migration!(15, "merge_requests_v2", "0015_merge_requests_v2"),
    migration!(16, "projects", "0016_projects"),
    migration!(17, "push_commits", "0017_push_commits"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_and_files_hold_statements() {
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version, "{pair:?}");
        }
        for migration in MIGRATIONS {
            let statements = migration.statements();
            assert!(
                !statements.is_empty(),
                "{} has no statement",
                migration.name
            );
            for statement in statements {
                assert!(!statement.ends_with(';'));
                assert!(
                    statement.contains("IF NOT EXISTS")
                        || statement.contains("IF EXISTS")
                        || statement.contains(" MATERIALIZE COLUMN "),
                    "migration {} is not idempotent: {statement}",
                    migration.name
                );
            }
        }
    }

    #[test]
    fn statements_split_on_line_ending_semicolons_only() {
        let migration = Migration {
            version: 9,
            name: "t",
            sql: "-- comment; not a statement\nCREATE TABLE IF NOT EXISTS a (s String DEFAULT ';')\nENGINE = Memory;\n\nCREATE TABLE IF NOT EXISTS b (x UInt8) ENGINE = Memory;\n",
        };
        let statements = migration.statements();
        assert_eq!(statements.len(), 2);
        assert!(statements[0].contains("DEFAULT ';'"));
    }
}
