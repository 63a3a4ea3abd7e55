//! Who approved an apply and where it ran: from `apply --approved-by … --change-ref …`, and
//! from the CI system's own variables.
//!
//! - GitHub Actions (`GITHUB_ACTIONS=true`): `GITHUB_ACTOR`, `GITHUB_REPOSITORY`,
//!   `GITHUB_RUN_ID`, the run's URL from `GITHUB_SERVER_URL`, `GITHUB_SHA`
//!   (<https://docs.github.com/en/actions/reference/variables-reference>).
//! - GitLab CI (`GITLAB_CI=true`): `GITLAB_USER_LOGIN`, `CI_PROJECT_PATH`, `CI_PIPELINE_ID`,
//!   `CI_PIPELINE_URL`, `CI_COMMIT_SHA`
//!   (<https://docs.gitlab.com/ci/variables/predefined_variables/>).
//! - Anywhere else: `SCIMSYNC_APPROVED_BY` and `SCIMSYNC_CHANGE_REF` (what the flags also
//!   set), `CI_COMMIT_SHA` / `GIT_COMMIT`, and the local user (`USER` / `USERNAME`) as the
//!   one who ran it.
//!
//! Nothing here is a secret; no variable is read that could hold one.

use serde::{Deserialize, Serialize};

/// Who and where.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Actor {
    /// Who approved the plan (`--approved-by`, `SCIMSYNC_APPROVED_BY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The change or pull request it was approved in (`--change-ref`, `SCIMSYNC_CHANGE_REF`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_ref: Option<String>,
    /// Who ran it: the CI actor, or the local user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ran_by: Option<String>,
    /// `github`, `gitlab`, or `local`.
    pub system: String,
    /// The repository (`owner/name`, a GitLab project path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The CI run or pipeline id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// A link to the run or pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    /// The commit it ran at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The machine it ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

impl Actor {
    /// The actor of a run, from `approved_by` and `change_ref` (the flags; `None` falls back
    /// to the variables) and `var` (an environment variable's value; empty counts as unset).
    ///
    /// ```
    /// use scimsync::journal::Actor;
    /// let env = |name: &str| match name {
    ///     "GITHUB_ACTIONS" => Some("true".to_owned()),
    ///     "GITHUB_ACTOR" => Some("octocat".to_owned()),
    ///     "GITHUB_REPOSITORY" => Some("acme/idp".to_owned()),
    ///     "GITHUB_RUN_ID" => Some("42".to_owned()),
    ///     "GITHUB_SERVER_URL" => Some("https://github.com".to_owned()),
    ///     _ => None,
    /// };
    /// let actor = Actor::of_run(Some("alice"), Some("acme/idp#7"), env);
    /// assert_eq!(actor.system, "github");
    /// assert_eq!(actor.run_url.as_deref(), Some("https://github.com/acme/idp/actions/runs/42"));
    /// assert_eq!(actor.approved_by.as_deref(), Some("alice"));
    /// ```
    pub fn of_run(
        approved_by: Option<&str>,
        change_ref: Option<&str>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let flag = |v: Option<&str>, name: &str| {
            v.map(str::to_owned)
                .filter(|v| !v.trim().is_empty())
                .or_else(|| get(name))
        };
        let mut actor = Self {
            approved_by: flag(approved_by, "SCIMSYNC_APPROVED_BY"),
            change_ref: flag(change_ref, "SCIMSYNC_CHANGE_REF"),
            host: get("HOSTNAME").or_else(|| get("COMPUTERNAME")),
            ..Self::default()
        };
        if get("GITHUB_ACTIONS").as_deref() == Some("true") {
            actor.system = "github".into();
            actor.ran_by = get("GITHUB_ACTOR");
            actor.repository = get("GITHUB_REPOSITORY");
            actor.run_id = get("GITHUB_RUN_ID");
            actor.commit = get("GITHUB_SHA");
            if let (Some(server), Some(repo), Some(run)) = (
                get("GITHUB_SERVER_URL"),
                actor.repository.as_ref(),
                actor.run_id.as_ref(),
            ) {
                actor.run_url = Some(format!(
                    "{}/{repo}/actions/runs/{run}",
                    server.trim_end_matches('/')
                ));
            }
        } else if get("GITLAB_CI").as_deref() == Some("true") {
            actor.system = "gitlab".into();
            actor.ran_by = get("GITLAB_USER_LOGIN");
            actor.repository = get("CI_PROJECT_PATH");
            actor.run_id = get("CI_PIPELINE_ID");
            actor.run_url = get("CI_PIPELINE_URL");
            actor.commit = get("CI_COMMIT_SHA");
        } else {
            actor.system = "local".into();
            actor.ran_by = get("USER").or_else(|| get("USERNAME"));
            actor.commit = get("CI_COMMIT_SHA").or_else(|| get("GIT_COMMIT"));
        }
        actor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_and_local_runs_say_who_and_where() {
        let gitlab = |name: &str| {
            match name {
                "GITLAB_CI" => Some("true"),
                "GITLAB_USER_LOGIN" => Some("maria"),
                "CI_PIPELINE_URL" => Some("https://gitlab.example/p/-/pipelines/9"),
                "CI_COMMIT_SHA" => Some("abc123"),
                "SCIMSYNC_APPROVED_BY" => Some("lead"),
                _ => None,
            }
            .map(str::to_owned)
        };
        let actor = Actor::of_run(None, None, gitlab);
        assert_eq!(actor.system, "gitlab");
        assert_eq!(actor.ran_by.as_deref(), Some("maria"));
        assert_eq!(actor.commit.as_deref(), Some("abc123"));
        assert_eq!(actor.approved_by.as_deref(), Some("lead"));
        // A flag wins over the variable; an empty flag does not.
        assert_eq!(
            Actor::of_run(Some("other"), None, gitlab)
                .approved_by
                .as_deref(),
            Some("other")
        );
        assert_eq!(
            Actor::of_run(Some(" "), None, gitlab)
                .approved_by
                .as_deref(),
            Some("lead")
        );
        let local = Actor::of_run(None, None, |n| (n == "USER").then(|| "ops".to_owned()));
        assert_eq!(
            (local.system.as_str(), local.ran_by.as_deref()),
            ("local", Some("ops"))
        );
    }
}
