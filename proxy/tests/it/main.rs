//! Integration tests of the proxy against real HTTP upstreams on 127.0.0.1.

mod auth;
mod cache_size;
mod cargo;
#[path = "../../../tests/cli/clients_support.rs"]
mod clients_support;
mod conda;
mod conda_support;
mod fault_upstream;
mod faults;
mod hosted_cargo;
mod hosted_conda;
mod hosted_maven;
mod hosted_npm;
mod hosted_pypi;
mod hosted_support;
mod hostile;
mod maven;
mod npm;
mod npm_support;
mod pypi;
mod resilience;
mod s3;
mod strategy;
mod support;
