//! Escaping of strings from outside (group names, labels, ids, IdP keys, ETags, cursors) for
//! each format a plan is rendered into. Pure and total: any string in, only text out.
//!
//! With `source.kind = "file"` the pull-request author writes those strings, so a renderer
//! must never let one of them become markup, a terminal command or a broken table row:
//!
//! - [`text`]: terminal output. C0 and C1 control characters (ESC among them), DEL and the
//!   bidirectional overrides and isolates (which can make a line read backwards) are shown as
//!   `\u{…}` escapes.
//! - [`md`]: markdown inline text (list items, table cells). HTML's `<`, `>` and `&` become
//!   entities, markdown's punctuation is backslash-escaped, `|` too (a table cell), and
//!   controls and line breaks are escaped as in [`text`].
//! - [`html`]: text inside HTML, such as `<summary>`: `<`, `>`, `&` and `"` become entities.
//! - [`code`]: a code span, fenced with more backticks than the string holds; not for tables
//!   (a `|` in a table splits the cell even inside a code span).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Characters that are not text: C0, DEL, C1, and the bidirectional controls.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200E}' | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

fn escape_with(s: &str, extra: impl Fn(char, &mut String) -> bool) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    for (i, c) in s.char_indices() {
        let mut piece = String::new();
        let changed = if hidden(c) {
            let _ = write!(piece, "\\u{{{:x}}}", u32::from(c));
            true
        } else {
            extra(c, &mut piece)
        };
        match (&mut out, changed) {
            (Some(o), true) => o.push_str(&piece),
            (Some(o), false) => o.push(c),
            (None, true) => {
                let mut o = String::with_capacity(s.len() + 8);
                o.push_str(&s[..i]);
                o.push_str(&piece);
                out = Some(o);
            }
            (None, false) => {}
        }
    }
    out.map_or(Cow::Borrowed(s), Cow::Owned)
}

/// For a terminal: control characters (ESC, newlines, C1) and bidirectional overrides become
/// visible `\u{…}` escapes; everything else is unchanged.
///
/// ```
/// use scimsync::plan::escape::text;
/// assert_eq!(text("Alice Smith"), "Alice Smith");
/// assert_eq!(text("\x1b[31mred"), "\\u{1b}[31mred");
/// assert_eq!(text("a\nb\u{202E}c"), "a\\u{a}b\\u{202e}c");
/// assert_eq!(text("\u{9b}2J"), "\\u{9b}2J");
/// ```
pub fn text(s: &str) -> Cow<'_, str> {
    escape_with(s, |_, _| false)
}

/// For markdown inline text and table cells: nothing in it is markup.
///
/// ```
/// use scimsync::plan::escape::md;
/// assert_eq!(md("Sales EMEA"), "Sales EMEA");
/// assert_eq!(md("a|b"), "a\\|b");
/// assert_eq!(md("</summary><img src=x>"), "&lt;/summary&gt;&lt;img src=x&gt;");
/// assert_eq!(md("*bold* [x](y) `c`"), "\\*bold\\* \\[x\\](y) \\`c\\`");
/// assert_eq!(md("two\nlines"), "two\\u{a}lines");
/// ```
pub fn md(s: &str) -> Cow<'_, str> {
    // A control's `\u{…}` needs no more: in markdown a backslash before a letter is literal.
    escape_with(s, |c, out| match c {
        '<' => {
            out.push_str("&lt;");
            true
        }
        '>' => {
            out.push_str("&gt;");
            true
        }
        '&' => {
            out.push_str("&amp;");
            true
        }
        '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '#' | '!' => {
            out.push('\\');
            out.push(c);
            true
        }
        _ => false,
    })
}

/// For JSON text already serialised: the characters JSON allows raw but a terminal may act on
/// (DEL, C1 controls, bidirectional overrides) become `\uXXXX` escapes, so the value read
/// back is the same. JSON's own structure is ASCII, so they can only be inside strings; C0
/// controls (ESC among them) are escaped by every JSON serialiser already.
///
/// ```
/// use scimsync::plan::escape::json;
/// assert_eq!(json("{\"a\":\"x\u{202E}y\"}"), "{\"a\":\"x\\u202ey\"}");
/// let back: String = serde_json::from_str(&json("\"\u{9b}\"")).unwrap();
/// assert_eq!(back, "\u{9b}");
/// ```
pub fn json(s: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    for (i, c) in s.char_indices() {
        if hidden(c) && !c.is_ascii_control() || c == '\u{7f}' {
            let o = out.get_or_insert_with(|| s[..i].to_owned());
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(o, "\\u{unit:04x}");
            }
        } else if let Some(o) = &mut out {
            o.push(c);
        }
    }
    out.map_or(Cow::Borrowed(s), Cow::Owned)
}

/// For text inside HTML (`<summary>…</summary>`): entities for `<`, `>`, `&`, `"` and `` ` ``;
/// controls escaped as in [`text`].
///
/// ```
/// use scimsync::plan::escape::html;
/// assert_eq!(html("R&D"), "R&amp;D");
/// assert_eq!(html("</summary><img src=x onerror=alert(1)>"), "&lt;/summary&gt;&lt;img src=x onerror=alert(1)&gt;");
/// ```
pub fn html(s: &str) -> Cow<'_, str> {
    escape_with(s, |c, out| {
        let entity = match c {
            '<' => "&lt;",
            '>' => "&gt;",
            '&' => "&amp;",
            '"' => "&quot;",
            // Literal in HTML, but a renderer that reads markdown inside `<summary>` would
            // open a code span on it.
            '`' => "&#96;",
            _ => return false,
        };
        out.push_str(entity);
        true
    })
}

/// A markdown code span holding `s` verbatim: fenced with one backtick more than the longest
/// run of backticks in it, padded with a space when it starts or ends with a backtick.
/// Controls are escaped as in [`text`] (a line break would end a list item). Not for table
/// cells: use [`md`] there.
///
/// ```
/// use scimsync::plan::escape::code;
/// assert_eq!(code("8f4a2c1d"), "`8f4a2c1d`");
/// assert_eq!(code("a`b"), "``a`b``");
/// assert_eq!(code("`x"), "`` `x ``");
/// assert_eq!(code("W/\"42\""), "`W/\"42\"`");
/// ```
pub fn code(s: &str) -> String {
    let s = text(s);
    let mut longest = 0;
    let mut run = 0;
    for c in s.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') || (s.starts_with(' ') && s.ends_with(' '))
    {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_strings_hold_no_control_character() {
        let hostile = "\x1b[2J\u{9b}31m\r\n\t\u{202E}\u{2066}\0\x7f";
        for out in [
            text(hostile).into_owned(),
            md(hostile).into_owned(),
            html(hostile).into_owned(),
            code(hostile),
        ] {
            assert!(!out.chars().any(hidden), "{out:?}");
        }
    }

    #[test]
    fn unchanged_strings_are_borrowed() {
        assert!(matches!(text("alice@example.com"), Cow::Borrowed(_)));
        assert!(matches!(md("alice@example.com"), Cow::Borrowed(_)));
        assert!(matches!(html("alice@example.com"), Cow::Borrowed(_)));
    }
}
