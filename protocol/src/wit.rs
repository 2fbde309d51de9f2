//! The protocol's WIT, as text: what bindgen adds to every lowered world and what guests that
//! speak the protocol by hand generate bindings from. The files are in this crate's `wit/`.

/// `isyswasfa:isyswasfa` (`isyswasfa.wit`): the `pending`, `ready` and `poller` resources and
/// the poll export's input.
pub const ISYSWASFA: &str = include_str!("../wit/isyswasfa.wit");
/// `isyswasfa:isyswasfa/pollables` (`pollables.wit`): awaiting WASI 0.2 pollables.
pub const POLLABLES: &str = include_str!("../wit/pollables.wit");
/// `wasi:io/poll@0.2` (`deps/io/poll.wit`), which `pollables.wit` uses.
pub const WASI_IO_POLL: &str = include_str!("../wit/deps/io/poll.wit");
