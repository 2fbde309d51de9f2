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

mod executor;
mod pipes;
pub mod pollables;
mod tasks;

/// Generates bindings for a WIT world that uses `async func`; see the crate docs.
///
/// Options mirror `wit_bindgen::generate!`: `path`, `inline`, `world`, `generate_all`, `with`,
/// `additional_derives`; plus `poll_suffix`, which names this component's poll export
/// (`isyswasfa-poll-<suffix>`, by default derived from the crate name).
pub use isyswasfa_macro::generate;

pub use executor::{live_tasks, spawn_local, yield_async};
pub use pipes::{
    FutureRead, FutureReader, FutureWrite, FutureWriteError, FutureWriter, StreamRead,
    StreamReader, StreamResult, StreamWrite, StreamWriter,
};
pub use pollables::wait as wait_pollable;
pub use tasks::{BlockError, block_on, table_sizes, try_block_on};

/// Bindings of the isyswasfa protocol interface, shared by every component's generated code.
mod protocol {
    wit_bindgen::generate!({
        inline: "
            package isyswasfa:guest-runtime;
            world runtime {
                import isyswasfa:isyswasfa/isyswasfa@0.1.0;
                import isyswasfa:isyswasfa/pollables@0.1.0;
            }
        ",
        path: "../wit/isyswasfa",
        generate_all,
    });
    pub use self::isyswasfa::isyswasfa::isyswasfa::*;
    pub use self::isyswasfa::isyswasfa::pollables;
    pub use self::wasi::io::poll as wasi_io_poll;
}

/// Support for generated code; not a stable API.
#[doc(hidden)]
pub mod rt {
    pub use crate::pipes::{FutureVtable, StreamVtable, new_future, new_stream};
    pub use crate::pollables::wait_handle as wait_pollable_handle;
    pub use crate::tasks::{ReadyFuture, await_ready, poll, start_export, take_export_result};
    pub use wit_bindgen;

    /// The protocol interface, for the generated code's `with` mapping.
    pub mod protocol {
        pub use crate::protocol::isyswasfa::isyswasfa::isyswasfa::*;
    }
}
