//! tablet
