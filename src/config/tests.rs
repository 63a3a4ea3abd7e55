use super::*;
use crate::model::Mode;
use crate::model::UserKey;
use crate::model::{OktaUserAttribute, RemoveStyle};

const GOOD: &str = r#"
[target]
region = "eu-central-1"
[source]
kind = "delta-http"
base_url = "https://idp.example.com"
token_env = "IDP_API_TOKEN"
[[group]]
name = "sales"
target_id = "g1"
[[group]]
name = "support"
target_name = "Support"
mode = "full"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/scimsync/scimsync.toml"), "x".into())
}

#[test]
fn a_good_config_gets_defaults_and_relative_paths() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.target.api_base.as_str(), "https://api.mypurecloud.de");
    assert_eq!(c.target.login_base.as_str(), "https://login.mypurecloud.de");
    assert_eq!(c.target.max_members_per_patch, 50);
    assert_eq!(c.safety.max_removals_per_group, 25);
    assert_eq!(c.state.describe(), "/etc/scimsync/scimsync.state.json");
    assert_eq!(c.groups[0].mode, Mode::Delta);
    assert_eq!(c.groups[1].target, GroupTarget::Name("Support".into()));
    assert_eq!(c.select(&["support".into()]).unwrap().len(), 1);
    assert!(
        c.select(&["nope".into()])
            .unwrap_err()
            .to_string()
            .contains("sales, support")
    );
}

