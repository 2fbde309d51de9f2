//! The event loop of one store, and the [`Host`] handle embedders use to call into it.
//!
//! The loop owns the store. It delivers queued events to the poll exports of the (possibly
//! composed) instance, runs the embedder's calls, and otherwise sleeps in a single wait for the
//! next thing to happen: a command from a [`Host`] handle or a host future becoming ready (timers
//! are host futures). It never polls anything that has not been woken.

mod command;
mod dynamic;
mod event_loop;
mod exports;
pub(crate) mod handle;
mod shared;
mod streams;
mod typed;

pub use dynamic::DynamicFunc;
pub use handle::Host;
pub(crate) use handle::WeakHost;
pub use typed::{AsyncFunc, SyncFunc};
