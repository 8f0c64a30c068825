//! GitLab event types and the topic family each one is routed to.
//!
//! GitLab names the kind of every delivery in the `X-Gitlab-Event` header (`Pipeline Hook`,
//! `Job Hook`, …). System hooks all say `System Hook` and are told apart only by the body's
//! `event_name`/`object_kind`, so they share one family. Names GitLab adds in later versions
//! land in [`Family::Other`]: they are routed and kept, never dropped.

use std::fmt;

/// The group of GitLab events that share a Kafka topic and a consumer.
///
/// One topic per family keeps each consumer reading only what it projects, while the raw hook
/// (with its exact `X-Gitlab-Event` value in a record header) stays available to all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Pipeline,
    Job,
    MergeRequest,
    Push,
    TagPush,
    Issue,
    Note,
    Deployment,
    Release,
    WikiPage,
    System,
    Other,
}

impl Family {
    /// Every family, in the order topics are listed and created.
    pub const ALL: [Family; 12] = [
        Family::Pipeline,
        Family::Job,
        Family::MergeRequest,
        Family::Push,
        Family::TagPush,
        Family::Issue,
        Family::Note,
        Family::Deployment,
        Family::Release,
        Family::WikiPage,
        Family::System,
        Family::Other,
    ];

    /// The family's name as it appears in topic names, metrics labels and ClickHouse.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Pipeline => "pipeline",
            Family::Job => "job",
            Family::MergeRequest => "merge_request",
            Family::Push => "push",
            Family::TagPush => "tag_push",
            Family::Issue => "issue",
            Family::Note => "note",
            Family::Deployment => "deployment",
            Family::Release => "release",
            Family::WikiPage => "wiki_page",
            Family::System => "system",
            Family::Other => "other",
        }
    }

    /// The family of an `X-Gitlab-Event` header value.
    ///
    /// GitLab renamed `Build Hook` to `Job Hook` (GitLab 9/11) and sends confidential issues
    /// and notes under their own names; each old and new name maps to the same family so a
    /// GitLab upgrade does not split a table. Matching ignores ASCII case and surrounding
    /// whitespace, which proxies are known to alter.
    pub fn from_event_header(value: &str) -> Family {
        let value = value.trim();
        const NAMES: &[(&str, Family)] = &[
            ("Pipeline Hook", Family::Pipeline),
            ("Job Hook", Family::Job),
            ("Build Hook", Family::Job),
            ("Merge Request Hook", Family::MergeRequest),
            ("Push Hook", Family::Push),
            ("Tag Push Hook", Family::TagPush),
            ("Issue Hook", Family::Issue),
            ("Confidential Issue Hook", Family::Issue),
            ("Note Hook", Family::Note),
            ("Confidential Note Hook", Family::Note),
            ("Deployment Hook", Family::Deployment),
            ("Release Hook", Family::Release),
            ("Wiki Page Hook", Family::WikiPage),
            ("System Hook", Family::System),
        ];
        NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(value))
            .map_or(Family::Other, |(_, family)| *family)
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_header_has_its_family() {
        assert_eq!(Family::from_event_header("Pipeline Hook"), Family::Pipeline);
        assert_eq!(Family::from_event_header("Build Hook"), Family::Job);
        assert_eq!(Family::from_event_header("Job Hook"), Family::Job);
        assert_eq!(
            Family::from_event_header("Confidential Note Hook"),
            Family::Note
        );
        assert_eq!(
            Family::from_event_header(" merge request hook "),
            Family::MergeRequest
        );
        assert_eq!(Family::from_event_header("System Hook"), Family::System);
    }

    #[test]
    fn unknown_headers_are_routed_to_other_not_dropped() {
        assert_eq!(Family::from_event_header("Emoji Hook"), Family::Other);
        assert_eq!(Family::from_event_header(""), Family::Other);
    }

    #[test]
    fn family_names_are_unique() {
        let mut names: Vec<_> = Family::ALL.iter().map(|f| f.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Family::ALL.len());
    }
}
