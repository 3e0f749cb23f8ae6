//! linearize