#[test]
fn idp_keys_default_per_source() {
    let okta = GOOD.replace("kind = \"delta-http\"", "kind = \"okta\"");
    let c = parse(&okta).unwrap();
    assert!(matches!(
        c.source,
        SourceConfig::Okta {
            user_attribute: OktaUserAttribute::Email,
            user_key: UserKey::UserName,
            ..
        }
    ));
    let c = parse(&okta.replace("[source]", "[source]\nuser_attribute = \"id\"")).unwrap();
    assert_eq!(c.source.user_key(), UserKey::ExternalId);
    let graph = GOOD
        .replace("kind = \"delta-http\"", "kind = \"graph\"\ntenant = \"t\"")
        .replace("token_env = \"IDP_API_TOKEN\"\n", "");
    let c = parse(&graph).unwrap();
    assert_eq!(c.source.user_key(), UserKey::UserName);
    let e = parse(&graph.replace("[source]", "[source]\nuser_key = \"id\""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("source.user_key"), "{e}");
    let c = parse(&GOOD.replace("[source]", "[source]\nread_deadline_secs = 5")).unwrap();
    assert!(matches!(
        c.source,
        SourceConfig::DeltaHttp { read_deadline, .. } if read_deadline.as_secs() == 5
    ));
}

#[test]
fn a_scim_target_refuses_value_list_removals() {
    let scim = GOOD.replace(
        "region = \"eu-central-1\"",
        "kind = \"scim\"\nbase_url = \"https://scim.example.com/scim/v2\"\ntoken_env = \"T\"",
    );
    assert_eq!(
        parse(&scim).unwrap().target.remove_style,
        RemoveStyle::FilterPath
    );
    let e = parse(&scim.replace(
        "token_env = \"T\"",
        "token_env = \"T\"\nremove_style = \"value-list\"",
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("target.remove_style") && e.contains("§3.5.2.2") && e.contains("filter-path"),
        "{e}"
    );
}

#[test]
fn the_sample_config_is_valid() {
    let text = include_str!("../../examples/scimsync.toml");
    let c = Config::parse(text, Path::new("examples/scimsync.toml"), "x".into()).unwrap();
    assert_eq!(c.groups.len(), 2);
    assert_eq!(c.target.api_base.as_str(), "https://api.mypurecloud.com");
}

#[test]
fn the_state_is_a_path_or_a_url() {
    let c = parse(&format!(
        "{GOOD}[state]\nurl = \"s3://bucket/team/s.json\"\n"
    ))
    .unwrap();
    assert_eq!(c.state.describe(), "s3://bucket/team/s.json");
    let c = parse(&format!(
        "{GOOD}[state]\nurl = \"file:///var/lib/s.json\"\n"
    ))
    .unwrap();
    assert_eq!(c.state.describe(), "/var/lib/s.json");
}

#[test]
fn errors_name_file_line_and_key() {
    let cases = [
        (GOOD.replace("[target]", "[target]\ncolour = 1"), "colour"),
        (GOOD.replace("eu-central-1", "mars-1"), "target.region"),
        (GOOD.replace("https://idp", "http://idp"), "source.base_url"),
        (
            GOOD.replace("mode = \"full\"", "mode = \"sometimes\""),
            "sometimes",
        ),
        (
            GOOD.replace("[target]", "[target]\nconcurrency = \"four\""),
            "concurrency",
        ),
        (
            GOOD.replace("[target]", "[target]\nconcurrency = 0"),
            "target.concurrency",
        ),
        (GOOD.replace("target_id = \"g1\"", ""), "group[0].target_id"),
        (
            GOOD.replace("name = \"support\"", "name = \"sales\""),
            "group[1].name",
        ),
        (
            GOOD.replace("[source]", "[safety]\nmax_removal_ratio = 2.0\n[source]"),
            "safety.max_removal_ratio",
        ),
        (
            format!("{GOOD}[state]\npath = \"s.json\"\nurl = \"s3://b/k.json\"\n"),
            "state.url",
        ),
        (format!("{GOOD}[state]\nurl = \"s.json\"\n"), "state.url"),
        (format!("{GOOD}[state]\nurl = \"s3://b/\"\n"), "state.url"),
        (
            format!("{GOOD}[state]\nurl = \"gopher://b/k\"\n"),
            "state.url",
        ),
        (format!("{GOOD}[state]\nbucket = \"b\"\n"), "bucket"),
    ];
    for (text, key) in cases {
        let e = parse(&text).unwrap_err().to_string();
        assert!(e.contains("/etc/scimsync/scimsync.toml"), "{e}");
        assert!(e.contains(key), "expected {key:?} in: {e}");
    }
    let okta = GOOD.replace("kind = \"delta-http\"", "kind = \"okta\"");
    let e = parse(&okta.replace("[source]", "[source]\nuser_attribute = \"mail\""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("user_attribute") && e.contains("mail"), "{e}");
    let e = parse(&GOOD.replace("[source]", "[source]\nuser_attribute = \"login\""))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("source.user_attribute") && e.contains("delta-http"),
        "{e}"
    );
    let e = parse(&GOOD.replace("[target]", "[target]\ncolour = 1"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 3"), "{e}");
}

#[test]
fn review_reads_grants_privileged_roles_and_recheck_all() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.review, crate::model::Review::default());
    let with = GOOD.replacen(
        "[[group]]",
        "[review]\ngrants = \"off\"\nprivileged_roles = [\" Supervisor \", \"r-1\"]\nrecheck_all = true\n[[group]]",
        1,
    );
    let c = parse(&with).unwrap();
    assert_eq!(c.review.grants, crate::model::GrantsMode::Off);
    assert!(c.review.names_role("x", "SUPERVISOR") && c.review.names_role("r-1", "other"));
    assert!(c.review.recheck_all);
    let bad = GOOD.replacen("[[group]]", "[review]\ngrants = \"maybe\"\n[[group]]", 1);
    let e = parse(&bad).unwrap_err().to_string();
    assert!(
        e.contains("review.grants") && e.contains("\"maybe\"") && e.contains("\"off\""),
        "{e}"
    );
    let empty = GOOD.replacen(
        "[[group]]",
        "[review]\nprivileged_roles = [\"\"]\n[[group]]",
        1,
    );
    let e = parse(&empty).unwrap_err().to_string();
    assert!(e.contains("review.privileged_roles[0]"), "{e}");
    let unknown = GOOD.replacen("[[group]]", "[review]\ngrant = \"on\"\n[[group]]", 1);
    assert!(parse(&unknown).unwrap_err().to_string().contains("grant"));
}
