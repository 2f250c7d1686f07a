//! Integration tests of the proxy against real HTTP upstreams on 127.0.0.1.

mod admin_api;
mod auth;
mod cache_size;
mod cargo;
#[path = "../../../tests/cli/clients_support.rs"]
mod clients_support;
mod conda;
mod conda_support;
mod fault_upstream;
mod faults;
mod hit;
mod hosted_cargo;
mod hosted_conda;
mod hosted_maven;
mod hosted_npm;
mod hosted_pypi;
mod hosted_support;
mod hostile;
mod maven;
mod miss;
mod npm;
mod npm_derived;
mod npm_support;
mod pep658;
mod policy_cargo;
mod policy_conda;
mod policy_maven;
mod policy_npm;
mod policy_pypi;
mod pypi;
mod resilience;
mod s3;
mod settings;
mod strategy;
mod support;
mod zerocopy;
