//! The hooks GitLab sends for a [`History`]: one per state change, shaped like the payloads of
//! `schemas/fixtures/` (the fields the projections read, and the usual others around them), and
//! what Hookline receives of them ([`deliveries`]): some twice, merge request and push hooks
//! also through a System Hook, in a shuffled order.

use hookline_schemas::testing::gitlab::Hook;
use serde_json::{json, Value};

use super::generate::Rng;
use super::model::*;

/// GitLab's `2025-01-06 10:00:00 UTC` form.
pub fn gitlab_time(seconds: i64) -> String {
    format!("{} UTC", utc(seconds))
}

/// ISO 8601 with an offset, as commits' timestamps come.
fn iso_time(seconds: i64) -> String {
    let text = utc(seconds);
    format!("{}T{}+00:00", &text[..10], &text[11..])
}

/// `2025-01-06 10:00:00`, in UTC.
pub fn utc(seconds: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn optional_time(seconds: Option<i64>) -> Value {
    seconds.map_or(Value::Null, |s| json!(gitlab_time(s)))
}

fn hook(event: &'static str, body: &Value) -> Hook {
    Hook {
        event,
        body: serde_json::to_vec(body).expect("JSON"),
    }
}

const WEB: &str = "https://gitlab.example.com";

fn project_json(project: &Project, at: i64) -> Value {
    let path = project.path_at(at);
    let name = path.rsplit('/').next().unwrap_or(path);
    json!({
        "id": project.id,
        "name": name,
        "description": "",
        "web_url": format!("{WEB}/{path}"),
        "avatar_url": null,
        "git_ssh_url": format!("git@gitlab.example.com:{path}.git"),
        "git_http_url": format!("{WEB}/{path}.git"),
        "namespace": path.split('/').next().unwrap_or_default(),
        "visibility_level": 10,
        "path_with_namespace": path,
        "default_branch": project.default_branch,
        "ci_config_path": "",
        "homepage": format!("{WEB}/{path}"),
        "url": format!("git@gitlab.example.com:{path}.git"),
        "ssh_url": format!("git@gitlab.example.com:{path}.git"),
        "http_url": format!("{WEB}/{path}.git")
    })
}

fn user_json(developer: &Developer) -> Value {
    json!({
        "id": developer.id,
        "name": developer.name,
        "username": developer.username,
        "avatar_url": null,
        "email": format!("{}@example.com", developer.username)
    })
}

fn commit_json(history: &History, project: &Project, commit: &Commit) -> Value {
    let author = &history.developers[commit.author];
    json!({
        "id": commit.sha,
        "message": format!("{}\n", commit.title),
        "title": commit.title,
        "timestamp": iso_time(commit.committed_at),
        "url": format!("{WEB}/{}/-/commit/{}", project.path_at(commit.committed_at), commit.sha),
        "author": {"name": author.name, "email": format!("{}@example.com", author.username)}
    })
}

/// Every hook of the history, each once, in the order things happened per object.
pub fn hooks(history: &History) -> Vec<Hook> {
    let mut hooks = Vec::new();
    let renamed = history
        .projects
        .iter()
        .enumerate()
        .filter(|(index, _)| history.only.is_none_or(|only| only == *index));
    for (_, project) in renamed {
        if let Some((at, path)) = &project.rename {
            let name = path.rsplit('/').next().unwrap_or(path);
            hooks.push(hook(
                "System Hook",
                &json!({
                    "created_at": gitlab_time(history.start - 30 * 86_400),
                    "updated_at": gitlab_time(*at),
                    "event_name": "project_rename",
                    "name": name,
                    "path": name,
                    "path_with_namespace": path,
                    "project_id": project.id,
                    "owner_name": "Owner",
                    "owner_email": "owner@example.com",
                    "owners": [{"name": "Owner", "email": "owner@example.com"}],
                    "project_namespace_id": 9,
                    "project_visibility": "internal",
                    "old_path_with_namespace": project.first_path
                }),
            ));
        }
    }
    for push in history.pushes.iter().filter(|push| push.delivered) {
        hooks.push(push_hook(history, push));
    }
    for pipeline in &history.pipelines {
        pipeline_hooks(history, pipeline, &mut hooks);
    }
    for merge_request in &history.merge_requests {
        merge_request_hooks(history, merge_request, &mut hooks);
    }
    for deployment in &history.deployments {
        deployment_hooks(history, deployment, &mut hooks);
    }
    for issue in &history.issues {
        issue_hooks(history, issue, &mut hooks);
    }
    hooks
}

/// What Hookline receives: every hook, about a tenth of them twice, a fifth of the merge
/// request, push and tag push hooks again through a System Hook, all shuffled by `seed`.
pub fn deliveries(history: &History, seed: u64) -> Vec<Hook> {
    let mut rng = Rng::new(seed ^ 0xD1CE);
    let once = hooks(history);
    let mut all = Vec::with_capacity(once.len() * 5 / 4);
    for hook in once {
        if rng.chance(0.1) {
            all.push(hook.clone());
        }
        let system_kind = matches!(
            hook.event,
            "Merge Request Hook" | "Push Hook" | "Tag Push Hook"
        );
        if system_kind && rng.chance(0.2) {
            all.push(Hook {
                event: "System Hook",
                body: hook.body.clone(),
            });
        }
        all.push(hook);
    }
    for i in (1..all.len()).rev() {
        all.swap(i, rng.below(i as u64 + 1) as usize);
    }
    all
}

fn push_hook(history: &History, push: &Push) -> Hook {
    let project = &history.projects[push.project];
    let user = &history.developers[push.user];
    let (kind, event, prefix) = if push.tag {
        ("tag_push", "Tag Push Hook", "refs/tags/")
    } else {
        ("push", "Push Hook", "refs/heads/")
    };
    let commits: Vec<Value> = push
        .commits
        .iter()
        .map(|commit| {
            let mut value = commit_json(history, project, commit);
            value["added"] = json!([]);
            value["modified"] = json!(["README.md"]);
            value["removed"] = json!([]);
            value
        })
        .collect();
    hook(
        event,
        &json!({
            "object_kind": kind,
            "event_name": kind,
            "before": push.before,
            "after": push.after,
            "ref": format!("{prefix}{}", push.ref_name),
            "ref_protected": push.ref_name == project.default_branch,
            "checkout_sha": push.after,
            "message": null,
            "user_id": user.id,
            "user_name": user.name,
            "user_username": user.username,
            "user_email": "",
            "user_avatar": null,
            "project_id": project.id,
            "project": project_json(project, push.at),
            "commits": commits,
            "total_commits_count": push.commits.len(),
            "push_options": {},
            "repository": {
                "name": project.path_at(push.at).rsplit('/').next(),
                "url": format!("git@gitlab.example.com:{}.git", project.path_at(push.at)),
                "description": "",
                "homepage": format!("{WEB}/{}", project.path_at(push.at))
            }
        }),
    )
}

fn runner_json(runner: Option<usize>) -> Value {
    runner.map_or(Value::Null, |r| {
        let (id, description, kind) = RUNNERS[r];
        json!({
            "id": id,
            "description": description,
            "runner_type": kind,
            "active": true,
            "is_shared": kind == "instance_type",
            "tags": ["linux", "docker"]
        })
    })
}

/// The state of `job` as of `at` (its first state if it had none yet).
fn job_state_at(job: &Job, at: i64) -> &JobState {
    job.states
        .iter()
        .take_while(|state| state.at <= at)
        .last()
        .unwrap_or(&job.states[0])
}

fn pipeline_hooks(history: &History, pipeline: &Pipeline, hooks: &mut Vec<Hook>) {
    let project = &history.projects[pipeline.project];
    let user = user_json(&history.developers[pipeline.user]);
    let mut stages: Vec<&str> = Vec::new();
    for job in &pipeline.jobs {
        if !stages.contains(&job.stage) {
            stages.push(job.stage);
        }
    }
    let commit = json!({
        "id": pipeline.sha,
        "message": "Change\n",
        "title": "Change",
        "timestamp": iso_time(pipeline.commit_at),
        "url": format!("{WEB}/{}/-/commit/{}", project.path_at(pipeline.commit_at), pipeline.sha),
        "author": {"name": history.developers[pipeline.user].name, "email": "dev@example.com"}
    });
    for state in &pipeline.states {
        let observed = state.finished_at.unwrap_or(pipeline.created_at);
        // Only the latest try of each name, as GitLab lists them.
        let mut builds: Vec<Value> = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for job in pipeline.jobs.iter().rev() {
            if job.created_at > state.at || names.contains(&job.name.as_str()) {
                continue;
            }
            names.push(&job.name);
            let job_state = job_state_at(job, state.at);
            builds.push(json!({
                "id": job.id,
                "stage": job.stage,
                "name": job.name,
                "status": job_state.status,
                "created_at": gitlab_time(job.created_at),
                "started_at": optional_time(job_state.started_at),
                "finished_at": optional_time(job_state.finished_at),
                "duration": job_state.duration,
                "queued_duration": job_state.queued,
                "failure_reason": (job_state.status == "failed").then_some(job_state.failure_reason),
                "when": if job.environment.as_ref().is_some_and(|e| e.0 != "staging") { "manual" } else { "on_success" },
                "manual": job.environment.as_ref().is_some_and(|e| e.0 != "staging"),
                "allow_failure": job.allow_failure,
                "user": user,
                "runner": runner_json(job_state.runner),
                "artifacts_file": {"filename": null, "size": null},
                "environment": job.environment.as_ref().map(|(name, tier)| json!({
                    "name": name, "action": "start", "deployment_tier": tier
                }))
            }));
        }
        builds.reverse();
        let mut body = json!({
            "object_kind": "pipeline",
            "object_attributes": {
                "id": pipeline.id,
                "iid": pipeline.iid,
                "name": null,
                "ref": pipeline.git_ref,
                "tag": pipeline.kind == PipelineKind::Tag,
                "sha": pipeline.sha,
                "before_sha": ZERO_SHA,
                "source": pipeline.source,
                "status": state.status,
                "detailed_status": state.status,
                "stages": stages,
                "created_at": gitlab_time(pipeline.created_at),
                "finished_at": optional_time(state.finished_at),
                "duration": state.duration,
                "queued_duration": state.queued,
                "variables": [],
                "url": format!("{WEB}/{}/-/pipelines/{}", project.path_at(observed), pipeline.id)
            },
            "merge_request": null,
            "user": user,
            "project": project_json(project, observed),
            "commit": commit,
            "builds": builds
        });
        if let PipelineKind::MergeRequest(index) = pipeline.kind {
            let mr = &history.merge_requests[index];
            body["merge_request"] = json!({
                "id": mr.id,
                "iid": mr.iid,
                "title": mr.title,
                "source_branch": mr.source_branch,
                "source_project_id": project.id,
                "target_branch": mr.target_branch,
                "target_project_id": project.id,
                "state": "opened",
                "merge_status": "can_be_merged",
                "detailed_merge_status": "mergeable",
                "url": format!("{WEB}/{}/-/merge_requests/{}", project.path_at(observed), mr.iid)
            });
        }
        if let Some((upstream_project, upstream_pipeline, job)) = pipeline.upstream {
            body["source_pipeline"] = json!({
                "project": {
                    "id": upstream_project,
                    "web_url": format!("{WEB}/{}", project.path_at(observed)),
                    "path_with_namespace": project.path_at(observed)
                },
                "job_id": job,
                "pipeline_id": upstream_pipeline
            });
        }
        hooks.push(hook("Pipeline Hook", &body));
        for job in &pipeline.jobs {
            let _ = job;
        }
    }
    for job in &pipeline.jobs {
        job_hooks(history, pipeline, job, hooks);
    }
}

fn job_hooks(history: &History, pipeline: &Pipeline, job: &Job, hooks: &mut Vec<Hook>) {
    let project = &history.projects[pipeline.project];
    let developer = &history.developers[pipeline.user];
    for state in &job.states {
        let observed = state
            .finished_at
            .or(state.started_at)
            .unwrap_or(job.created_at);
        let path = project.path_at(observed);
        hooks.push(hook(
            "Job Hook",
            &json!({
                "object_kind": "build",
                "ref": pipeline.git_ref,
                "tag": pipeline.kind == PipelineKind::Tag,
                "before_sha": ZERO_SHA,
                "sha": pipeline.sha,
                "retries_count": job.retries_count,
                "build_id": job.id,
                "build_name": job.name,
                "build_stage": job.stage,
                "build_status": state.status,
                "build_created_at": gitlab_time(job.created_at),
                "build_started_at": optional_time(state.started_at),
                "build_finished_at": optional_time(state.finished_at),
                "build_duration": state.duration,
                "build_queued_duration": state.queued,
                "build_allow_failure": job.allow_failure,
                "build_failure_reason": if state.status == "failed" { state.failure_reason } else { "unknown_failure" },
                "pipeline_id": pipeline.id,
                "runner": runner_json(state.runner),
                "project_id": project.id,
                "project_name": path.replace('/', " / "),
                "user": user_json(developer),
                "commit": {
                    "id": pipeline.id,
                    "name": null,
                    "sha": pipeline.sha,
                    "message": "Change\n",
                    "author_name": developer.name,
                    "author_email": format!("{}@example.com", developer.username),
                    "author_url": format!("{WEB}/{}", developer.username),
                    "status": "running",
                    "duration": null,
                    "started_at": null,
                    "finished_at": null
                },
                "repository": {
                    "name": path.rsplit('/').next(),
                    "url": format!("git@gitlab.example.com:{path}.git"),
                    "description": "",
                    "homepage": format!("{WEB}/{path}"),
                    "git_http_url": format!("{WEB}/{path}.git"),
                    "git_ssh_url": format!("git@gitlab.example.com:{path}.git"),
                    "visibility_level": 10
                },
                "project": project_json(project, observed),
                "environment": job.environment.as_ref().map(|(name, tier)| json!({
                    "name": name, "action": "start", "deployment_tier": tier
                }))
            }),
        ));
    }
}

fn merge_request_hooks(history: &History, mr: &MergeRequest, hooks: &mut Vec<Hook>) {
    let project = &history.projects[mr.project];
    let reviewer_json = |ids: &[usize]| -> Vec<Value> {
        ids.iter()
            .map(|&r| {
                let d = &history.developers[r];
                json!({"id": d.id, "name": d.name, "username": d.username, "avatar_url": null})
            })
            .collect()
    };
    let mut previous_at = mr.created_at;
    for event in &mr.events {
        let path = project.path_at(event.at);
        let reviewer_ids: Vec<u64> = event
            .reviewers
            .iter()
            .map(|&r| history.developers[r].id)
            .collect();
        let mut changes = serde_json::Map::new();
        if event.action != "approval" && event.action != "approved" && event.action != "open" {
            changes.insert(
                "updated_at".to_owned(),
                json!({"previous": gitlab_time(previous_at), "current": gitlab_time(event.at)}),
            );
        }
        if let Some(before) = event.draft_before {
            changes.insert(
                "draft".to_owned(),
                json!({"previous": before, "current": event.draft}),
            );
            changes.insert(
                "title".to_owned(),
                json!({"previous": format!("Draft: {}", mr.title), "current": mr.title}),
            );
        }
        if let Some(before) = &event.reviewers_before {
            changes.insert(
                "reviewers".to_owned(),
                json!({"previous": reviewer_json(before), "current": reviewer_json(&event.reviewers)}),
            );
        }
        if event.action == "merge" {
            changes.insert("state_id".to_owned(), json!({"previous": 1, "current": 3}));
        }
        if event.action == "close" {
            changes.insert("state_id".to_owned(), json!({"previous": 1, "current": 2}));
        }
        let title = if event.draft {
            format!("Draft: {}", mr.title)
        } else {
            mr.title.clone()
        };
        let mut attributes = json!({
            "id": mr.id,
            "iid": mr.iid,
            "target_branch": mr.target_branch,
            "source_branch": mr.source_branch,
            "source_project_id": project.id,
            "target_project_id": project.id,
            "author_id": history.developers[mr.author].id,
            "assignee_id": history.developers[mr.author].id,
            "assignee_ids": [history.developers[mr.author].id],
            "reviewer_ids": reviewer_ids,
            "title": title,
            "created_at": gitlab_time(mr.created_at),
            "updated_at": gitlab_time(event.at),
            "last_edited_at": null,
            "milestone_id": null,
            "state": event.state,
            "state_id": match event.state { "merged" => 3, "closed" => 2, _ => 1 },
            "blocking_discussions_resolved": true,
            "merge_status": "can_be_merged",
            "detailed_merge_status": if event.draft { "draft_status" } else { "mergeable" },
            "merge_user_id": if event.state == "merged" { json!(history.developers[event.actor].id) } else { Value::Null },
            "merge_commit_sha": null,
            "draft": event.draft,
            "work_in_progress": event.draft,
            "head_pipeline_id": null,
            "description": "",
            "url": format!("{WEB}/{path}/-/merge_requests/{}", mr.iid),
            "source": project_json(project, event.at),
            "target": project_json(project, event.at),
            "last_commit": commit_json(history, project, &event.head),
            "labels": [],
            "action": event.action
        });
        if let Some(oldrev) = &event.oldrev {
            attributes["oldrev"] = json!(oldrev);
        }
        let author = &history.developers[mr.author];
        hooks.push(hook(
            "Merge Request Hook",
            &json!({
                "object_kind": "merge_request",
                "event_type": "merge_request",
                "user": user_json(&history.developers[event.actor]),
                "project": project_json(project, event.at),
                "object_attributes": attributes,
                "labels": [],
                "changes": changes,
                "repository": {
                    "name": path.rsplit('/').next(),
                    "url": format!("git@gitlab.example.com:{path}.git"),
                    "description": "",
                    "homepage": format!("{WEB}/{path}")
                },
                "assignees": [{"id": author.id, "name": author.name, "username": author.username, "avatar_url": null}],
                "reviewers": reviewer_json(&event.reviewers)
            }),
        ));
        previous_at = event.at;
    }
    for note in &mr.notes {
        let path = project.path_at(note.at);
        let state = mr
            .events
            .iter()
            .take_while(|event| event.at <= note.at)
            .last()
            .map_or("opened", |event| event.state);
        let author = &history.developers[note.author];
        let text = if note.system {
            "added 1 commit".to_owned()
        } else {
            format!("Comment {} by {}", note.id, author.username)
        };
        hooks.push(hook(
            "Note Hook",
            &json!({
                "object_kind": "note",
                "event_type": "note",
                "user": user_json(author),
                "project_id": project.id,
                "project": project_json(project, note.at),
                "object_attributes": {
                    "id": note.id,
                    "note": text,
                    "noteable_type": "MergeRequest",
                    "author_id": author.id,
                    "created_at": gitlab_time(note.at),
                    "updated_at": gitlab_time(note.at),
                    "project_id": project.id,
                    "attachment": null,
                    "line_code": null,
                    "commit_id": null,
                    "noteable_id": mr.id,
                    "system": note.system,
                    "st_diff": null,
                    "type": if note.note_type.is_empty() { Value::Null } else { json!(note.note_type) },
                    "discussion_id": format!("{:040x}", note.id),
                    "action": "create",
                    "url": format!("{WEB}/{path}/-/merge_requests/{}#note_{}", mr.iid, note.id)
                },
                "merge_request": {
                    "id": mr.id,
                    "iid": mr.iid,
                    "target_branch": mr.target_branch,
                    "source_branch": mr.source_branch,
                    "source_project_id": project.id,
                    "target_project_id": project.id,
                    "author_id": history.developers[mr.author].id,
                    "title": mr.title,
                    "created_at": gitlab_time(mr.created_at),
                    "updated_at": gitlab_time(note.at),
                    "state": state,
                    "merge_status": "can_be_merged",
                    "detailed_merge_status": "mergeable",
                    "url": format!("{WEB}/{path}/-/merge_requests/{}", mr.iid)
                }
            }),
        ));
    }
}

fn deployment_hooks(history: &History, deployment: &Deployment, hooks: &mut Vec<Hook>) {
    let project = &history.projects[deployment.project];
    let user = &history.developers[deployment.user];
    for &(status, at) in &deployment.states {
        let path = project.path_at(at);
        let mut body = json!({
            "object_kind": "deployment",
            "status": status,
            "status_changed_at": gitlab_time(at),
            "deployment_id": deployment.id,
            "deployable_id": deployment.job_id,
            "deployable_url": deployment.job_id.map(|id| format!("{WEB}/{path}/-/jobs/{id}")),
            "environment": deployment.environment,
            "environment_slug": deployment.environment,
            "environment_external_url": format!("https://{}.example.com", deployment.environment),
            "project": project_json(project, at),
            "short_sha": &deployment.sha[..8],
            "user": user_json(user),
            "user_url": format!("{WEB}/{}", user.username),
            "commit_url": format!("{WEB}/{path}/-/commit/{}", deployment.sha),
            "commit_title": deployment.commit_title,
            "ref": deployment.git_ref
        });
        if let Some(tier) = deployment.tier {
            body["environment_tier"] = json!(tier);
        }
        hooks.push(hook("Deployment Hook", &body));
    }
}

fn issue_hooks(history: &History, issue: &Issue, hooks: &mut Vec<Hook>) {
    let project = &history.projects[issue.project];
    let labels = |titles: &[&str]| -> Vec<Value> {
        titles
            .iter()
            .map(|title| {
                json!({
                    "id": title.bytes().map(u64::from).sum::<u64>(),
                    "title": title,
                    "color": "#428BCA",
                    "project_id": project.id,
                    "type": "ProjectLabel"
                })
            })
            .collect()
    };
    let mut previous_at = issue.created_at;
    for event in &issue.events {
        let path = project.path_at(event.at);
        let mut changes = serde_json::Map::new();
        if event.action != "open" {
            changes.insert(
                "updated_at".to_owned(),
                json!({"previous": gitlab_time(previous_at), "current": gitlab_time(event.at)}),
            );
        }
        if let Some(before) = &event.labels_before {
            changes.insert(
                "labels".to_owned(),
                json!({"previous": labels(before), "current": labels(&event.labels)}),
            );
        }
        if event.action == "close" {
            changes.insert(
                "closed_at".to_owned(),
                json!({"previous": null, "current": gitlab_time(event.at)}),
            );
        }
        hooks.push(hook(
            "Issue Hook",
            &json!({
                "object_kind": "issue",
                "event_type": "issue",
                "user": user_json(&history.developers[event.actor]),
                "project": project_json(project, event.at),
                "object_attributes": {
                    "id": issue.id,
                    "iid": issue.iid,
                    "title": issue.title,
                    "description": "",
                    "state": event.state,
                    "state_id": if event.state == "closed" { 2 } else { 1 },
                    "action": event.action,
                    "author_id": history.developers[issue.author].id,
                    "project_id": project.id,
                    "assignee_ids": [],
                    "assignee_id": null,
                    "created_at": gitlab_time(issue.created_at),
                    "updated_at": gitlab_time(event.at),
                    "closed_at": if event.state == "closed" { json!(gitlab_time(event.at)) } else { Value::Null },
                    "confidential": false,
                    "labels": labels(&event.labels),
                    "type": issue.issue_type,
                    "severity": "unknown",
                    "url": format!("{WEB}/{path}/-/issues/{}", issue.iid)
                },
                "labels": labels(&event.labels),
                "assignees": [],
                "changes": changes,
                "repository": {
                    "name": path.rsplit('/').next(),
                    "url": format!("git@gitlab.example.com:{path}.git"),
                    "description": "",
                    "homepage": format!("{WEB}/{path}")
                }
            }),
        ));
        previous_at = event.at;
    }
}

#[cfg(test)]
mod tests {
    use super::super::{generate, Size};
    use super::*;
    use hookline_schemas::payload::{parse, Payload};

    #[test]
    fn a_small_history_is_a_few_thousand_hooks_that_all_parse() {
        let history = generate(Size::small(), 3);
        let delivered = deliveries(&history, 3);
        assert!(
            (500..6_000).contains(&delivered.len()),
            "{} hooks",
            delivered.len()
        );
        for hook in &delivered {
            let parsed = parse(&hook.body).expect("a payload GitLab could send");
            if hook.event != "System Hook" {
                assert!(!matches!(parsed, Payload::Other { .. }), "{}", hook.event);
            }
        }
        assert!(delivered.iter().any(|h| h.event == "System Hook"));
    }
}
