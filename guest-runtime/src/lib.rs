//! Write WebAssembly components with `async fn`s today, on WASI 0.2 hosts.
//!
//! `isyswasfa-guest` is the guest half of isyswasfa. Its [`generate!`] macro reads WIT written
//! with WASI 0.3's `async func` and generates bindings with the same names and signatures that
//! `wit_bindgen::generate!` gives a native async guest, while the component it builds is a plain
//! WASI 0.2 component: every async function is lowered to a start/result pair, and the component
//! exports a poll function through which an isyswasfa host drives its tasks.
//!
//! ```ignore
//! isyswasfa_guest::generate!({ path: "wit", world: "round-trip" });
//!
//! struct Component;
//!
//! impl exports::component::test::baz::Guest for Component {
//!     async fn foo(s: String) -> String {
//!         wasi::clocks::monotonic_clock::wait_for(10_000_000).await;
//!         let inner = component::test::baz::foo(format!("{s} - entered guest")).await;
//!         format!("{inner} - exited guest")
//!     }
//! }
//!
//! export!(Component);
//! ```
//!
//! Build it with `cargo build --target wasm32-wasip2` (crate type `cdylib`) and run it with
//! `isyswasfa-host` or the `isyswasfa` CLI.
//!
//! Besides the generated bindings, a guest uses [`spawn_local`] to start tasks that outlive the
//! call that started them, [`block_on`] to await async imports from a synchronous export, and
//! [`yield_async`] to let its other tasks run.
//!
//! # Async methods of exported resources
//!
//! A caller lends a resource to an async method (`&self`) only for the call's start half; it
//! may drop its handle while the method is still running. The component model does not let a
//! resource lent to a running call be destroyed, and this runtime keeps that rule by deferring
//! the drop: the resource's value (and its `Drop`) goes when the last async method running on it
//! finishes, so a method never reads freed memory. Until then the handle is gone for the caller
//! and the value is reachable only by the running methods. (`into_inner` or `get_mut` on the
//! owned handle of a resource whose async method runs, from the component's own code, still
//! takes or changes the value under the method; the method then traps rather than read a taken
//! value.)
//!
//! # Fairness
//!
//! The executor returns to the host after [`MAX_POLLS_PER_RUN`] task polls when tasks keep
//! waking themselves, and asks the host to run it again (`poller.run-again`), so that a
//! `loop { yield_async().await }` does not keep the host from the component's other calls and
//! its siblings. A synchronous export waiting in [`block_on`] cannot return early: it keeps
//! running its tasks (the host's CPU deadline stops one that never waits).

#![warn(missing_docs)]

#[cfg(not(feature = "native"))]
mod executor;
#[cfg(not(feature = "native"))]
mod lent;
#[cfg(not(feature = "native"))]
mod pipes;
#[cfg(not(feature = "native"))]
pub mod pollables;
#[cfg(not(feature = "native"))]
mod tasks;

/// Generates bindings for a WIT world that uses `async func`; see the crate docs.
///
/// The options are `wit_bindgen::generate!`'s: `path` (a string or a list), `inline`, `world`,
/// `generate_all`, `with` (an interface → `generate` or the path of bindings generated
/// elsewhere), `additional_derives`, `additional_derives_ignore`, `default_bindings_module`,
/// `export_macro_name`, `pub_export_macro`, `features`, `skip`, `std_feature`,
/// `generate_unused_types`, `type_section_suffix`, `disable_run_ctors_once_workaround`,
/// `debug`; plus `poll_suffix`, which names this component's poll export
/// (`isyswasfa-poll-<suffix>`, by default derived from the crate name).
///
/// Every path in the generated code goes through the name this crate has in the guest's
/// `Cargo.toml`, so `wit-bindgen = { package = "isyswasfa-guest", … }` makes
/// `wit_bindgen::generate!` this macro. With the `native` feature it generates wit-bindgen's
/// own native WASI 0.3 bindings instead.
#[cfg(not(feature = "native"))]
#[macro_export]
macro_rules! generate {
    ($($input:tt)*) => {
        $crate::rt::isyswasfa_macro::generate!(@runtime $crate @polyfill $($input)*);
    };
}

