//! The ClickHouse schema as versioned SQL migrations.
//!
//! Each file in `schemas/migrations/` is one migration, numbered in the order it applies and
//! never edited once released: a change to the schema is a new file. The files are compiled
//! into the binaries, so the schema a consumer writes and the schema it migrates to cannot
//! drift apart. Statements use unqualified table names; the runner chooses the database.
//! Every statement must be idempotent (`IF NOT EXISTS`, …) so that several replicas may apply
//! the same migration at once.

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

/// Every migration, in the order it applies.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "raw_hooks",
        sql: include_str!("../migrations/0001_raw_hooks.sql"),
    },
    Migration {
        version: 2,
        name: "pipelines",
        sql: include_str!("../migrations/0002_pipelines.sql"),
    },
    Migration {
        version: 3,
        name: "jobs",
        sql: include_str!("../migrations/0003_jobs.sql"),
    },
    Migration {
        version: 4,
        name: "merge_requests",
        sql: include_str!("../migrations/0004_merge_requests.sql"),
    },
    Migration {
        version: 5,
        name: "pushes",
        sql: include_str!("../migrations/0005_pushes.sql"),
    },
    Migration {
        version: 6,
        name: "issues",
        sql: include_str!("../migrations/0006_issues.sql"),
    },
    Migration {
        version: 7,
        name: "deployments",
        sql: include_str!("../migrations/0007_deployments.sql"),
    },
    Migration {
        version: 8,
        name: "releases",
        sql: include_str!("../migrations/0008_releases.sql"),
    },
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
                    statement.contains("IF NOT EXISTS") || statement.contains("IF EXISTS"),
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
