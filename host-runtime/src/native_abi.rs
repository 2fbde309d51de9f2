//! Explains why a polyfilled component that imports functions with the native WASI 0.3 async
//! ABI does not link: isyswasfa serves only lowered imports.

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

/// The functions `component` imports whose type is an `async func` (`interface#name`), which
/// its core code calls with the native async ABI (`[async-lower]name`): isyswasfa's bindings
/// lower every async import to a start/result pair of plain functions, so such an import comes
/// from hand-written code or from a dependency built with wit-bindgen's own async support.
pub fn native_async_imports(engine: &Engine, component: &Component) -> Vec<String> {
    let mut found = Vec::new();
    for (name, item) in component.component_type().imports(engine) {
        match item.ty {
            ComponentItem::ComponentFunc(func) if func.async_() => found.push(name.to_string()),
            ComponentItem::ComponentInstance(instance) => {
                for (function, item) in instance.exports(engine) {
                    if let ComponentItem::ComponentFunc(func) = item.ty
                        && func.async_()
                    {
                        found.push(format!("{name}#{function}"));
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// `error` (a failure to link `component`), with the reason spelled out when the component has
/// [`native_async_imports`].
pub(crate) fn explain_link_error(
    error: wasmtime::Error,
    engine: &Engine,
    component: &Component,
) -> wasmtime::Error {
    let imports = native_async_imports(engine, component);
    if imports.is_empty() {
        return error;
    }
    error.context(native_abi_message(&imports))
}

/// Why `imports` (native async imports) cannot be polyfilled, and what to do instead.
pub fn native_abi_message(imports: &[String]) -> String {
    format!(
        "the component imports {} with the native WASI 0.3 async ABI (`[async-lower]…`), which \
         isyswasfa cannot polyfill: it serves async imports lowered to \
         `…-isyswasfa-start`/`…-isyswasfa-result` pairs, as isyswasfa's `generate!` makes them; \
         make these bindings with isyswasfa's `generate!` instead of hand-written \
         `[async-lower]` imports or a crate built with wit-bindgen's async support",
        imports
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
