//! What any hook says about its project, whatever its kind: the `project` object that most
//! project hooks embed (wiki pages, feature flags, emoji, access tokens, … as well as the
//! kinds modelled elsewhere) and the top-level `project_id`. Read for the `projects`
//! dimension from hooks no other model covers, so it never fails: a field of an unexpected
//! shape is unknown, not an error.

use serde::Deserialize;
use serde_json::Value;

use super::Project;

/// The project a hook names, as far as its body says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectMention {
    /// `object_kind`, else `event_name` (system hooks).
    pub kind: Option<String>,
    /// The top-level `project_id`.
    pub project_id: Option<u64>,
    /// The `project` object; `None` when absent or not shaped like a project.
    pub project: Option<Project>,
}

/// Reads the [`ProjectMention`] of a body; `None` if the body is not a JSON object.
pub fn parse_project_mention(body: &[u8]) -> Option<ProjectMention> {
    /// Each field as any JSON, so that one odd field costs only itself.
    #[derive(Deserialize)]
    struct Loose {
        #[serde(default)]
        object_kind: Option<Value>,
        #[serde(default)]
        event_name: Option<Value>,
        #[serde(default)]
        project_id: Option<Value>,
        #[serde(default)]
        project: Option<Value>,
    }
    // A struct would also read a JSON array, member by member.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    let loose: Loose = serde_json::from_slice(body).ok()?;
    let text = |value: Option<Value>| match value {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    Some(ProjectMention {
        kind: text(loose.object_kind).or_else(|| text(loose.event_name)),
        project_id: loose.project_id.as_ref().and_then(Value::as_u64),
        project: loose
            .project
            .filter(Value::is_object)
            .and_then(|project| Project::deserialize(project).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_project_of_any_kind() {
        let body = br#"{"object_kind": "wiki_page", "project": {"id": 1,
            "path_with_namespace": "root/awesome-project", "default_branch": "master"},
            "object_attributes": {"title": "x"}}"#;
        let mention = parse_project_mention(body).unwrap();
        assert_eq!(mention.kind.as_deref(), Some("wiki_page"));
        let project = mention.project.unwrap();
        assert_eq!(project.id, Some(1));
        assert_eq!(project.path_with_namespace, "root/awesome-project");
        assert_eq!(project.default_branch.as_deref(), Some("master"));
        assert_eq!(mention.project_id, None);
    }

    #[test]
    fn odd_fields_are_unknown_not_errors() {
        let mention = parse_project_mention(
            br#"{"event_name": "repository_update", "object_kind": 5, "project_id": "7",
                 "project": {"id": "seven"}}"#,
        )
        .unwrap();
        assert_eq!(mention.kind.as_deref(), Some("repository_update"));
        assert_eq!((mention.project_id, mention.project), (None, None));
        let mention = parse_project_mention(br#"{"project_id": 7, "project": []}"#).unwrap();
        assert_eq!((mention.kind, mention.project_id), (None, Some(7)));
        assert_eq!(mention.project, None);
        assert_eq!(parse_project_mention(br#"["wiki_page", 7]"#), None);
        assert_eq!(parse_project_mention(b" \n[1]"), None);
        assert_eq!(parse_project_mention(b"{"), None);
    }
}
