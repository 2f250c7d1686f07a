//! Hosted repositories: packages uploaded to repox itself, one module per ecosystem.

pub mod cargo;
pub mod conda;
pub mod npm;
