//! The control API that tests, the demo and the benchmark drive: scripting users, groups,
//! the IdP, faults and writes behind scimsync's back, and reading what the emulator saw.

use std::time::Duration;

use tokio::time::Instant;

use super::faults::{Fault, FaultAction, ForeignWrite, RandomFaults, Record, Route};
use super::idp;
use super::options::Options;
use super::org::User;
use super::state::Emulator;

impl Emulator {
    /// Change the emulator's behaviour.
    pub fn configure(&self, f: impl FnOnce(&mut Options)) {
        f(&mut self.lock().options);
    }

    /// Accept this OAuth client.
    pub fn add_client(&self, id: &str, secret: &str) {
        self.lock().clients.insert(id.to_owned(), secret.to_owned());
    }

    /// Let group `group`'s membership rules hold `user` (a member from now on): a PATCH that
    /// removes them is accepted and changes nothing.
    ///
    /// # Panics
    ///
    /// If there is no such group: a test's mistake.
    pub fn keep_by_rule(&self, group: &str, user: &str) {
        let mut state = self.lock();
        let g = state
            .org
            .groups
            .get_mut(group)
            .expect("keep_by_rule: no such group");
        g.kept_by_rule.insert(user.to_owned());
        if g.members.insert(user.to_owned()) {
            g.version += 1;
        }
    }

    /// Add a user.
    pub fn add_user(&self, id: &str, user_name: &str, external_id: Option<&str>) {
        self.lock().org.add_user(User {
            id: id.to_owned(),
            user_name: user_name.to_owned(),
            external_id: external_id.map(str::to_owned),
            active: true,
        });
    }

    /// Add a user with a display name and an active flag (late provisioning and
    /// deactivation are modelled by adding or changing users while the emulator runs).
    pub fn put_user(&self, id: &str, user_name: &str, active: bool) {
        let mut state = self.lock();
        let external_id = state.org.users.get(id).and_then(|u| u.external_id.clone());
        state.org.add_user(User {
            id: id.to_owned(),
            user_name: user_name.to_owned(),
            external_id,
            active,
        });
    }

    /// Make user `id` active or inactive; false when there is no such user.
    pub fn set_user_active(&self, id: &str, active: bool) -> bool {
        match self.lock().org.users.get_mut(id) {
            Some(user) => {
                user.active = active;
                true
            }
            None => false,
        }
    }

    /// Delete user `id` (it stays in groups only as a dangling reference, as after a
    /// deletion in Genesys).
    pub fn remove_user(&self, id: &str) {
        self.lock().org.users.remove(id);
    }

    /// Delete user `id` as Genesys does: SCIM answers 404, the Platform API lists it with
    /// `state: "deleted"` when asked for deleted users (`state=deleted|any`).
    pub fn delete_user(&self, id: &str) {
        self.lock().org.delete_user(id);
    }

    /// Add a group with these members.
    pub fn add_group(&self, id: &str, display_name: &str, members: &[&str]) {
        self.lock().org.add_group(
            id,
            display_name,
            members.iter().map(std::string::ToString::to_string),
        );
    }

    /// Fail a share of all requests at random, from a seed (`None`: stop).
    pub fn random_faults(&self, random: Option<RandomFaults>) {
        self.lock().faults.set_random(random);
    }

    /// Delete a group (as an admin would in Genesys Cloud: SCIM cannot).
    pub fn remove_group(&self, id: &str) {
        self.lock().org.groups.remove(id);
    }

    /// Script a fault for the next `times` requests of `route`.
    pub fn inject(&self, route: Route, times: u32, action: FaultAction) {
        self.lock().faults.push(Fault {
            route,
            times,
            action,
        });
    }

    /// Change group `group` as another writer would (the version moves if membership does).
    ///
    /// # Panics
    ///
    /// Panics when `group` is not a group of the emulator (a mistake in a test).
    pub fn write_behind(&self, group: &str, add: &[&str], remove: &[&str]) {
        let mut state = self.lock();
        let g = state
            .org
            .groups
            .get_mut(group)
            .expect("write_behind: no such group");
        let before = g.members.clone();
        g.members
            .extend(add.iter().map(std::string::ToString::to_string));
        for r in remove {
            g.members.remove(*r);
        }
        if g.members != before {
            g.version += 1;
            g.last_modified = jiff::Timestamp::now();
        }
    }

