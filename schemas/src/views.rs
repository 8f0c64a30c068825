//! The views every query reads instead of the tables, as SQL files in `schemas/views/`.
//!
//! Entity tables (`pipelines`, `jobs`, …) may hold several rows per object until ClickHouse
//! merges them, and log tables several copies of one event: `<table>_latest` (one row per
//! object, its latest state) and `<table>_unique` (each event once) read them with `FINAL`, so
//! that no query can count a state or a repeat twice. A view's columns are fixed when it is
//! created, so the views are not migrations: `hookline-consumers` replaces every one of them
//! (`CREATE OR REPLACE VIEW`) after the migrations at each start, and they always show the
//! columns of the release that runs. Views over views come after the views they read.

/// One view: its name and its `CREATE OR REPLACE VIEW` statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    pub name: &'static str,
    /// The file's text: comments, then one statement without a trailing `;`.
    pub sql: &'static str,
}

/// A [`View`] from `views/{name}.sql`.
macro_rules! view {
    ($name:literal) => {
        View {
            name: $name,
            sql: include_str!(concat!("../views/", $name, ".sql")),
        }
    };
}

/// Every view, in the order they are created.
pub const VIEWS: &[View] = &[
    view!("pipelines_latest"),
    view!("pipelines_finished"),
    view!("jobs_latest"),
    view!("jobs_finished"),
    view!("latest_job_try_ids"),
    view!("latest_job_tries"),
    view!("pipelines_with_jobs_finished"),
    view!("latest_job_try_ids_between"),
    view!("commits_with_jobs_finished"),
    view!("merge_requests_latest"),
    view!("issues_latest"),
    view!("deployments_latest"),
    view!("releases_latest"),
    view!("commits_latest"),
    view!("merge_request_events_unique"),
    view!("merge_request_reviews_unique"),
    view!("issue_events_unique"),
    view!("deployment_events_unique"),
    view!("pushes_unique"),
    view!("push_commits_unique"),
    view!("instance_events_unique"),
    view!("projects"),
    view!("merge_request_milestones"),
    view!("merge_request_reviews_by_others"),
    view!("merge_requests_merged"),
    view!("production_deployments"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_a_listed_view_that_replaces_itself() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("views");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .expect("schemas/views")
            .map(|entry| {
                entry
                    .expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        files.sort();
        let mut listed: Vec<String> = VIEWS.iter().map(|v| format!("{}.sql", v.name)).collect();
        listed.sort();
        assert_eq!(files, listed, "schemas/views/ and VIEWS differ");
        for view in VIEWS {
            assert!(
                view.sql
                    .contains(&format!("CREATE OR REPLACE VIEW {} AS", view.name)),
                "{} does not create itself",
                view.name
            );
            assert!(!view.sql.trim_end().ends_with(';'), "{}", view.name);
        }
    }

    #[test]
    fn a_view_comes_after_the_views_it_reads() {
        for (i, view) in VIEWS.iter().enumerate() {
            for later in &VIEWS[i + 1..] {
                let reads = format!("FROM {}\n", later.name);
                assert!(
                    !view.sql.contains(&reads),
                    "{} reads {}, which is created after it",
                    view.name,
                    later.name
                );
            }
        }
    }
}
