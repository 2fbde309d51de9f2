//! Rust bindings for the pipes of a lowered world (`stream<T>` / `future<T>` ends).
//!
//! wit-bindgen is told (with per-type `with` remappings) that each pipe interface's `reader` and
//! `writer` resources are types named by a placeholder path. After it has run, the placeholder
//! paths are rewritten to type aliases of `isyswasfa_guest::{StreamReader, …}<T>` that this
//! module generates in the raw ops module, next to each payload's vtable (built from
//! wit-bindgen's functions of the pipe and ops interfaces). The payload type `T` is read off the
//! signature of the generated read operation, so it is spelled exactly as wit-bindgen spells it.

use anyhow::{Context, Result, bail};
use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use syn::visit_mut::VisitMut;
use wit_bindgen_core::wit_parser::{TypeOwner, WorldItem, WorldKey};

use crate::lower::Lowered;
use crate::pipes::{Pipe, PipeKind};

/// The first segment of the placeholder paths wit-bindgen prints for pipe ends.
pub(crate) const PLACEHOLDER: &str = "__isyswasfa_pipe__";

/// The Rust name stem of a pipe, e.g. `StreamU32`.
fn camel(pipe: &Pipe) -> String {
    pipe.name.to_upper_camel_case()
}

/// `with` remappings for wit-bindgen: each pipe end → a placeholder path; each generated
/// interface → generate.
pub(crate) fn with_options(lowered: &Lowered) -> Vec<(String, wit_bindgen_rust::WithOption)> {
    let mut with = Vec::new();
    for pipe in &lowered.pipes.pipes {
        let camel = camel(pipe);
        for end in ["reader", "writer"] {
            with.push((
                format!("{}/{end}", pipe.interface),
                wit_bindgen_rust::WithOption::Path(format!(
                    "{PLACEHOLDER}::{camel}{}",
                    end.to_upper_camel_case()
                )),
            ));
        }
        with.push((
            pipe.interface.clone(),
            wit_bindgen_rust::WithOption::Generate,
        ));
    }
    if let Some(ops) = &lowered.pipes.ops {
        with.push((ops.clone(), wit_bindgen_rust::WithOption::Generate));
        for (index, copy) in lowered.pipes.copies.iter().enumerate() {
            with.push((
                format!("{ops}/{}", copy.name),
                wit_bindgen_rust::WithOption::Path(format!(
                    "{PLACEHOLDER}::{EXPORT_TYPE}::T{index}"
                )),
            ));
        }
    }
    with
}

/// The second segment of the placeholder paths that stand for exported types (the copies of
/// the ops interface map onto them).
const EXPORT_TYPE: &str = "__export_type__";

/// The Rust name wit-bindgen gives a WIT type named `name`.
fn rust_type_name(name: &str) -> String {
    match name {
        "guest" => "Guest_".to_string(),
        name => name.to_upper_camel_case(),
    }
}

/// The raw module path (from the raw root) of each copied exported type, in copy order.
fn export_type_paths(lowered: &Lowered) -> Result<Vec<Vec<String>>> {
    let resolve = &lowered.resolve;
    let world = &resolve.worlds[lowered.world];
    lowered
        .pipes
        .copies
        .iter()
        .map(|copy| {
            let def = &resolve.types[copy.original];
            let TypeOwner::Interface(owner) = def.owner else {
                bail!("a copied payload type is not defined in an interface");
            };
            let key = world
                .exports
                .iter()
                .find_map(|(key, item)| match item {
                    WorldItem::Interface { id, .. } if *id == owner => Some(key),
                    _ => None,
                })
                .context("a copied payload type's interface is not exported")?;
            let mut path = crate::rust::module_path(resolve, key, true);
            path.push(rust_type_name(def.name.as_deref().unwrap_or_default()));
            Ok(path)
        })
        .collect()
}

/// The raw module path (from the raw root) of the imported interface named `name`.
fn interface_module(lowered: &Lowered, name: &str) -> Result<Vec<String>> {
    let world = &lowered.resolve.worlds[lowered.world];
    for (key, item) in &world.imports {
        if let (WorldKey::Interface(id), WorldItem::Interface { .. }) = (key, item)
            && lowered.resolve.id_of(*id).as_deref() == Some(name)
        {
            return Ok(crate::rust::module_path(&lowered.resolve, key, false));
        }
    }
    bail!("the lowered world does not import `{name}`")
}

