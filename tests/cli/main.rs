mod configure;

mod serve;
