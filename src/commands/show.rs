//! `scimsync show PLAN`: render a plan file. It warns, but never fails, when the plan is old
//! or its digest does not match (apply will refuse it then; show says so).

use crate::cli::ShowArgs;
use crate::exit_code::ExitCode;
use crate::plan::file;
use crate::plan::render::{RenderOptions, render};

/// Plans older than this get a warning.
const OLD_AFTER_HOURS: i64 = 24;

/// Run `scimsync show`.
pub fn run(args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let shown = args.plan.display().to_string();
    let plan = file::read(&args.plan)?;
    if let Err(e) = file::verify(&plan, &shown) {
        eprintln!("warning: {e}; apply will refuse it");
    }
    let hours = jiff::Timestamp::now()
        .duration_since(plan.created_at)
        .as_secs()
        / 3600;
    if hours >= OLD_AFTER_HOURS {
        eprintln!(
            "warning: this plan was made {hours} hours ago ({}); groups changed since will be refused by apply and re-planned",
            plan.created_at
        );
    }
    let opts = RenderOptions {
        plan_file: Some(shown),
        ..RenderOptions::default()
    };
    print!("{}", render(&plan, args.format.into(), &opts));
    Ok(ExitCode::Success)
}
