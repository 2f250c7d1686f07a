mod configure;

mod serve;
mod warm_maven;
mod warm_npm;
mod warm_support;