fn path_tokens(segments: &[String]) -> TokenStream {
    let idents = segments.iter().map(|s| Ident::new(s, Span::call_site()));
    quote!(#(#idents)::*)
}

fn supers(depth: usize) -> TokenStream {
    match depth {
        0 => quote!(self),
        n => {
            let supers = (0..n).map(|_| quote!(super));
            quote!(#(#supers)::*)
        }
    }
}

/// Rewrites placeholder paths in wit-bindgen's output and adds each pipe's Rust items to the
/// raw ops module.
pub(crate) fn finish_raw(
    lowered: &Lowered,
    file: &mut syn::File,
    runtime: &syn::Path,
) -> Result<()> {
    let Some(ops) = &lowered.pipes.ops else {
        return Ok(());
    };
    let ops_path = interface_module(lowered, ops)?;
    let mut rewriter = Rewriter {
        ops_path: ops_path.clone(),
        export_types: export_type_paths(lowered)?,
        depth: 0,
    };
    rewriter.visit_file_mut(file);

    let ops_items = find_module_mut(&mut file.items, &ops_path)
        .context("no ops module in wit-bindgen's output")?;
    let to_raw_root = supers(ops_path.len());
    let to_bindings_root = quote!(#to_raw_root::super);
    let mut added = Vec::new();
    for pipe in &lowered.pipes.pipes {
        let tokens = pipe_items(
            lowered,
            pipe,
            ops_items,
            &to_raw_root,
            &to_bindings_root,
            runtime,
        )
        .with_context(|| format!("generating the Rust ends of `{}`", pipe.name))?;
        added.push(syn::parse2::<syn::File>(tokens).context("generated pipe items")?);
    }
    for file in added {
        ops_items.extend(file.items);
    }
    Ok(())
}

fn find_module_mut<'a>(
    items: &'a mut Vec<syn::Item>,
    path: &[String],
) -> Option<&'a mut Vec<syn::Item>> {
    let Some((first, rest)) = path.split_first() else {
        return Some(items);
    };
    items.iter_mut().find_map(|item| match item {
        syn::Item::Mod(m) if m.ident == first.as_str() => {
            find_module_mut(&mut m.content.as_mut()?.1, rest)
        }
        _ => None,
    })
}

fn find_fn<'a>(items: &'a [syn::Item], name: &str) -> Option<&'a syn::Signature> {
    items.iter().find_map(|item| match item {
        syn::Item::Fn(f) if f.sig.ident == name => Some(&f.sig),
        _ => None,
    })
}

/// `Option<X>` → `X`, `Vec<X>` → `X` (by the last path segment).
fn generic_arg<'a>(ty: &'a syn::Type, wrapper: &str) -> Option<&'a syn::Type> {
    let syn::Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != wrapper {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(inner) => Some(inner),
        _ => None,
    }
}

fn return_type(sig: &syn::Signature) -> Option<&syn::Type> {
    match &sig.output {
        syn::ReturnType::Type(_, ty) => Some(ty),
        syn::ReturnType::Default => None,
    }
}

