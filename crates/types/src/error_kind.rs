//! What kind of failure an error is, so that every surface (exit codes,
//! HTTP status, later gRPC codes) answers the same failure the same way.
//! Each crate's error enum says its kind through `kind()`; the binaries map
//! kinds to their surface in one place each.

/// The kinds of failure every crate's error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Malformed or wrongly typed input, a bad definition or setting:
    /// the caller can fix it by sending something else.
    InvalidInput,
    /// An unknown name, version, alias or key.
    NotFound,
    /// Creating something that exists and may not be replaced.
    AlreadyExists,
    /// The state changed under the request (a concurrent commit, a held
    /// lock, a definition that differs from the registered one).
    Conflict,
    /// A backend or the server itself cannot take the request now; the same
    /// request may succeed later.
    Unavailable,
    /// A fault of Sluice or its storage, not the caller's.
    Internal,
}

impl ErrorKind {
    /// The process exit code of a command that failed this way: 1 when the
    /// user can fix the command, 2 when the system failed (the convention
    /// of the CLI's earlier releases, which scripts test for).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::InvalidInput
            | ErrorKind::NotFound
            | ErrorKind::AlreadyExists
            | ErrorKind::Conflict => 1,
            ErrorKind::Unavailable | ErrorKind::Internal => 2,
        }
    }

    /// Whether the caller, rather than the system, is at fault.
    pub fn is_caller_fault(self) -> bool {
        self.exit_code() == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scripts test for 1 (fix the command) and 2 (the system failed).
    #[test]
    fn caller_faults_exit_1_and_system_faults_exit_2() {
        for kind in [
            ErrorKind::InvalidInput,
            ErrorKind::NotFound,
            ErrorKind::AlreadyExists,
            ErrorKind::Conflict,
        ] {
            assert_eq!(kind.exit_code(), 1, "{kind:?}");
            assert!(kind.is_caller_fault());
        }
        for kind in [ErrorKind::Unavailable, ErrorKind::Internal] {
            assert_eq!(kind.exit_code(), 2, "{kind:?}");
            assert!(!kind.is_caller_fault());
        }
    }

    /// A missing file is not found; any other definition error is invalid input.
    #[test]
    fn definition_errors_report_their_kind() {
        let missing = crate::Error::Io {
            path: "features/x.toml".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        let bad = crate::NameRef::parse("a b").unwrap_err();
        assert_eq!(bad.kind(), ErrorKind::InvalidInput);
    }
}
