//! `generate!`'s options as wit-bindgen guests use them: a `path` list, `inline`, `world`,
//! `with` mapping an interface onto another `generate!`'s module, `generate_all`,
//! `pub_export_macro`, `export_macro_name`, `default_bindings_module`, `additional_derives`.

/// The shared interface's bindings, generated once.
mod shared {
    wit_bindgen::generate!({
        inline: "
            package component:options-shared;
            world shared { import component:shared/types; }
        ",
        path: "wit/shared",
        generate_all,
        additional_derives: [PartialEq, Eq],
    });
}

/// The world's bindings, reusing `shared`'s for `component:shared/types`.
mod bindings {
    wit_bindgen::generate!({
        path: ["wit/shared", "wit/main"],
        world: "options",
        with: { "component:shared/types": crate::shared::component::shared::types },
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export_options",
        default_bindings_module: "crate::bindings",
    });
}

use bindings::exports::component::options::api::Guest;
use shared::component::shared::types::{Pair, swap};

struct Component;

impl Guest for Component {
    async fn digits(p: Pair) -> u32 {
        let swapped = swap(p).await;
        // `PartialEq` comes from `additional_derives`.
        if swapped == p {
            return 0;
        }
        swapped.a * 10 + swapped.b
    }
}

bindings::export_options!(Component);
