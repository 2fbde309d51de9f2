//! The subcommands of `isyswasfa`, one module each.

pub mod bundle;
pub mod compose;
pub mod run;
pub mod serve;
pub mod wit;
