//! Integration tests of the proxy against real HTTP upstreams on 127.0.0.1.

mod maven;
mod strategy;
mod support;
