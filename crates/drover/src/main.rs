//! The `drover` binary.

mod agent;

fn main() {}
