//! Reloads the config file when it changes (`notify`, debounced) and on SIGHUP.
