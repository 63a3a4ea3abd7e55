//! Property-based fuzzing of the parsers that read untrusted bytes: the plan reader, the SCIM
//! response parser and the emulator's filter parser. Any input gives a value or an error,
//! never a panic.

use proptest::prelude::*;
use scimsync::emulator::filter::{parse_eq, parse_member_path};
use scimsync::plan::file;
use scimsync::plan::render::{Format, RenderOptions, render};
use scimsync::scim::{parse_group, wire};

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
    "intent": {"granted": ["a@x", "d@x"], "revoked": ["c@x"], "mirror_known": true, "desired_count": 3},
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
        let filter = scimsync::scim::filter_eq("id", &id, "user id").unwrap();
        let parsed = parse_eq(&filter).unwrap();
        prop_assert_eq!(parsed.value, id);
        prop_assert_eq!(parsed.attribute, "id");
    }
}

mod hostile {
    //! Hostile strings from outside (group names, labels, ids, IdP keys, ETags, cursors, a
    //! server's error text) through every renderer: only text comes out.

    use proptest::prelude::*;
    use scimsync::model::{ETag, GroupId, UserId};
    use scimsync::plan::render::{Format, RenderOptions, changes_text, diff, render};
    use scimsync::plan::report::{ApplyReport, ApplySummary, GroupReport, Outcome, text_report};
    use scimsync::plan::{Pending, PendingReason, Plan, file};

    const FRAGMENTS: &[&str] = &[
        "</summary><img src=x onerror=alert(1)>",
        "</details>",
        "<script>",
        "`",
        "``",
        "|",
        "\\",
        "\x1b[31m",
        "\x1b]8;;http://evil\x07",
        "\u{9b}2J",
        "\n",
        "\r\n",
        "\n\n",
        "\u{202E}",
        "\u{2066}",
        "&amp;",
        "*_[x](http://e)_*",
        "# h",
        "- ",
        "Alice",
        " ",
    ];

    fn hostile() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                proptest::sample::select(FRAGMENTS).prop_map(str::to_owned),
                any::<char>().prop_map(String::from),
            ],
            1..6,
        )
        .prop_map(|v| v.concat())
    }

    /// The sample plan with `n[i]` put everywhere a string from outside goes.
    fn plan_with(n: &[String]) -> Plan {
        let mut plan = file::parse(&super::sample_plan(), "p.json").unwrap();
        let g = &mut plan.groups[0];
        g.mapping.idp_group.clone_from(&n[0]);
        g.display_name.clone_from(&n[1]);
        g.group_id = GroupId(n[2].clone());
        g.precondition.etag = Some(ETag(n[3].clone()));
        g.source.cursor_to = Some(n[4].as_str().into());
        let (add, remove) = (UserId(n[5].clone()), UserId(format!("{}-rm", n[6])));
        g.changes.add = [add.clone()].into();
        g.changes.remove = [remove.clone()].into();
        g.pending = vec![Pending {
            key: n[7].clone().into(),
            reason: PendingReason::UnknownUser,
        }];
        plan.labels = [(add, n[8].clone()), (remove, n[9].clone())].into();
        plan.summary = scimsync::plan::Summary::of(&plan.groups);
        file::seal(&mut plan);
        plan
    }

    fn report_with(n: &[String]) -> ApplyReport {
        ApplyReport {
            plan_sha256: scimsync::model::Sha256Hex("00".repeat(32)),
            groups: vec![GroupReport {
                idp_group: n[0].clone(),
                group_id: n[2].clone(),
                display_name: n[1].clone(),
                outcome: Outcome::Failed,
                added: 1,
                removed: 0,
                patches: 1,
                detail: Some(n[9].clone()),
            }],
            summary: ApplySummary::default(),
            replan: None,
            exit_code: 1,
        }
    }

    /// Nothing a terminal acts on: no control character but the line feed, no bidi override.
    fn assert_text(what: &str, out: &str) {
        let bad = out.chars().find(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        });
        assert!(bad.is_none(), "{what}: {bad:?} in {out:?}");
    }

    /// `s` without its fenced code blocks and code spans (CommonMark: a run of n backticks up
    /// to the next run of exactly n): what is left is what markdown reads as text or HTML.
    fn outside_code_spans(s: &str) -> String {
        let mut unfenced = String::new();
        let mut fence: Option<String> = None;
        for line in s.lines() {
            match &fence {
                Some(f) if line == f => fence = None,
                Some(_) => {}
                None if line.starts_with("```") => {
                    fence = Some(line.chars().take_while(|c| *c == '`').collect());
                }
                None => {
                    unfenced.push_str(line);
                    unfenced.push('\n');
                }
            }
        }
        let b: Vec<char> = unfenced.chars().collect();
        let run = |i: usize| b[i..].iter().take_while(|c| **c == '`').count();
        let (mut out, mut i) = (String::new(), 0);
        'outer: while i < b.len() {
            if b[i] == '`' && (i == 0 || b[i - 1] != '\\') {
                let n = run(i);
                let mut j = i + n;
                while j < b.len() {
                    if b[j] == '`' {
                        let m = run(j);
                        if m == n {
                            i = j + m;
                            continue 'outer;
                        }
                        j += m;
                    } else {
                        j += 1;
                    }
                }
                i += n;
                continue;
            }
            out.push(b[i]);
            i += 1;
        }
        out
    }

    /// Cell separators of a table row: pipes not escaped by a backslash.
    fn pipes(row: &str) -> usize {
        let (mut n, mut chars) = (0, row.chars());
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '|' => n += 1,
                _ => {}
            }
        }
        n
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn hostile_names_render_as_text_only(n in proptest::collection::vec(hostile(), 10)) {
            let plan = plan_with(&n);
            let opts = RenderOptions { plan_file: Some(n[0].clone()), ..RenderOptions::default() };
            let table = render(&plan, Format::Table, &opts);
            let md = render(&plan, Format::Markdown, &opts);
            let json = render(&plan, Format::Json, &opts);
            let report = text_report(&report_with(&n), "");
            let other = plan_with(&[&n[1..], &n[..1]].concat());
            let d = diff(&changes_text(&plan), &changes_text(&other), &n[0], &n[1]);
            for (what, out) in [("table", &table), ("markdown", &md), ("json", &json), ("report", &report), ("diff", &d)] {
                assert_text(what, out);
            }
            // JSON is still the plan, value for value.
            let back = file::parse(json.as_bytes(), "stdout").unwrap();
            prop_assert_eq!(&back, &plan);
            // Markdown: no HTML from data, balanced sections, whole table rows.
            let text = outside_code_spans(&md).to_lowercase();
            prop_assert!(!text.contains("<img") && !text.contains("<script"), "{}", md);
            prop_assert_eq!(text.matches("</summary>").count(), 1, "{}", md);
            prop_assert_eq!(text.matches("</details>").count(), 1, "{}", md);
            prop_assert_eq!(text.matches("<details").count(), 1, "{}", md);
            let rows: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
            prop_assert_eq!(rows.len(), 3, "{}", md);
            for row in rows {
                prop_assert_eq!(pipes(row), 7, "{}", row);
            }
            // Text: one line per member (no line break from data).
            let header = table.lines().filter(|l| l.contains(" pending (unknown-user)")).count();
            prop_assert_eq!(header, 1, "{}", table);
        }
    }
}
