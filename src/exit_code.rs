//! The process exit codes, in every command (DESIGN.md, "Commands and exit codes").

/// What a command ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// 0: success, no changes.
    Success,
    /// 1: an error.
    Error,
    /// 2: changes present (`plan --detailed-exitcode`).
    Changes,
    /// 3: a stale plan was refused and a re-plan written.
    Stale,
    /// 4: a safety guard stopped the plan.
    Guard,
}

impl ExitCode {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::Error => 1,
            Self::Changes => 2,
            Self::Stale => 3,
            Self::Guard => 4,
        }
    }
}

impl ExitCode {
    /// What a scimsync process ended in, from its exit status (`None`: killed by a signal).
    pub fn of_process(code: Option<i32>) -> Self {
        match code {
            Some(0) => Self::Success,
            Some(2) => Self::Changes,
            Some(3) => Self::Stale,
            Some(4) => Self::Guard,
            _ => Self::Error,
        }
    }

    /// The exit code of an apply whose groups ended `failed` times failed and `stale` times
    /// stale or superseded with changes left (DESIGN.md: `1` if any failed, else `3` if any is
    /// stale, else `0`).
    ///
    /// ```
    /// use scimsync::exit_code::ExitCode;
    /// assert_eq!(ExitCode::of_apply(1, 2), ExitCode::Error);
    /// assert_eq!(ExitCode::of_apply(0, 2), ExitCode::Stale);
    /// assert_eq!(ExitCode::of_apply(0, 0), ExitCode::Success);
    /// ```
    pub fn of_apply(failed: usize, stale: usize) -> Self {
        if failed > 0 {
            Self::Error
        } else if stale > 0 {
            Self::Stale
        } else {
            Self::Success
        }
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        Self::from(code.code())
    }
}
