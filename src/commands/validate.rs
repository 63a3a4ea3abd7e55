//! `scimsync validate`: check the config, the state store and its journal (readable, and writable by a
//! conditional write of a probe that is then deleted), the credentials, that every mapped
//! group exists, whether the OAuth client may read users in bulk through the Platform API
//! (and, if not, the scope to add and what it would save), and that the IdP answers, as a
//! checklist. Non-zero on any failure; a missing Platform scope is a warning (`!`): plans
//! work without it, one request per user instead of one per 100.

use super::{Env, connect, open_source};
use crate::cli::ValidateArgs;
use crate::config::Config;
use crate::exit_code::ExitCode;
use crate::model::GroupTarget;
use crate::model::Mode;
use crate::state::State;

fn check(ok: bool, line: &str) -> bool {
    println!("{} {line}", if ok { "✓" } else { "✗" });
    ok
}

/// Run `scimsync validate`.
#[allow(
    clippy::too_many_lines,
    reason = "a checklist, one check after another"
)]
pub async fn run(args: &ValidateArgs, env: Env<'_>) -> anyhow::Result<ExitCode> {
    let config = match Config::load(&args.config.path) {
        Ok(c) => c,
        Err(e) => {
            check(false, &format!("config: {e}"));
            return Ok(ExitCode::Error);
        }
    };
    let mut all = check(
        true,
        &format!(
            "config {}: {} group(s), target {} {}",
            config.path.display(),
            config.groups.len(),
            config.target.kind.as_str(),
            config.target.api_base
        ),
    );
    let state = match config.state.load().await {
        Ok(loaded) => {
            let s = loaded.state;
            check(
                true,
                &format!(
                    "state {}: {} group(s) recorded, {} user(s) resolved",
                    config.state.describe(),
                    s.groups.len(),
                    s.users.len()
                ),
            );
            s
        }
        Err(e) => {
            all &= check(false, &format!("state: {e}"));
            State::default()
        }
    };
    all &= match config.state.probe().await {
        Ok(()) => check(
            true,
            &format!(
                "state store ({}) {}: reachable and writable",
                config.state.kind(),
                config.state.describe()
            ),
        ),
        Err(e) => check(
            false,
            &format!("state store ({}): {e}", config.state.kind()),
        ),
    };
    // The journal beside the state: readable (in a bucket: listable), and where the state
    // says it ends; apply appends to it before any change.
    let journal = config.state.journal();
    all &= match journal.newest().await {
        Ok(newest) => match crate::journal::chain::cut_short(newest.seq, state.journal.as_ref()) {
            Ok(()) => check(
                true,
                &format!(
                    "journal {}: readable, {} record(s)",
                    journal.describe(),
                    newest.seq
                ),
            ),
            Err(cut) => check(
                false,
                &format!(
                    "journal {}: {cut}: restore it from a backup (`scimsync log verify` says what is wrong)",
                    journal.describe()
                ),
            ),
        },
        Err(e) => check(
            false,
            &format!(
                "journal {}: {e} (in a bucket, the credentials must list, read and create objects under it)",
                journal.describe()
            ),
        ),
    };
    let http = super::http_client()?;
    let client = match connect(&config, env, &http) {
        Ok(c) => {
            check(true, "credentials: found in the environment");
            Some(c)
        }
        Err(e) => {
            all &= check(false, &format!("credentials: {e:#}"));
            None
        }
    };
    let mut members_seen = 0usize;
    // A group read, for the grant check below.
    let mut a_group = None;
    if let Some(client) = &client {
        // Two entries that resolve to one Genesys group would undo each other's changes.
        let mut owners: std::collections::BTreeMap<crate::model::GroupId, &str> =
            std::collections::BTreeMap::new();
        for g in &config.groups {
            let found = match &g.target {
                GroupTarget::Id(id) => client
                    .get_group(id)
                    .await
                    .map(|s| (s.id, s.display_name, s.members.len(), s.etag)),
                GroupTarget::Name(name) => match client.find_group_by_name(name).await {
                    Ok(s) => client
                        .get_group(&s.id)
                        .await
                        .map(|s| (s.id, s.display_name, s.members.len(), s.etag)),
                    Err(e) => Err(e),
                },
            };
            // A Genesys group without an ETag can be planned but never applied (every PATCH
            // carries If-Match): say so now, with what to do.
            let found = found.and_then(|(id, name, n, etag)| match etag {
                None if config.target.kind == crate::model::TargetKind::Genesys => {
                    Err(crate::scim::ScimError::GenesysWithoutEtag {
                        context: format!("GET group {id}"),
                        group: format!("{name} ({id})"),
                    })
                }
                _ => Ok((id, name, n)),
            });
            all &= match found {
                Ok((id, name, _)) if owners.contains_key(&id) => check(
                    false,
                    &format!(
                        "groups {:?} and {:?} both map to Genesys group {name} ({id}): keep one [[group]] for it",
                        owners[&id], g.idp_group
                    ),
                ),
                Ok((id, name, n)) => {
                    members_seen += n;
                    a_group.get_or_insert_with(|| id.clone());
                    owners.insert(id.clone(), &g.idp_group);
                    check(
                        true,
                        &format!("group {} → {name} ({id}): {n} members", g.idp_group),
                    )
                }
                Err(e) => check(false, &format!("group {}: {e}", g.idp_group)),
            };
        }
    }
    if let Some(client) = &client
        && client.has_platform()
    {
        all &= platform_check(client, members_seen, state.users.len()).await;
        if config.review.grants == crate::model::GrantsMode::On
            && let Some(id) = &a_group
        {
            all &= grants_check(client, id).await;
        }
    }
    match open_source(&config, env, &http) {
        Ok(source) => {
            for g in &config.groups {
                let since = match g.mode {
                    Mode::Delta => state.cursor(&g.idp_group),
                    Mode::Full => None,
                };
                all &= match source.read(&g.idp_group, since, g.mode).await {
                    Ok(_) => check(
                        true,
                        &format!("IdP ({}) answers for group {}", source.kind(), g.idp_group),
                    ),
                    Err(e) => check(false, &format!("IdP: {e}")),
                };
            }
        }
        Err(e) => all &= check(false, &format!("IdP: {e:#}")),
    }
    Ok(if all {
        ExitCode::Success
    } else {
        ExitCode::Error
    })
}

