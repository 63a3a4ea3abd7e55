//! The emulator's reading of SCIM filters: `attr eq value`, and the member path
//! `members[value eq "id"]`.
//!
//! Genesys documents unquoted values (`displayname eq Sales`); RFC 7644 clients (and
//! scimsync) send quoted ones with `\"` and `\\` escapes. Both are read. Attribute names are
//! case-insensitive. Anything else is an `invalidFilter`.

/// One `attribute eq value` comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eq {
    /// The attribute, lower-cased.
    pub attribute: String,
    /// The value, unescaped.
    pub value: String,
}

/// Parse `attr eq value`.
pub fn parse_eq(text: &str) -> Result<Eq, String> {
    let text = text.trim();
    let mut parts = text.splitn(3, char::is_whitespace);
    let attribute = parts
        .next()
        .filter(|a| !a.is_empty())
        .ok_or("empty filter")?;
    let op = parts.next().ok_or("filter has no operator")?;
    if !op.eq_ignore_ascii_case("eq") {
        return Err(format!("operator {op:?} is not supported (only eq)"));
    }
    let raw = parts.next().map(str::trim).ok_or("filter has no value")?;
    let value = if let Some(quoted) = raw.strip_prefix('"') {
        unquote(quoted)?
    } else if raw.is_empty() || raw.contains(char::is_whitespace) {
        return Err(format!("value {raw:?} must be quoted"));
    } else {
        raw.to_owned()
    };
    if !attribute
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == ':')
    {
        return Err(format!("attribute {attribute:?} is not valid"));
    }
    Ok(Eq {
        attribute: attribute.to_ascii_lowercase(),
        value,
    })
}

/// Read a quoted string's rest (after the opening quote) up to its closing quote, which
/// must end the text.
fn unquote(rest: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('"' | '\\')) => out.push(e),
                other => return Err(format!("bad escape \\{}", other.unwrap_or(' '))),
            },
            '"' => {
                return if chars.as_str().trim().is_empty() {
                    Ok(out)
                } else {
                    Err(format!(
                        "text after the closing quote: {:?}",
                        chars.as_str()
                    ))
                };
            }
            c => out.push(c),
        }
    }
    Err("unterminated string".into())
}

/// A PATCH path: `members`, or `members[value eq "id"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberPath {
    /// The whole `members` attribute.
    Members,
    /// One member, selected by value.
    Member(String),
}

/// Parse a PATCH path that targets members (with or without the Group schema URN prefix).
pub fn parse_member_path(path: &str) -> Result<MemberPath, String> {
    const URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group:";
    let path = path.trim();
    let path = match path.get(..URN.len()) {
        Some(prefix) if prefix.eq_ignore_ascii_case(URN) => &path[URN.len()..],
        _ => path,
    };
    let head = path.get(..7).unwrap_or(path);
    if !head.eq_ignore_ascii_case("members") {
        return Err(format!("path {path:?} is not supported (only members)"));
    }
    let rest = &path[7..];
    if rest.is_empty() {
        return Ok(MemberPath::Members);
    }
    let inner = rest
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| format!("path {path:?} is not members or members[value eq \"…\"]"))?;
    let eq = parse_eq(inner)?;
    if eq.attribute != "value" {
        return Err(format!(
            "members may only be selected by value, not {:?}",
            eq.attribute
        ));
    }
    Ok(MemberPath::Member(eq.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_quoted_unquoted_and_escaped() {
        assert_eq!(
            parse_eq("displayname eq Sales").unwrap(),
            Eq {
                attribute: "displayname".into(),
                value: "Sales".into()
            }
        );
        assert_eq!(
            parse_eq(r#"displayName eq "Sales Team""#).unwrap().value,
            "Sales Team"
        );
        assert_eq!(
            parse_eq(r#"userName EQ "a\"b\\c""#).unwrap().value,
            r#"a"b\c"#
        );
        assert!(parse_eq(r#"id eq "x" or id pr"#).is_err());
        assert!(parse_eq("id ne x").is_err());
        assert!(parse_eq("id eq Sales Team").is_err());
        assert!(parse_eq(r#"id eq "open"#).is_err());
    }

    #[test]
    fn reads_member_paths() {
        assert_eq!(parse_member_path("members").unwrap(), MemberPath::Members);
        assert_eq!(parse_member_path("Members").unwrap(), MemberPath::Members);
        assert_eq!(
            parse_member_path(r#"members[value eq "u-1"]"#).unwrap(),
            MemberPath::Member("u-1".into())
        );
        assert_eq!(
            parse_member_path("urn:ietf:params:scim:schemas:core:2.0:Group:members").unwrap(),
            MemberPath::Members
        );
        assert!(parse_member_path("displayName").is_err());
        assert!(parse_member_path(r#"members[display eq "x"]"#).is_err());
    }
}