/// Generates native WASI 0.3 bindings with wit-bindgen's generator (the `native` feature);
/// see the crate docs.
#[cfg(feature = "native")]
#[macro_export]
macro_rules! generate {
    ($($input:tt)*) => {
        $crate::rt::isyswasfa_macro::generate!(@runtime $crate @native $($input)*);
    };
}

#[cfg(not(feature = "native"))]
pub use executor::{MAX_POLLS_PER_RUN, live_tasks, spawn_local, yield_async};
#[cfg(not(feature = "native"))]
pub use pipes::{
    AbiBuffer, FutureRead, FutureReader, FutureWrite, FutureWriteError, FutureWriter, StreamRead,
    StreamReader, StreamResult, StreamWrite, StreamWriter,
};
#[cfg(not(feature = "native"))]
pub use pollables::wait as wait_pollable;
#[cfg(not(feature = "native"))]
pub use tasks::{BlockError, block_on, table_sizes, try_block_on};

/// With the `native` feature, the runtime items are wit-bindgen's own.
#[cfg(feature = "native")]
pub use wit_bindgen::*;

/// Bindings of the isyswasfa protocol interface, shared by every component's generated code.
#[cfg(not(feature = "native"))]
mod protocol {
    wit_bindgen::generate!({
        inline: "
            package isyswasfa:guest-runtime;
            world runtime {
                import isyswasfa:isyswasfa/isyswasfa@0.1.0;
                import isyswasfa:isyswasfa/pollables@0.1.0;
            }
        ",
        path: "wit",
        generate_all,
    });
    pub use self::isyswasfa::isyswasfa::isyswasfa::*;
    pub use self::isyswasfa::isyswasfa::pollables;
    pub use self::wasi::io::poll as wasi_io_poll;
}

/// Support for generated code; not a stable API.
#[doc(hidden)]
pub mod rt {
    #[cfg(not(feature = "native"))]
    pub use crate::pipes::{FutureVtable, StreamVtable, new_future, new_stream};
    #[cfg(not(feature = "native"))]
    pub use crate::pollables::wait_handle as wait_pollable_handle;
    /// Exported resources lent to running async methods (see the crate docs).
    #[cfg(not(feature = "native"))]
    pub mod lent {
        pub use crate::lent::{Lent, from_raw, into_raw, lend};
    }
    #[cfg(not(feature = "native"))]
    pub use crate::tasks::{ReadyFuture, await_ready, poll, start_export, take_export_result};
    pub use isyswasfa_macro;
    pub use wit_bindgen;
    /// The `bitflags` crate, which the code generated for WIT `flags` names; at the same path
    /// as in wit-bindgen 0.61 (`wit_bindgen::rt::bitflags`).
    pub use wit_bindgen::rt::bitflags;

    /// The protocol interface, for the generated code's `with` mapping.
    #[cfg(not(feature = "native"))]
    pub mod protocol {
        pub use crate::protocol::isyswasfa::isyswasfa::isyswasfa::*;
    }
}

#[cfg(test)]
mod tests {
    /// `wit/` is a copy of the protocol crate's WIT (so that this crate packages on its own):
    /// the copy must not drift.
    #[test]
    fn protocol_wit_is_the_protocol_crates() {
        use isyswasfa_protocol::wit;
        assert_eq!(include_str!("../wit/isyswasfa.wit"), wit::ISYSWASFA);
        assert_eq!(include_str!("../wit/pollables.wit"), wit::POLLABLES);
        assert_eq!(include_str!("../wit/deps/io/poll.wit"), wit::WASI_IO_POLL);
    }
}
