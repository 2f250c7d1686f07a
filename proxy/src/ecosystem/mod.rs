//! One module per protocol. Each turns requests below its repository prefix into
//! [`crate::repository::Resource`]s (choosing cache keys, mutability and verification) and
//! leaves the upstream strategy to [`crate::repository::Repository`].

pub mod cargo;
pub mod conda;
pub mod maven;
pub(crate) mod maven_metadata;
pub mod npm;
pub mod pypi;
