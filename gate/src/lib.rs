//! gate

pub mod merge;
pub mod planner;
