//! Groups: one URL over several member repositories, their indexes merged in order.

pub mod cargo;
pub mod conda;
pub mod npm;