/// One bulk user read through the Platform API: ✓ when allowed; `!` (not a failure) when
/// Genesys refuses it for a missing scope, naming the scope and what it would save; ✗ for
/// any other error.
async fn platform_check(client: &crate::scim::ScimClient, members: usize, cached: usize) -> bool {
    use crate::scim::platform::PER_REQUEST;
    use crate::scim::wire::platform::SCOPE;
    match client.users_by_id(&[]).await {
        Ok(_) => check(
            true,
            &format!(
                "Platform API user reads (scope {SCOPE}): users are resolved and labelled {PER_REQUEST} a request"
            ),
        ),
        Err(e) if e.is_denied() => {
            let users = members.max(cached);
            println!(
                "! Platform API user reads: {e}. Add the scope {SCOPE} to the OAuth client (and the permission directory:user:view, for userName keys): resolving or labelling the {users} users of these groups then costs {} requests instead of up to {users} (SCIM, one a user). Until then plans read users through SCIM.",
                users.div_ceil(PER_REQUEST)
            );
            true
        }
        Err(e) => check(false, &format!("Platform API user reads: {e}")),
    }
}

/// One grant read (of the first mapped group): ✓ when allowed; `!` (not a failure) when
/// Genesys refuses it, naming the permission and scope to add; ✗ for any other error.
async fn grants_check(client: &crate::scim::ScimClient, group: &crate::model::GroupId) -> bool {
    use crate::scim::wire::authz::{PERMISSION, SCOPE};
    match client.group_grants(group).await {
        Ok(_) => check(
            true,
            &format!(
                "group grants (permission {PERMISSION}, scope {SCOPE}): plans say which roles each change grants"
            ),
        ),
        Err(e) if e.is_denied() => {
            println!(
                "! group grants: {e}. Give the OAuth client a role with the permission {PERMISSION} and the scope {SCOPE}: until then plans say \"roles unknown\" for every changed group (or set [review] grants = \"off\" if your groups carry no roles)."
            );
            true
        }
        Err(e) => check(false, &format!("group grants: {e}")),
    }
}
