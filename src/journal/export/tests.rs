use super::*;
use crate::journal::query::tests::journal;
use crate::journal::query::{Kinds, Query, parse};

fn rendered(format: Format, kinds: Kinds) -> String {
    let lines = journal();
    let entries = parse(&lines, "j").unwrap();
    let ctx = Context::of(&entries, "9.9.9");
    let q = Query {
        kinds,
        ..Query::default()
    };
    render(&q.select(&entries), format, &ctx)
}

#[test]
fn table_snapshot() {
    snapshot!("log_table", rendered(Format::Table, Kinds::Changes));
}

#[test]
fn table_of_every_record_snapshot() {
    snapshot!("log_table_all", rendered(Format::Table, Kinds::All));
}

#[test]
fn csv_snapshot() {
    snapshot!("log_csv", rendered(Format::Csv, Kinds::All));
}

#[test]
fn ocsf_snapshot() {
    let out = rendered(Format::Ocsf, Kinds::All);
    assert_eq!(out.lines().count(), 5, "changes only");
    let first: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    snapshot!("log_ocsf", serde_json::to_string_pretty(&first).unwrap());
}

#[test]
fn ecs_snapshot() {
    let out = rendered(Format::Ecs, Kinds::Changes);
    assert_eq!(out.lines().count(), 5);
    // The last: a settled change, without a correlation id.
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    snapshot!("log_ecs", serde_json::to_string_pretty(&last).unwrap());
}

#[test]
fn json_prints_the_stored_lines_unchanged() {
    let lines = journal();
    let out = rendered(Format::Json, Kinds::All);
    assert_eq!(out, lines.join("\n") + "\n");
}

#[test]
fn the_product_version_is_the_one_of_the_run() {
    let lines = journal();
    let entries = parse(&lines, "j").unwrap();
    let ctx = Context::of(&entries, "9.9.9");
    assert_eq!(ctx.version_of("run-1"), "0.1.0");
    // A run whose run_started record was pruned: this scimsync's version.
    assert_eq!(ctx.version_of("run-0"), "9.9.9");
}

#[test]
fn csv_cells_cannot_become_formulas() {
    assert_eq!(
        neutralize("=HYPERLINK(\"http://x\")"),
        "'=HYPERLINK(\"http://x\")"
    );
    for risky in ["+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
        assert!(neutralize(risky).starts_with('\''), "{risky:?}");
    }
    assert_eq!(neutralize("alice"), "alice");
    let mut lines = journal();
    lines[1] = lines[1].replace("\"label\":\"alice\"", "\"label\":\"=cmd|' /C calc'!A0\"");
    let entries = parse(&lines, "j").unwrap();
    let ctx = Context::of(&entries, "9.9.9");
    let out = render(&Query::default().select(&entries), Format::Csv, &ctx);
    assert!(out.contains(",'=cmd|' /C calc'!A0,"), "{out}");
}

#[test]
fn which_records_each_format_shows() {
    assert_eq!(Format::Table.kinds(false), Ok(Kinds::Changes));
    assert_eq!(Format::Csv.kinds(true), Ok(Kinds::All));
    // JSON is a copy of the journal unless filtered.
    assert_eq!(Format::Json.kinds(false), Ok(Kinds::All));
    assert_eq!(Format::Ocsf.kinds(false), Ok(Kinds::Changes));
    let refused = Format::Ecs.kinds(true).unwrap_err();
    assert!(
        refused.to_string().starts_with("--all with --format ecs:"),
        "{refused}"
    );
}
