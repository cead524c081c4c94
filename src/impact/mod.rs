//! Impact maps and `--affected`: which code each test executed
//! ([`record`], from each test's own raw profiles, read by [`profraw`]),
//! kept with the tree it was recorded on ([`tree`], [`map`]); and which
//! tests a change since then can affect ([`select`]).
//!
//! A side module: it takes plain inputs (paths, the LLVM tools' paths,
//! test names) from the stages and imports base modules only.

pub mod map;
pub mod profraw;
pub mod record;
pub mod select;
pub mod tree;

pub use map::{ImpactMap, TestKey};
pub use select::{SelectOptions, Selection};