    /// Have another writer change `group` right after the `after_patches`-th PATCH to it commits.
    pub fn write_after_patches(
        &self,
        group: &str,
        after_patches: u32,
        add: &[&str],
        remove: &[&str],
    ) {
        self.lock().faults.foreign.push(ForeignWrite {
            group: group.to_owned(),
            after_patches,
            add: add.iter().map(std::string::ToString::to_string).collect(),
            remove: remove
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
        });
    }

    /// Accept `token` as a bearer token (a ready token, as a generic SCIM server hands out).
    pub fn issue_token(&self, token: &str) {
        let expiry = Instant::now() + Duration::from_hours(24);
        self.lock().tokens.insert(token.to_owned(), expiry);
    }

    /// Every access token issued so far (for tests that check no secret leaks).
    pub fn issued_tokens(&self) -> Vec<String> {
        let state = self.lock();
        state
            .tokens
            .keys()
            .chain(state.expired.iter())
            .cloned()
            .collect()
    }

    /// Make every issued token expired: the next API call with one answers 401.
    pub fn expire_tokens(&self) {
        let mut state = self.lock();
        let issued: Vec<String> = state.tokens.keys().cloned().collect();
        state.expired.extend(issued);
        state.tokens.clear();
    }

    /// The IdP's bearer token.
    pub fn set_idp_token(&self, token: &str) {
        self.lock().idp_token = Some(token.to_owned());
    }

    /// Change an IdP group's membership (creating the group if new).
    pub fn idp_change(&self, group: &str, add: &[&str], remove: &[&str]) {
        let s = |v: &[&str]| {
            v.iter()
                .map(std::string::ToString::to_string)
                .collect::<Vec<_>>()
        };
        self.lock().idp.change(group, &s(add), &s(remove));
    }

    /// The IdP's current cursor (what a delta read now would return as `idp_etag`).
    pub fn idp_cursor(&self) -> String {
        self.lock().idp.cursor()
    }

