//! Who may do what: roles, actions, and the one function that decides, [`authorize`].
//!
//! A user has a role (`read` < `write` < `admin`) and may have a different role on some
//! repositories (`repositories = { pypi = "write" }` in the users file, `--repo pypi=write` on
//! the command line). Operator endpoints (`/-/…`) are judged by the user's own role.

use serde::{Deserialize, Serialize};

use super::users::UserRecord;
use crate::config::Anonymous;

/// What a user may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// GET and HEAD on every repository.
    Read,
    /// Read, and uploads to hosted repositories.
    Write,
    /// Write, and the operator endpoints under `/-/`.
    Admin,
}

impl Role {
    /// The name used in the users file and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "read" => Ok(Role::Read),
            "write" => Ok(Role::Write),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("unknown role `{s}`; use read, write or admin")),
        }
    }
}

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// GET, HEAD, and read-only POSTs such as `npm audit`.
    Read,
    /// Any other method.
    Write,
}

/// What a request does it to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// A repository, by name (the first path segment).
    Repository(&'a str),
    /// The operator endpoints under `/-/` (but `/-/health`, which is always open).
    Operator,
    /// The web console and its API (`/-/ui/`, `/-/api/`): reading needs `read`, changing
    /// anything needs `admin`.
    Console,
}

/// The outcome of [`authorize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Credentials are needed (401).
    Unauthenticated,
    /// The user is known but lacks the role (403).
    Forbidden,
}

/// Decides whether `user` (`None`: no credentials) may do `action` on `target`.
pub fn authorize(
    user: Option<&UserRecord>,
    anonymous: Anonymous,
    target: Target<'_>,
    action: Action,
) -> Decision {
    if anonymous == Anonymous::Read && action == Action::Read {
        return Decision::Allow;
    }
    let Some(user) = user else {
        return Decision::Unauthenticated;
    };
    let (has, needs) = match target {
        Target::Operator => (user.role, Role::Admin),
        Target::Console => (
            user.role,
            match action {
                Action::Read => Role::Read,
                Action::Write => Role::Admin,
            },
        ),
        Target::Repository(name) => (
            user.repositories.get(name).copied().unwrap_or(user.role),
            match action {
                Action::Read => Role::Read,
                Action::Write => Role::Write,
            },
        ),
    };
    if has >= needs {
        Decision::Allow
    } else {
        Decision::Forbidden
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, grants: &[(&str, Role)]) -> UserRecord {
        UserRecord {
            role,
            password: None,
            repositories: grants.iter().map(|(r, g)| ((*r).to_owned(), *g)).collect(),
        }
    }

    #[test]
    fn anonymous_reads_only_when_allowed() {
        use Decision::*;
        let repo = Target::Repository("pypi");
        assert_eq!(authorize(None, Anonymous::Read, repo, Action::Read), Allow);
        assert_eq!(
            authorize(None, Anonymous::Read, Target::Operator, Action::Read),
            Allow
        );
        assert_eq!(
            authorize(None, Anonymous::Read, repo, Action::Write),
            Unauthenticated
        );
        assert_eq!(
            authorize(None, Anonymous::None, repo, Action::Read),
            Unauthenticated
        );
        assert_eq!(
            authorize(None, Anonymous::None, Target::Operator, Action::Read),
            Unauthenticated
        );
    }

    #[test]
    fn roles_are_ordered_and_grants_apply_per_repository() {
        use Decision::*;
        let none = Anonymous::None;
        let reader = user(Role::Read, &[("pypi", Role::Write)]);
        let writer = user(Role::Write, &[]);
        let admin = user(Role::Admin, &[]);
        let (pypi, npm) = (Target::Repository("pypi"), Target::Repository("npm"));
        assert_eq!(authorize(Some(&reader), none, npm, Action::Read), Allow);
        assert_eq!(
            authorize(Some(&reader), none, npm, Action::Write),
            Forbidden
        );
        assert_eq!(authorize(Some(&reader), none, pypi, Action::Write), Allow);
        assert_eq!(
            authorize(Some(&reader), none, Target::Operator, Action::Read),
            Forbidden
        );
        assert_eq!(authorize(Some(&writer), none, npm, Action::Write), Allow);
        assert_eq!(
            authorize(Some(&writer), none, Target::Operator, Action::Read),
            Forbidden
        );
        assert_eq!(
            authorize(Some(&admin), none, Target::Operator, Action::Read),
            Allow
        );
        assert_eq!(authorize(Some(&admin), none, npm, Action::Write), Allow);
        // The console: any user reads it, only admins change anything through it.
        let console = Target::Console;
        assert_eq!(authorize(Some(&reader), none, console, Action::Read), Allow);
        assert_eq!(
            authorize(Some(&writer), none, console, Action::Write),
            Forbidden
        );
        assert_eq!(authorize(Some(&admin), none, console, Action::Write), Allow);
        assert_eq!(
            authorize(None, Anonymous::Read, console, Action::Write),
            Unauthenticated
        );
        // A repository grant does not reach the operator endpoints.
        let repo_admin = user(Role::Read, &[("npm", Role::Admin)]);
        assert_eq!(
            authorize(Some(&repo_admin), none, Target::Operator, Action::Read),
            Forbidden
        );
    }
}
