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

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        Self::from(code.code())
    }
}
