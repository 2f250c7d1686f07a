//! repox-proxy: the caching proxy server behind `repox`.
//!
//! Requests arrive at [`server`], which routes `/NAME/...` to the repository of that name and its
//! ecosystem module ([`ecosystem`]). The ecosystem decides what a path *is* (cache key,
//! mutability, how to verify it) and hands a [`repository::Resource`] to the shared upstream
//! strategy in [`repository`]: cached files answer at once, first HEADs race every upstream,
//! first GETs race the best priority tier through a single coalesced [`repository::fill`] that
//! streams to every waiting client while it writes the store's miss handle. Only verified,
//! complete bodies are committed to the [`store`] (`Miss::finish`, an atomic rename for the
//! filesystem store); upstream 404s are remembered in the persistent [`negative`] cache.
//!
//! This crate does no terminal I/O; the `repox` binary owns the command line.

#![warn(clippy::print_stdout, clippy::print_stderr, missing_docs)]

pub mod access_log;
pub mod api;
pub mod auth;
pub mod breaker;
pub mod config;
mod disk;
pub mod ecosystem;
mod edge;
pub mod error;
mod fence;
mod flight;
#[cfg(test)]
mod fuzz;
pub mod group;
mod hashing;
pub mod hosted;
pub mod live;
pub mod lock;
pub mod memo;
pub mod metrics;
pub mod negative;
pub mod origin;
mod passthrough;
pub mod path;
pub mod policy;
pub mod repository;
pub mod respond;
pub mod server;
pub mod stats;
pub mod store;
mod tally;
pub mod ui;
pub mod upstream;

pub use server::{App, Server, StartError, shutdown_signal};
