//! Property-based fuzzing of the parsers that read untrusted bytes: the plan reader, the SCIM
//! response parser and the emulator's filter parser. Any input gives a value or an error,
//! never a panic.

use proptest::prelude::*;
use scimsync::emulator::filter::{parse_eq, parse_member_path};
use scimsync::plan::file;
use scimsync::plan::render::{Format, RenderOptions, render};
use scimsync::target::{parse_group, wire};

fn sample_plan() -> Vec<u8> {
    let text = r#"{
  "format_version": 2,
  "tool_version": "0.1.0",
  "created_at": "2026-11-29T03:00:00Z",
  "target": {"kind": "genesys", "api_base": "https://api.mypurecloud.com"},
  "config_sha256": "00",
  "groups": [{
    "group_id": "g1", "display_name": "Sales",
    "mapping": {"idp_group": "sales", "target": {"id": "g1"}, "mode": "delta"},
    "precondition": {"etag": "W/\"42\"", "members_sha256": "ab", "member_count": 2},
    "base": {"lineage": "0a1b", "serial": 3},
    "source": {"kind": "delta-http", "read": "delta", "cursor_from": "c1", "cursor_to": "c2"},
    "intent": {"desired": ["a@x", "b@x", "d@x"], "granted": ["a@x", "d@x"], "revoked": ["c@x"], "mirror_known": true},
    "resolution": {"a@x": {"found": "u1"}, "b@x": {"user": "u2"}, "c@x": {"user": "u3"}, "d@x": "unknown"},
    "changes": {"add": ["u1"], "remove": ["u3"]},
    "reasons": {"u1": "granted", "u3": "revoked"},
    "pending": [{"key": "d@x", "reason": "unknown-user"}],
    "skipped": [],
    "guard": {"removals": 1, "limit": 25, "overridden": false}
  }],
  "labels": {"u1": "Alice"},
  "summary": {"groups": 1, "groups_changed": 1, "add": 1, "remove": 1, "pending": 1},
  "sha256": "x"
}"#;
    text.as_bytes().to_vec()
}

/// A byte edit: overwrite, insert or delete at a position.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    for &(pos, kind, byte) in edits {
        if bytes.is_empty() {
            bytes.push(byte);
            continue;
        }
        let i = pos % bytes.len();
        match kind % 3 {
            0 => bytes[i] = byte,
            1 => bytes.insert(i, byte),
            _ => {
                bytes.remove(i);
            }
        }
    }
    bytes
}

#[test]
fn the_sample_plan_parses() {
    let plan = file::parse(&sample_plan(), "p.json").unwrap();
    assert!(
        file::verify(&plan, "p.json").is_err(),
        "its sha256 is a placeholder"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_plan_reader_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = file::parse(&bytes, "p.json");
    }

    #[test]
    fn the_plan_reader_never_panics_on_mutated_plans(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)
    ) {
        let bytes = mutate(sample_plan(), &edits);
        if let Ok(plan) = file::parse(&bytes, "p.json") {
            let _ = file::verify(&plan, "p.json");
            let _ = render(&plan, Format::Table, &RenderOptions::default());
            let _ = render(&plan, Format::Markdown, &RenderOptions::default());
        }
    }

    #[test]
    fn the_scim_parser_never_panics(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..8),
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let group = br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"g","displayName":"S","members":[{"value":"u1","$ref":"x","type":"User"}],"meta":{"version":"W/\"3\""}}"#;
        let mutated = mutate(group.to_vec(), &edits);
        for body in [&mutated, &bytes] {
            let _ = parse_group(body, None, "GET group g");
            let _ = serde_json::from_slice::<wire::ListResponse<wire::Group>>(body);
            let _ = serde_json::from_slice::<wire::ErrorBody>(body);
            let _ = serde_json::from_slice::<wire::PatchRequest>(body);
        }
    }

    #[test]
    fn the_filter_parser_never_panics(text in ".{0,80}") {
        let _ = parse_eq(&text);
        let _ = parse_member_path(&text);
    }

    #[test]
    fn user_ids_with_quotes_round_trip_through_the_filter(id in "[a-z\"\\]\\[\\\\ ]{1,20}") {
        let filter = scimsync::target::filter_eq("id", &id, "user id").unwrap();
        let parsed = parse_eq(&filter).unwrap();
        prop_assert_eq!(parsed.value, id);
        prop_assert_eq!(parsed.attribute, "id");
    }
}