    /// The members of IdP group `group`, sorted.
    pub fn idp_members(&self, group: &str) -> Vec<String> {
        self.lock()
            .idp
            .members(group)
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Put an Entra user in the directory: object id, `userPrincipalName`, display name and
    /// `accountEnabled`.
    pub fn entra_user(&self, id: &str, upn: &str, display_name: &str, enabled: bool) {
        self.lock().idp.entra.insert(
            id.to_ascii_lowercase(),
            idp::EntraObject {
                id: id.to_owned(),
                kind: idp::EntraKind::User,
                user_principal_name: Some(upn.to_owned()),
                display_name: display_name.to_owned(),
                account_enabled: enabled,
            },
        );
    }

    /// Put a directory object that is not a user (a group, device or service principal).
    pub fn entra_object(&self, id: &str, kind: idp::EntraKind, display_name: &str) {
        self.lock().idp.entra.insert(
            id.to_ascii_lowercase(),
            idp::EntraObject {
                id: id.to_owned(),
                kind,
                user_principal_name: None,
                display_name: display_name.to_owned(),
                account_enabled: true,
            },
        );
    }

    /// Put an Okta user: id, `profile.login`, `profile.email` and `status`.
    pub fn okta_user(&self, id: &str, login: &str, email: &str, status: &str) {
        self.lock().idp.okta.insert(
            id.to_owned(),
            idp::OktaUser {
                id: id.to_owned(),
                login: login.to_owned(),
                email: email.to_owned(),
                status: status.to_owned(),
            },
        );
    }

    /// Have Graph and Okta answer 429 for `for_how_long` from now: Graph with `Retry-After`,
    /// Okta with only `X-Rate-Limit-*` headers, as each really does.
    ///
    /// # Panics
    ///
    /// Never: the durations tests pass are seconds.
    pub fn idp_throttle(&self, for_how_long: Duration) {
        let until = jiff::Timestamp::now()
            + jiff::SignedDuration::try_from(for_how_long).expect("a short duration");
        self.lock().idp_throttled_until = Some(until);
    }

    /// The scopes Graph token requests asked for.
    pub fn graph_scopes(&self) -> Vec<String> {
        self.lock().graph_scopes.clone()
    }

    /// Bytes of huge IdP bodies produced so far ([`Options::idp_huge_body`]).
    pub fn idp_bytes_sent(&self) -> u64 {
        self.idp_bytes_sent
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Make every IdP cursor issued so far expired (the delta endpoint answers 410).
    pub fn idp_expire_cursors(&self) {
        self.lock().idp.expire_cursors();
    }

    /// The members of Genesys group `group`, sorted.
    pub fn members(&self, group: &str) -> Vec<String> {
        self.lock()
            .org
            .groups
            .get(group)
            .map(|g| g.members.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The current ETag of Genesys group `group`.
    pub fn etag(&self, group: &str) -> Option<String> {
        let state = self.lock();
        state.org.groups.get(group).map(|g| state.etag(g.version))
    }

    /// Wait until `n` requests of `route` have arrived (answered or not).
    pub async fn wait_arrived(&self, route: Route, n: usize) {
        let mut seen = self.seen.subscribe();
        loop {
            if self.lock().faults.arrived.get(&route).copied().unwrap_or(0) >= n {
                return;
            }
            if seen.changed().await.is_err() {
                return;
            }
        }
    }

    /// Every request seen so far.
    pub fn journal(&self) -> Vec<Record> {
        self.lock().faults.journal.clone()
    }

    /// How many requests of `route` were seen.
    pub fn count(&self, route: Route) -> usize {
        self.lock()
            .faults
            .journal
            .iter()
            .filter(|r| r.route == route)
            .count()
    }

    /// How many requests of `route` were answered `status`.
    pub fn count_status(&self, route: Route, status: u16) -> usize {
        self.lock()
            .faults
            .journal
            .iter()
            .filter(|r| r.route == route && r.status == status && !r.dropped)
            .count()
    }

    /// Define (or redefine) role `id` named `name` with `permissions`
    /// (`domain:entity:action`), as an admin would in Genesys.
    pub fn define_role(&self, id: &str, name: &str, permissions: &[&str]) {
        let permissions: Vec<String> = permissions.iter().map(|p| (*p).to_owned()).collect();
        self.lock().authz.add_role(id, name, &permissions);
    }

    /// Define (or rename) division `id`; the first defined is Home.
    pub fn define_division(&self, id: &str, name: &str) {
        self.lock().authz.add_division(id, name);
    }

    /// Grant role `role` in `division` (`*`: all divisions) to group `group`'s members, as an
    /// admin would in Genesys, e.g. between a plan and its apply. False when the group held
    /// it already.
    ///
    /// # Panics
    ///
    /// If the group, role or division is unknown: a test's mistake.
    pub fn grant_role(&self, group: &str, role: &str, division: &str) -> bool {
        let mut state = self.lock();
        assert!(
            state.org.groups.contains_key(group),
            "grant_role: no group {group}"
        );
        assert!(
            state.authz.roles.contains_key(role),
            "grant_role: no role {role}"
        );
        assert!(
            state.authz.knows_division(division),
            "grant_role: no division {division}"
        );
        state.authz.grant(group, role, division)
    }

    /// Take back a grant of [`Emulator::grant_role`]; false when the group did not hold it.
    pub fn revoke_role(&self, group: &str, role: &str, division: &str) -> bool {
        self.lock().authz.revoke(group, role, division)
    }

    /// Forget the journal (counts start again from zero) and the busy time.
    pub fn clear_journal(&self) {
        self.lock().faults.journal.clear();
        self.busy_nanos
            .store(0, std::sync::atomic::Ordering::Relaxed);
    }

    /// Time spent in the emulator's handlers since the journal was last cleared: the
    /// emulator's own share of a benchmark's time.
    pub fn busy(&self) -> Duration {
        Duration::from_nanos(self.busy_nanos.load(std::sync::atomic::Ordering::Relaxed))
    }
}