/// The aliases, handle constructors, vtable, drop imports and payload trait impl of one pipe,
/// as items of the raw ops module.
fn pipe_items(
    lowered: &Lowered,
    pipe: &Pipe,
    ops_items: &[syn::Item],
    to_raw_root: &TokenStream,
    to_bindings_root: &TokenStream,
    runtime: &syn::Path,
) -> Result<TokenStream> {
    let pipe_module = path_tokens(&interface_module(lowered, &pipe.interface)?);
    let pipe_module = quote!(#to_raw_root::#pipe_module);
    let read_name = pipe.read.to_snake_case();
    let write_name = pipe.write.to_snake_case();
    let read_sig = find_fn(ops_items, &read_name).with_context(|| format!("no `{read_name}`"))?;
    let write_sig =
        find_fn(ops_items, &write_name).with_context(|| format!("no `{write_name}`"))?;
    let read_fn = format_ident!("{read_name}");
    let write_fn = format_ident!("{write_name}");
    let read_out = return_type(read_sig).context("read returns nothing")?;

    let stem = camel(pipe);
    let snake = pipe.name.to_snake_case();
    let shouty = pipe.name.to_shouty_snake_case();
    let reader_alias = format_ident!("{stem}Reader");
    let writer_alias = format_ident!("{stem}Writer");
    let reader_from = format_ident!("{snake}_reader_from_handle");
    let writer_from = format_ident!("{snake}_writer_from_handle");
    let vtable = format_ident!("{shouty}_VTABLE");
    let drop_reader = format_ident!("{snake}_drop_reader");
    let drop_writer = format_ident!("{snake}_drop_writer");
    let import_drop_reader = format_ident!("__isyswasfa_{snake}_drop_reader");
    let import_drop_writer = format_ident!("__isyswasfa_{snake}_drop_writer");
    let read_wrapper = format_ident!("__isyswasfa_{snake}_read");
    let write_wrapper = format_ident!("__isyswasfa_{snake}_write");
    let module = &pipe.interface;

    // The payload type and the typed read/write wrappers the vtable holds.
    let (payload, read_body, write_param, write_body) = if pipe.unit {
        let read_body = match pipe.kind {
            PipeKind::Stream => quote!(#read_fn(end, max).map(|n| ::std::vec![(); n as usize])),
            PipeKind::Future => quote!(#read_fn(end).then_some(())),
        };
        let write_body = match pipe.kind {
            PipeKind::Stream => quote! {
                let offered = u32::try_from(value.remaining()).unwrap_or(u32::MAX);
                let rest = #write_fn(end, offered);
                let written = offered.saturating_sub(rest) as usize;
                value.advance(written);
                written
            },
            PipeKind::Future => {
                quote!({ let () = value; #write_fn(end).then_some(()) })
            }
        };
        (quote!(()), read_body, quote!(value), write_body)
    } else {
        let inner = generic_arg(read_out, "Option").context("read does not return an option")?;
        let payload = match pipe.kind {
            PipeKind::Stream => generic_arg(inner, "Vec").context("read gives no list")?,
            PipeKind::Future => inner,
        };
        let value_param = write_sig
            .inputs
            .iter()
            .nth(1)
            .context("write takes no value")?;
        let syn::FnArg::Typed(typed) = value_param else {
            bail!("unexpected write parameter");
        };
        let read_body = match pipe.kind {
            PipeKind::Stream => quote!(#read_fn(end, max)),
            PipeKind::Future => quote!(#read_fn(end)),
        };
        let write_body = match pipe.kind {
            PipeKind::Stream => stream_write_body(&typed.ty, &write_fn)?,
            PipeKind::Future => {
                let arg = borrowed_arg(&typed.ty, quote!(value))?;
                quote!(#write_fn(end, #arg))
            }
        };
        (quote!(#payload), read_body, quote!(value), write_body)
    };

    let (end_types, vtable_type, trait_path) = match pipe.kind {
        PipeKind::Stream => (
            (
                quote!(#runtime::StreamReader),
                quote!(#runtime::StreamWriter),
            ),
            quote!(#runtime::rt::StreamVtable),
            quote!(#to_bindings_root::wit_stream::StreamPayload),
        ),
        PipeKind::Future => (
            (
                quote!(#runtime::FutureReader),
                quote!(#runtime::FutureWriter),
            ),
            quote!(#runtime::rt::FutureVtable),
            quote!(#to_bindings_root::wit_future::FuturePayload),
        ),
    };
    let (reader_type, writer_type) = end_types;
    let ops_fns = match pipe.kind {
        PipeKind::Stream => quote! {
            fn #read_wrapper(end: &#reader_alias, max: u32) -> ::core::option::Option<::std::vec::Vec<#payload>> {
                #read_body
            }
            fn #write_wrapper(end: &#writer_alias, #write_param: &mut #runtime::AbiBuffer<#payload>) -> usize {
                #write_body
            }
        },
        PipeKind::Future => quote! {
            fn #read_wrapper(end: #reader_alias) -> ::core::option::Option<#payload> {
                #read_body
            }
            fn #write_wrapper(end: #writer_alias, #write_param: #payload) -> ::core::option::Option<#payload> {
                #write_body
            }
        },
    };
    let writable = match pipe.kind {
        PipeKind::Stream => quote! {
            start_wait_writable: #pipe_module::wait_writable_isyswasfa_start,
            finish_wait_writable: #pipe_module::wait_writable_isyswasfa_result,
        },
        PipeKind::Future => TokenStream::new(),
    };
    Ok(quote! {
        /// The readable end of this pipe.
        pub type #reader_alias = #reader_type<#payload>;
        /// The writable end of this pipe.
        pub type #writer_alias = #writer_type<#payload>;

        #[doc(hidden)]
        pub fn #reader_from(handle: u32) -> #reader_alias {
            // SAFETY: wit-bindgen lifts an owned reader handle of this pipe interface.
            unsafe { #reader_type::from_handle(handle, &#vtable) }
        }
        #[doc(hidden)]
        pub fn #writer_from(handle: u32) -> #writer_alias {
            // SAFETY: wit-bindgen lifts an owned writer handle of this pipe interface.
            unsafe { #writer_type::from_handle(handle, &#vtable) }
        }

        #ops_fns

        #[cfg(target_arch = "wasm32")]
        #[link(wasm_import_module = #module)]
        unsafe extern "C" {
            #[link_name = "[resource-drop]reader"]
            fn #import_drop_reader(handle: i32);
            #[link_name = "[resource-drop]writer"]
            fn #import_drop_writer(handle: i32);
        }
        unsafe fn #drop_reader(handle: u32) {
            #[cfg(target_arch = "wasm32")]
            // SAFETY: the caller owns `handle`.
            unsafe { #import_drop_reader(handle as i32) }
            #[cfg(not(target_arch = "wasm32"))]
            { let _ = handle; unreachable!("isyswasfa pipes exist only on wasm32") }
        }
        unsafe fn #drop_writer(handle: u32) {
            #[cfg(target_arch = "wasm32")]
            // SAFETY: the caller owns `handle`.
            unsafe { #import_drop_writer(handle as i32) }
            #[cfg(not(target_arch = "wasm32"))]
            { let _ = handle; unreachable!("isyswasfa pipes exist only on wasm32") }
        }

        static #vtable: #vtable_type<#payload> = #vtable_type {
            new: #pipe_module::new,
            read: #read_wrapper,
            write: #write_wrapper,
            start_wait_readable: #pipe_module::wait_readable_isyswasfa_start,
            finish_wait_readable: #pipe_module::wait_readable_isyswasfa_result,
            #writable
            drop_reader: #drop_reader,
            drop_writer: #drop_writer,
        };

        impl #trait_path for #payload {
            const VTABLE: &'static #vtable_type<Self> = &#vtable;
        }
    })
}

/// The body of a stream's typed write wrapper: writes the unwritten values of the buffer
/// `value` with the ops interface's `write_fn` (whose values parameter has wit-bindgen's type
/// `ty`), marks those the host took written and returns their count. The buffer keeps the
/// guest's vector, so a write gives it back as wit-bindgen does.
fn stream_write_body(ty: &syn::Type, write_fn: &Ident) -> Result<TokenStream> {
    match ty {
        // Values the import lowers from a borrow: copied, so they stay in the buffer.
        syn::Type::Reference(reference) if matches!(&*reference.elem, syn::Type::Slice(_)) => {
            Ok(quote! {
                let values = value.unwritten();
                let offered = values.len();
                let rest = #write_fn(end, values);
                let written = offered.saturating_sub(rest.len());
                value.advance(written);
                written
            })
        }
        // Values the import moves (they own handles): moved out, the rest put back.
        ty if !has_reference(ty) => Ok(quote! {
            let values = value.take_unwritten();
            let offered = values.len();
            let rest = #write_fn(end, values);
            let written = offered.saturating_sub(rest.len());
            value.put_back(rest);
            written
        }),
        other => bail!(
            "isyswasfa cannot pass values of type {} to a stream yet",
            quote!(#other)
        ),
    }
}

fn has_reference(ty: &syn::Type) -> bool {
    quote!(#ty)
        .into_iter()
        .any(|t| matches!(t, proc_macro2::TokenTree::Punct(p) if p.as_char() == '&'))
}

/// The argument for a parameter of wit-bindgen's (possibly borrowing) type `ty`, made from the
/// owned local `value`.
fn borrowed_arg(ty: &syn::Type, value: TokenStream) -> Result<TokenStream> {
    if !has_reference(ty) {
        return Ok(value);
    }
    borrow_from(ty, quote!(&#value))
}

/// An expression of type `ty` borrowing from `r`, a reference to the owned form of `ty`.
fn borrow_from(ty: &syn::Type, r: TokenStream) -> Result<TokenStream> {
    if !has_reference(ty) {
        return Ok(quote!(::core::clone::Clone::clone(#r)));
    }
    match ty {
        syn::Type::Reference(reference) => Ok(match &*reference.elem {
            syn::Type::Path(p) if p.path.is_ident("str") => quote!((#r).as_str()),
            syn::Type::Slice(_) => quote!((#r).as_slice()),
            _ => r,
        }),
        syn::Type::Tuple(tuple) => {
            let parts = tuple
                .elems
                .iter()
                .enumerate()
                .map(|(i, elem)| {
                    let index = syn::Index::from(i);
                    borrow_from(elem, quote!(&(#r).#index))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(quote!((#(#parts,)*)))
        }
        syn::Type::Path(_) => {
            if let Some(inner) = generic_arg(ty, "Option") {
                let x = borrow_from(inner, quote!(x))?;
                return Ok(quote!((#r).as_ref().map(|x| #x)));
            }
            let syn::Type::Path(p) = ty else {
                unreachable!()
            };
            let last = p.path.segments.last().context("empty type path")?;
            if last.ident == "Result"
                && let syn::PathArguments::AngleBracketed(args) = &last.arguments
                && let (Some(syn::GenericArgument::Type(ok)), Some(syn::GenericArgument::Type(err))) =
                    (args.args.first(), args.args.get(1))
            {
                let ok = borrow_from(ok, quote!(x))?;
                let err = borrow_from(err, quote!(e))?;
                return Ok(quote!(match #r {
                    ::core::result::Result::Ok(x) => ::core::result::Result::Ok(#ok),
                    ::core::result::Result::Err(e) => ::core::result::Result::Err(#err),
                }));
            }
            bail!(
                "isyswasfa cannot pass a value of type {} to a pipe yet",
                quote!(#ty)
            )
        }
        other => bail!(
            "isyswasfa cannot pass a value of type {} to a pipe yet",
            quote!(#other)
        ),
    }
}

/// The `wit_stream` and `wit_future` modules of the bindings root.
pub(crate) fn payload_modules(runtime: &syn::Path) -> TokenStream {
    quote! {
        /// Creating streams: `wit_stream::new::<T>()`.
        #[allow(dead_code)]
        pub mod wit_stream {
            /// A type this world carries in a `stream<T>`.
            pub trait StreamPayload: Sized + 'static {
                #[doc(hidden)]
                const VTABLE: &'static #runtime::rt::StreamVtable<Self>;
            }
            /// A new stream: its writable and readable ends.
            pub fn new<T: StreamPayload>() -> (#runtime::StreamWriter<T>, #runtime::StreamReader<T>) {
                #runtime::rt::new_stream(T::VTABLE)
            }
        }
        /// Creating futures: `wit_future::new::<T>(default)`.
        #[allow(dead_code)]
        pub mod wit_future {
            /// A type this world carries in a `future<T>`.
            pub trait FuturePayload: Sized + 'static {
                #[doc(hidden)]
                const VTABLE: &'static #runtime::rt::FutureVtable<Self>;
            }
            /// A new future: its writable and readable ends. A writer dropped without writing
            /// sends `default()`.
            pub fn new<T: FuturePayload>(default: fn() -> T) -> (#runtime::FutureWriter<T>, #runtime::FutureReader<T>) {
                #runtime::rt::new_future(T::VTABLE, default)
            }
        }
    }
}

/// Rewrites the placeholder paths: `P::XReader::from_handle(h)` becomes a call of the generated
/// constructor, `P::XReader` the alias, both reached from the current module.
struct Rewriter {
    ops_path: Vec<String>,
    /// Paths from the raw root of the exported types the copies map onto.
    export_types: Vec<Vec<String>>,
    depth: usize,
}

impl Rewriter {
    fn target(&self, item: &str) -> syn::Path {
        let up = supers(self.depth);
        let ops = path_tokens(&self.ops_path);
        let item = Ident::new(item, Span::call_site());
        syn::parse_quote!(#up::#ops::#item)
    }
}

fn is_placeholder(path: &syn::Path) -> bool {
    path.segments
        .first()
        .is_some_and(|s| s.ident == PLACEHOLDER)
}

impl VisitMut for Rewriter {
    fn visit_item_mod_mut(&mut self, module: &mut syn::ItemMod) {
        self.depth += 1;
        syn::visit_mut::visit_item_mod_mut(self, module);
        self.depth -= 1;
    }

    fn visit_expr_call_mut(&mut self, call: &mut syn::ExprCall) {
        if let syn::Expr::Path(func) = &mut *call.func
            && is_placeholder(&func.path)
            && func.path.segments.len() == 3
            && func.path.segments[2].ident == "from_handle"
        {
            let alias = func.path.segments[1].ident.to_string();
            func.path = self.target(&format!("{}_from_handle", alias.to_snake_case()));
        }
        syn::visit_mut::visit_expr_call_mut(self, call);
    }

    fn visit_path_mut(&mut self, path: &mut syn::Path) {
        if is_placeholder(path)
            && path.segments.len() == 3
            && path.segments[1].ident == EXPORT_TYPE
            && let Some(target) = path.segments[2]
                .ident
                .to_string()
                .strip_prefix('T')
                .and_then(|i| i.parse::<usize>().ok())
                .and_then(|i| self.export_types.get(i))
        {
            let up = supers(self.depth);
            let target = path_tokens(target);
            *path = syn::parse_quote!(#up::#target);
            return;
        }
        if is_placeholder(path) {
            let rest: Vec<syn::PathSegment> = path.segments.iter().skip(1).cloned().collect();
            let mut target = self.target(&rest[0].ident.to_string());
            target.segments.extend(rest.into_iter().skip(1));
            *path = target;
            return;
        }
        syn::visit_mut::visit_path_mut(self, path);
    }
}
