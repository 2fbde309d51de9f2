//! A polyfilled guest that also calls an import with the native async ABI: `slow.wait`, bound
//! by wit-bindgen 0.61's own `generate!` (as a dependency built with wit-bindgen would be). Its
//! core module imports `[async-lower]wait`, which an isyswasfa host cannot serve.

wit_bindgen::generate!({ path: "wit", world: "polyfilled" });

mod native {
    native_bindings::generate!({
        inline: "
            package component:native-abi;
            interface slow {
                wait: async func();
            }
            world native {
                import slow;
            }
        ",
        runtime_path: "native_bindings::rt",
    });
}

struct Component;

impl exports::component::native_import::api::Guest for Component {
    async fn call(x: u32) -> u32 {
        native::component::native_abi::slow::wait().await;
        x
    }
}

export!(Component);
