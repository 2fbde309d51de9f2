//! Makes the guest's own `wasi:io/poll@0.2.x` `pollable` type awaitable.
//!
//! For every WASI 0.2 `wasi:io/poll` interface the world imports and wit-bindgen generated (not
//! one mapped with `with` onto another crate's bindings), the façade gets
//! `impl IntoFuture for Pollable`, which hands the pollable to the host through the runtime's
//! `isyswasfa:isyswasfa/pollables` import: `stream.subscribe().await` waits without blocking
//! the composition.

use proc_macro2::TokenStream;
use quote::quote;
use wit_bindgen_core::wit_parser::WorldItem;

use crate::lower::Lowered;
use crate::rust::{find_module, module_path};

/// The façade items to add, by raw module path.
pub(crate) fn pollable_futures(
    lowered: &Lowered,
    raw: &syn::File,
    runtime: &syn::Path,
) -> Vec<(Vec<String>, TokenStream)> {
    let resolve = &lowered.resolve;
    let world = &resolve.worlds[lowered.world];
    let mut found = Vec::new();
    for (key, item) in &world.imports {
        let WorldItem::Interface { id, .. } = item else {
            continue;
        };
        let interface = &resolve.interfaces[*id];
        let Some(package) = interface.package.map(|p| &resolve.packages[p].name) else {
            continue;
        };
        let is_wasi_02_poll = package.namespace == "wasi"
            && package.name == "io"
            && interface.name.as_deref() == Some("poll")
            && package
                .version
                .as_ref()
                .is_some_and(|v| v.major == 0 && v.minor == 2);
        if !is_wasi_02_poll {
            continue;
        }
        let path = module_path(resolve, key, false);
        let generated = find_module(&raw.items, &path).is_some_and(|items| {
            items
                .iter()
                .any(|item| matches!(item, syn::Item::Struct(s) if s.ident == "Pollable"))
        });
        if !generated {
            continue;
        }
        found.push((
            path,
            quote! {
                impl ::core::future::IntoFuture for Pollable {
                    type Output = ();
                    type IntoFuture = #runtime::pollables::PollableFuture;

                    /// Waits until the pollable is ready, without blocking other tasks or
                    /// components.
                    fn into_future(self) -> Self::IntoFuture {
                        // SAFETY: `take_handle` gives the owned handle up to the runtime.
                        unsafe { #runtime::rt::wait_pollable_handle(self.take_handle()) }
                    }
                }
            },
        ));
    }
    found
}
