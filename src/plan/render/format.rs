//! Which rendering a plan gets: [`Format`] and [`render`], the one place that picks among
//! the table, markdown and JSON.

use std::borrow::Cow;

use super::RenderOptions;
use super::{markdown, table};
use crate::plan::{Plan, file};

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// A table and the member changes of each group.
    #[default]
    Table,
    /// Markdown for a pull-request comment.
    Markdown,
    /// The plan file's JSON.
    Json,
}

/// Render `plan` as `format`.
///
/// # Panics
///
/// Never: JSON is UTF-8.
pub fn render(plan: &Plan, format: Format, opts: &RenderOptions) -> String {
    match format {
        Format::Table => table::table(plan, opts),
        Format::Markdown => markdown::markdown(plan, opts),
        Format::Json => {
            let json = String::from_utf8(file::to_bytes(plan)).expect("JSON is UTF-8");
            match crate::plan::escape::json(&json) {
                Cow::Borrowed(_) => json,
                Cow::Owned(escaped) => escaped,
            }
        }
    }
}
