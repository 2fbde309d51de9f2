//! The subcommands of `isyswasfa`, one module each.

pub mod build_py;
pub mod bundle;
pub mod compose;
pub mod run;
pub mod serve;
pub mod wit;
