//! Rust guest bindings for a lowered world: wit-bindgen's code plus an async façade.
//!
//! wit-bindgen-rust generates the canonical-ABI code for the *lowered* world (start/result pairs,
//! the poll export) into a hidden module. On top of it this module generates the API a guest
//! author sees, with wit-bindgen's native-async names and signatures:
//! - an imported `async func` becomes a `pub async fn` taking owned parameters, which calls the
//!   start half and, when that returns `pending`, awaits the task and calls the result half;
//! - an exported interface with `async func`s gets a `Guest` trait with `async fn`s, and a
//!   blanket implementation of wit-bindgen's lowered trait for every type implementing it;
//! - `export!` exports the user's type through wit-bindgen's export macro, poll export included.
//!
//! The façade mirrors the module tree of wit-bindgen's output: each module re-exports everything
//! of its raw counterpart and adds (or shadows with) the async items.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use heck::ToUpperCamelCase;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote};
use wit_bindgen_core::wit_parser::{
    FunctionKind, Handle, Resolve, Type, TypeDefKind, TypeId, WorldId, WorldItem, WorldKey,
};
use wit_bindgen_core::{Files, WorldGenerator};
use wit_bindgen_rust::to_rust_ident;

use crate::lower::{Direction, ISYSWASFA_INTERFACE, Lowered, LoweredFunction};

/// Options of the guest generator, mirroring `wit_bindgen::generate!`'s.
#[derive(Debug, Clone)]
pub struct GuestOptions {
    /// Path of the guest runtime crate in generated code.
    pub runtime: String,
    /// Generate bindings for every interface not listed in `with`.
    pub generate_all: bool,
    /// Interfaces whose bindings live elsewhere: WIT name → Rust path (or `generate`).
    pub with: Vec<(String, String)>,
    /// Extra derives on generated types.
    pub additional_derives: Vec<String>,
    /// Where the bindings live relative to `export!`'s call site (default: `self`).
    pub default_bindings_module: Option<String>,
    /// The name of the export macro (default: `export`).
    pub export_macro_name: Option<String>,
    /// Make the export macro `#[macro_export]`, for use by other crates.
    pub pub_export_macro: bool,
    /// wit-bindgen's other options (`skip`, `std_feature`, …), passed on as they are; the
    /// fields above and the runtime paths take precedence.
    pub wit_bindgen: wit_bindgen_rust::Opts,
}

impl Default for GuestOptions {
    fn default() -> Self {
        Self {
            runtime: "::isyswasfa_guest".to_string(),
            generate_all: false,
            with: Vec::new(),
            additional_derives: Vec::new(),
            default_bindings_module: None,
            export_macro_name: None,
            pub_export_macro: false,
            wit_bindgen: wit_bindgen_rust::Opts::default(),
        }
    }
}

impl GuestOptions {
    /// wit-bindgen's options for these, with `runtime`'s paths and the user's `with`.
    fn wit_bindgen_opts(&self) -> wit_bindgen_rust::Opts {
        let mut wit = self.wit_bindgen.clone();
        wit.runtime_path = Some(format!("{}::rt::wit_bindgen::rt", self.runtime));
        // The `bitflags` crate, where wit-bindgen 0.61 has it too (`wit_bindgen::rt::bitflags`).
        wit.bitflags_path = Some(format!("{}::rt::bitflags", self.runtime));
        wit.generate_all = self.generate_all;
        wit.additional_derive_attributes = self.additional_derives.clone();
        for (name, path) in &self.with {
            let option = if path == "generate" {
                wit_bindgen_rust::WithOption::Generate
            } else {
                wit_bindgen_rust::WithOption::Path(path.clone())
            };
            wit.with.push((name.clone(), option));
        }
        wit
    }
}

/// Native WASI 0.3 bindings of `world`: wit-bindgen's own output (async included), with the
/// runtime reached through `opts.runtime`.
pub fn generate_native(
    resolve: &Resolve,
    world: WorldId,
    opts: &GuestOptions,
) -> Result<TokenStream> {
    let mut resolve = resolve.clone();
    let mut wit = opts.wit_bindgen_opts();
    wit.default_bindings_module = opts.default_bindings_module.clone();
    wit.export_macro_name = opts.export_macro_name.clone();
    wit.pub_export_macro = opts.pub_export_macro;
    let mut files = Files::default();
    wit.build().generate(&mut resolve, world, &mut files)?;
    let (_, source) = files
        .iter()
        .next()
        .context("wit-bindgen produced no file")?;
    let source = String::from_utf8_lossy(source);
    source
        .parse()
        .map_err(|e| anyhow::anyhow!("wit-bindgen produced code that does not tokenize: {e}"))
}

const RAW: &str = "__isyswasfa_raw";
const RAW_EXPORT_MACRO: &str = "__isyswasfa_export_raw";

/// Generates the guest bindings of `lowered` as Rust tokens.
pub fn generate(lowered: &Lowered, opts: &GuestOptions) -> Result<TokenStream> {
    let all_mapped = all_interfaces_mapped(lowered, opts);
    let raw = generate_raw(lowered, opts, all_mapped)?;
    let mut file =
        syn::parse_file(&raw).context("wit-bindgen produced code that does not parse")?;
    let runtime: syn::Path = syn::parse_str(&opts.runtime).context("invalid runtime path")?;
    if !all_mapped {
        crate::rust_pipes::finish_raw(lowered, &mut file, &runtime)?;
    }

    let mut facade = Facade::default();
    for function in &lowered.functions {
        add_function(&mut facade, lowered, function, &file, &runtime)
            .with_context(|| format!("generating bindings for `{}`", function.original.name))?;
    }
    add_root_guest(&mut facade, lowered, &file, &runtime)?;
    for (path, item) in crate::rust_pollables::pollable_futures(lowered, &file, &runtime) {
        facade.modules.entry(path).or_default().items.push(item);
    }

    facade.hidden = polyfill_modules(lowered);

    let raw_ident = format_ident!("{RAW}");
    let raw_tokens = quote!(#file);
    // The streams and futures of interfaces mapped with `with` are those of the bindings they
    // are mapped onto, `wit_stream` and `wit_future` included: like wit-bindgen, bindings with
    // nothing of their own define neither (a guest `use`s the other bindings' at the same
    // place).
    let payload_modules = match all_mapped {
        true => TokenStream::new(),
        false => crate::rust_pipes::payload_modules(&runtime),
    };
    let tree = std_paths(mirror(&file.items, &[], &facade, &runtime));
    let bindings_module: syn::Path =
        syn::parse_str(opts.default_bindings_module.as_deref().unwrap_or("self"))
            .context("invalid default_bindings_module")?;
    let raw_export = format_ident!("{}", raw_export_macro(lowered));
    let world = to_rust_ident(&lowered.resolve.worlds[lowered.world].name);
    let facade_macro = format_ident!("__isyswasfa_export_{}_impl", world.trim_start_matches("r#"));
    let export_name =
        syn::parse_str::<Ident>(opts.export_macro_name.as_deref().unwrap_or("export"))
            .context("invalid export_macro_name")?;
    let (macro_export, visibility, raw_visibility) = match opts.pub_export_macro {
        true => (quote!(#[macro_export]), quote!(pub), quote!(pub)),
        // `pub(crate)`: `export!(T with_types_in bindings)` reaches it from outside the module
        // holding the bindings, as wit-bindgen's does.
        false => (TokenStream::new(), quote!(pub(crate)), quote!(pub(crate))),
    };
    Ok(quote! {
        #[doc(hidden)]
        #[allow(dead_code, unused_imports, clippy::all)]
        #raw_visibility mod #raw_ident {
            #raw_tokens
        }
        #tree
        #payload_modules

        /// Exports a type implementing this world's `Guest` traits, and the poll export.
        #[allow(unused_macros)]
        #[doc(hidden)]
        #macro_export
        macro_rules! #facade_macro {
            ($ty:ident) => {
                #bindings_module::#raw_ident::#raw_export!($ty with_types_in #bindings_module::#raw_ident);
            };
            ($ty:ident with_types_in $($path:tt)*) => {
                $($path)*::#raw_ident::#raw_export!($ty with_types_in $($path)*::#raw_ident);
            };
        }
        #[doc(inline)]
        #[allow(unused_imports)]
        #visibility use #facade_macro as #export_name;
    })
}

/// The raw modules of the interfaces only the polyfill uses (the protocol, the pipes, the
/// ops), which the façade keeps out of the docs.
fn polyfill_modules(lowered: &Lowered) -> Vec<Vec<String>> {
    let resolve = &lowered.resolve;
    let world = &resolve.worlds[lowered.world];
    let mut polyfill: Vec<String> = vec![ISYSWASFA_INTERFACE.to_string()];
    polyfill.extend(lowered.pipes.pipes.iter().map(|p| p.interface.clone()));
    polyfill.extend(lowered.pipes.ops.iter().cloned());
    world
        .imports
        .keys()
        .filter(|key| match key {
            WorldKey::Interface(id) => resolve
                .id_of(*id)
                .is_some_and(|name| polyfill.contains(&name)),
            WorldKey::Name(_) => false,
        })
        .map(|key| module_path(resolve, key, false))
        .collect()
}

/// Whether every interface of the user's world is mapped with `with` onto bindings generated
/// elsewhere, and the world has no function of its own (its poll export aside): then these
/// bindings generate none of the world's types, pipes included.
fn all_interfaces_mapped(lowered: &Lowered, opts: &GuestOptions) -> bool {
    let resolve = &lowered.resolve;
    let world = &resolve.worlds[lowered.world];
    let ops = lowered.pipes.ops.as_deref();
    let mapped = |name: &str| {
        opts.with
            .iter()
            .any(|(n, path)| n == name && path != "generate")
    };
    world
        .imports
        .iter()
        .chain(&world.exports)
        .all(|(key, item)| match (key, item) {
            (WorldKey::Interface(id), WorldItem::Interface { .. }) => {
                let Some(name) = resolve.id_of(*id) else {
                    return false;
                };
                // The polyfill's own interfaces (the protocol, the pipes, the ops) follow.
                name.starts_with("isyswasfa:") || Some(name.as_str()) == ops || mapped(&name)
            }
            (WorldKey::Name(name), WorldItem::Function(_)) => *name == lowered.poll_export,
            // The poll export's parameter type (names with this prefix are the polyfill's).
            (WorldKey::Name(name), WorldItem::Type { .. }) => name.starts_with("isyswasfa-"),
            _ => false,
        })
}

/// Runs wit-bindgen-rust over the lowered world. With `all_mapped`, the pipe and ops
/// interfaces are mapped away as well: only the mapped interfaces use them, and those bindings
/// have them.
fn generate_raw(lowered: &Lowered, opts: &GuestOptions, all_mapped: bool) -> Result<String> {
    let mut resolve: Resolve = lowered.resolve.clone();
    let mut wit = opts.wit_bindgen_opts();
    wit.export_macro_name = Some(raw_export_macro(lowered));
    wit.pub_export_macro = opts.pub_export_macro;
    if all_mapped {
        // wit-bindgen names each mapped path in a `use`; no generated code names these.
        let unused = wit_bindgen_rust::WithOption::Path(format!("{}::rt", opts.runtime));
        for pipe in &lowered.pipes.pipes {
            wit.with.push((pipe.interface.clone(), unused.clone()));
        }
        if let Some(ops) = &lowered.pipes.ops {
            wit.with.push((ops.clone(), unused));
        }
    } else {
        wit.with.extend(crate::rust_pipes::with_options(lowered));
    }
    // A payload type of an exported interface that no function names once its streams and
    // futures are lowered (a record used only as `stream<point>`) is still the type the guest
    // writes and the ops copies map onto: wit-bindgen must generate it, as it does natively.
    // It generates only the types functions use unless told otherwise, and cannot be told so
    // per type.
    if !lowered.pipes.copies.is_empty() {
        wit.generate_unused_types = true;
    }
    wit.with.push((
        ISYSWASFA_INTERFACE.to_string(),
        wit_bindgen_rust::WithOption::Path(format!("{}::rt::protocol", opts.runtime)),
    ));
    let mut files = Files::default();
    wit.build()
        .generate(&mut resolve, lowered.world, &mut files)?;
    let (_, source) = files
        .iter()
        .next()
        .context("wit-bindgen produced no file")?;
    Ok(String::from_utf8_lossy(source).into_owned())
}

/// The name of wit-bindgen's export macro for the lowered world (unique per world, because a
/// `pub_export_macro` lives at the crate root).
fn raw_export_macro(lowered: &Lowered) -> String {
    let world = &lowered.resolve.worlds[lowered.world].name;
    format!(
        "{RAW_EXPORT_MACRO}_{}",
        to_rust_ident(world).trim_start_matches("r#")
    )
}

/// Façade items to add, by raw module path (`[]` is the root).
#[derive(Default)]
struct Facade {
    modules: BTreeMap<Vec<String>, ModuleFacade>,
    /// Raw modules the façade leaves out.
    hidden: Vec<Vec<String>>,
}

#[derive(Default)]
struct ModuleFacade {
    /// Items added to the module (async fns, impl blocks, traits).
    items: Vec<TokenStream>,
    /// Exported traits with async functions: raw trait name → its functions.
    traits: BTreeMap<String, Vec<ExportFn>>,
    /// Raw items the façade does not re-export.
    hidden: Vec<String>,
}

/// An exported async function, for the façade trait and the blanket impl.
struct ExportFn {
    name: Ident,
    start: Ident,
    result: Ident,
    receiver: bool,
    params: Vec<syn::FnArg>,
    output: syn::Type,
}

pub(crate) fn module_path(resolve: &Resolve, key: &WorldKey, export: bool) -> Vec<String> {
    let mut path = Vec::new();
    if export {
        path.push("exports".to_string());
    }
    match key {
        WorldKey::Name(name) => path.push(to_rust_ident(name)),
        WorldKey::Interface(id) => {
            let iface = &resolve.interfaces[*id];
            if let Some(pkg) = iface.package {
                path.push(to_rust_ident(&resolve.packages[pkg].name.namespace));
                path.push(wit_bindgen_core::name_package_module(resolve, pkg));
            }
            path.push(to_rust_ident(iface.name.as_deref().unwrap_or("")));
        }
    }
    path
}

pub(crate) fn find_module<'a>(items: &'a [syn::Item], path: &[String]) -> Option<&'a [syn::Item]> {
    let Some((first, rest)) = path.split_first() else {
        return Some(items);
    };
    items.iter().find_map(|item| match item {
        syn::Item::Mod(m) if m.ident == first.as_str() => find_module(&m.content.as_ref()?.1, rest),
        _ => None,
    })
}

fn resource_of(kind: &FunctionKind) -> Option<TypeId> {
    match kind {
        FunctionKind::AsyncMethod(id) | FunctionKind::AsyncStatic(id) => Some(*id),
        _ => None,
    }
}

fn item_name(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(_, item)| item)
}

fn add_function(
    facade: &mut Facade,
    lowered: &Lowered,
    function: &LoweredFunction,
    file: &syn::File,
    runtime: &syn::Path,
) -> Result<()> {
    let resolve = &lowered.resolve;
    let export = matches!(function.direction, Direction::Export);
    let path = match &function.interface {
        Some(key) => module_path(resolve, key, export),
        None => Vec::new(),
    };
    let Some(items) = find_module(&file.items, &path) else {
        // Interfaces mapped with `with` live in another crate, which provides their façade.
        return Ok(());
    };
    let name = format_ident!("{}", to_rust_ident(item_name(&function.original.name)));
    let start = format_ident!("{}", to_rust_ident(item_name(&function.start)));
    let result = format_ident!("{}", to_rust_ident(item_name(&function.result)));
    let resource = resource_of(&function.original.kind).map(|id| {
        resolve.types[id]
            .name
            .clone()
            .unwrap_or_default()
            .to_upper_camel_case()
    });

    if export {
        let trait_name = match &resource {
            Some(resource) => format!("Guest{resource}"),
            None => "Guest".to_string(),
        };
        let signature = find_trait_fn(items, &trait_name, &start)
            .with_context(|| format!("no `{trait_name}::{start}` in wit-bindgen's output"))?;
        let output = ok_type(&signature.output)?;
        let receiver = signature.receiver().is_some();
        let params = signature
            .inputs
            .iter()
            .filter(|a| matches!(a, syn::FnArg::Typed(_)))
            .cloned()
            .collect();
        facade
            .modules
            .entry(path)
            .or_default()
            .traits
            .entry(trait_name)
            .or_default()
            .push(ExportFn {
                name,
                start,
                result,
                receiver,
                params,
                output,
            });
        return Ok(());
    }

    // An import: an async fn (or async method / associated fn of the resource's type).
    let signature = match &resource {
        Some(resource) => find_impl_fn(items, resource, &start),
        None => find_free_fn(items, &start),
    }
    .with_context(|| format!("no `{start}` in wit-bindgen's output"))?;
    let output = ok_type(&signature.output)?;
    let mut params = Vec::new();
    let mut args = Vec::new();
    let mut receiver = None;
    let mut wit_params = function.original.params.iter();
    if matches!(function.original.kind, FunctionKind::AsyncMethod(_)) {
        wit_params.next();
    }
    for input in &signature.inputs {
        match input {
            syn::FnArg::Receiver(r) => receiver = Some(r.clone()),
            syn::FnArg::Typed(typed) => {
                let syn::Pat::Ident(ident) = &*typed.pat else {
                    bail!("unexpected parameter pattern in wit-bindgen's output");
                };
                let ident = &ident.ident;
                let is_borrow = wit_params
                    .next()
                    .is_some_and(|p| is_borrow_handle(resolve, &p.ty));
                let (ty, arg) = if is_borrow {
                    let ty = &typed.ty;
                    (quote!(#ty), quote!(#ident))
                } else {
                    owned_param(&typed.ty, ident)?
                };
                params.push(quote!(#ident: #ty));
                args.push(arg);
            }
        }
    }
    let docs = docs_of(&function.original.docs.contents);
    let call_start = match (&receiver, &resource) {
        (Some(_), _) => quote!(self.#start(#(#args),*)),
        (None, Some(_)) => quote!(Self::#start(#(#args),*)),
        (None, None) => quote!(#start(#(#args),*)),
    };
    let call_result = match &resource {
        Some(_) => quote!(Self::#result),
        None => quote!(#result),
    };
    let receiver = receiver.map(|r| quote!(#r,));
    let body = quote! {
        #docs
        #[allow(clippy::all)]
        pub async fn #name(#receiver #(#params),*) -> #output {
            match #call_start {
                ::core::result::Result::Ok(value) => value,
                ::core::result::Result::Err(pending) => {
                    #call_result(#runtime::rt::await_ready(pending).await)
                }
            }
        }
    };
    let item = match &resource {
        Some(resource) => {
            let resource = format_ident!("{resource}");
            quote!(impl #resource { #body })
        }
        None => body,
    };
    facade.modules.entry(path).or_default().items.push(item);
    Ok(())
}

fn docs_of(docs: &Option<String>) -> TokenStream {
    match docs {
        Some(docs) => {
            let lines = docs.lines();
            quote!(#(#[doc = #lines])*)
        }
        None => TokenStream::new(),
    }
}

fn is_borrow_handle(resolve: &Resolve, ty: &Type) -> bool {
    let Type::Id(mut id) = *ty else { return false };
    loop {
        match &resolve.types[id].kind {
            TypeDefKind::Handle(Handle::Borrow(_)) => return true,
            TypeDefKind::Type(Type::Id(next)) => id = *next,
            _ => return false,
        }
    }
}

/// The owned parameter type wit-bindgen's native async imports take for a borrowed raw
/// parameter, and the expression that borrows it back for the start function.
pub(crate) fn owned_param(ty: &syn::Type, ident: &Ident) -> Result<(TokenStream, TokenStream)> {
    if let syn::Type::Reference(reference) = ty {
        return Ok((owned(&reference.elem)?, quote!(&#ident)));
    }
    if let Some(inner) = option_inner(ty)
        && let syn::Type::Reference(reference) = inner
    {
        let owned = owned(&reference.elem)?;
        let arg = if deref_borrow(&reference.elem) {
            quote!(#ident.as_deref())
        } else {
            quote!(#ident.as_ref())
        };
        return Ok((quote!(::core::option::Option<#owned>), arg));
    }
    if contains_reference(ty) {
        bail!(
            "parameter `{ident}` has a type isyswasfa cannot pass to an async import yet: {}",
            quote!(#ty)
        );
    }
    Ok((quote!(#ty), quote!(#ident)))
}

fn owned(ty: &syn::Type) -> Result<TokenStream> {
    Ok(match ty {
        syn::Type::Path(p) if p.path.is_ident("str") => quote!(::std::string::String),
        syn::Type::Slice(slice) => {
            let elem = &slice.elem;
            quote!(::std::vec::Vec<#elem>)
        }
        other if contains_reference(other) => {
            bail!(
                "unsupported borrowed type in async import: {}",
                quote!(#other)
            )
        }
        other => quote!(#other),
    })
}

fn deref_borrow(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Slice(_)) || matches!(ty, syn::Type::Path(p) if p.path.is_ident("str"))
}

fn option_inner(ty: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Option" {
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

fn contains_reference(ty: &syn::Type) -> bool {
    quote!(#ty)
        .into_iter()
        .any(|t| matches!(t, proc_macro2::TokenTree::Punct(p) if p.as_char() == '&'))
}

/// `Result<T, Pending>` → `T`.
fn ok_type(output: &syn::ReturnType) -> Result<syn::Type> {
    let syn::ReturnType::Type(_, ty) = output else {
        bail!("a start function returns nothing");
    };
    let syn::Type::Path(p) = &**ty else {
        bail!("a start function does not return a result");
    };
    let last = p.path.segments.last().context("empty return type")?;
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        bail!("a start function does not return a result");
    };
    match args.args.first() {
        Some(syn::GenericArgument::Type(ty)) => Ok(ty.clone()),
        _ => bail!("a start function does not return a result"),
    }
}

fn find_free_fn<'a>(items: &'a [syn::Item], name: &Ident) -> Option<&'a syn::Signature> {
    items.iter().find_map(|item| match item {
        syn::Item::Fn(f) if f.sig.ident == *name => Some(&f.sig),
        _ => None,
    })
}

fn find_impl_fn<'a>(items: &'a [syn::Item], ty: &str, name: &Ident) -> Option<&'a syn::Signature> {
    items.iter().find_map(|item| match item {
        syn::Item::Impl(i) if i.trait_.is_none() && is_named(&i.self_ty, ty) => {
            i.items.iter().find_map(|item| match item {
                syn::ImplItem::Fn(f) if f.sig.ident == *name => Some(&f.sig),
                _ => None,
            })
        }
        _ => None,
    })
}

fn find_trait<'a>(items: &'a [syn::Item], name: &str) -> Option<&'a syn::ItemTrait> {
    items.iter().find_map(|item| match item {
        syn::Item::Trait(t) if t.ident == name => Some(t),
        _ => None,
    })
}

fn find_trait_fn<'a>(
    items: &'a [syn::Item],
    trait_name: &str,
    name: &Ident,
) -> Option<&'a syn::Signature> {
    find_trait(items, trait_name)?
        .items
        .iter()
        .find_map(|item| match item {
            syn::TraitItem::Fn(f) if f.sig.ident == *name => Some(&f.sig),
            _ => None,
        })
}

fn is_named(ty: &syn::Type, name: &str) -> bool {
    matches!(ty, syn::Type::Path(p) if p.path.is_ident(name))
}

/// The root `Guest` trait always exists (it holds the poll export); give every type an
/// implementation of it, forwarding the world's other exported functions to the façade trait.
fn add_root_guest(
    facade: &mut Facade,
    lowered: &Lowered,
    file: &syn::File,
    runtime: &syn::Path,
) -> Result<()> {
    let raw_trait = find_trait(&file.items, "Guest")
        .context("no root `Guest` trait in wit-bindgen's output")?;
    let poll = format_ident!("{}", to_rust_ident(&lowered.poll_export));
    let root = facade.modules.entry(Vec::new()).or_default();
    let has_async = root.traits.contains_key("Guest");
    let has_other_sync = raw_trait
        .items
        .iter()
        .any(|item| matches!(item, syn::TraitItem::Fn(f) if f.sig.ident != poll));
    if !has_async && !has_other_sync {
        let raw = format_ident!("{RAW}");
        root.items.push(quote! {
            impl<T_> #raw::Guest for T_ {
                fn #poll(input: ::std::vec::Vec<#runtime::rt::protocol::PollInput>) {
                    #runtime::rt::poll(input)
                }
            }
        });
        // That trait holds only the poll export: the guest never implements it, and its
        // name is the guest's (`use exports::…::Guest`).
        root.hidden.push("Guest".to_string());
    } else {
        root.traits.entry("Guest".to_string()).or_default();
    }
    Ok(())
}

/// Builds the façade module tree mirroring wit-bindgen's `items` at `path`.
///
/// Each façade module re-exports its raw counterpart's public items by name (a glob would make
/// names ambiguous with the macro-expanded façade items), except the child modules, which it
/// mirrors, and the traits it replaces with async versions.
fn mirror(
    items: &[syn::Item],
    path: &[String],
    facade: &Facade,
    runtime: &syn::Path,
) -> TokenStream {
    let raw = format_ident!("{RAW}");
    let module = facade.modules.get(path);
    let replaced = |name: &Ident| {
        module.is_some_and(|m| {
            let name = name.to_string();
            m.traits.contains_key(&name) || m.hidden.contains(&name)
        })
    };
    // Each public name, with the `#[cfg(…)]`s of its item: wit-bindgen defines some items only
    // for some targets (the component type, for `wasm32`), and each is re-exported under the
    // same `cfg`, so the bindings build for any target.
    let mut names: Vec<(Ident, Vec<&syn::Attribute>)> = Vec::new();
    let mut children = TokenStream::new();
    for item in items {
        let cfgs = item_cfgs(item);
        let mut push = |ident: &Ident| names.push((ident.clone(), cfgs.clone()));
        match item {
            syn::Item::Mod(m) if is_pub(&m.vis) => {
                let Some((_, content)) = &m.content else {
                    continue;
                };
                let mut child_path = path.to_vec();
                child_path.push(m.ident.to_string());
                let child = mirror(content, &child_path, facade, runtime);
                let ident = &m.ident;
                let attrs = m.attrs.iter().filter(|a| a.path().is_ident("doc"));
                // The polyfill's own modules stay (the façade's signatures name their types)
                // but out of the docs; their names are reserved by the lowering.
                let hidden = facade
                    .hidden
                    .contains(&child_path)
                    .then(|| quote!(#[doc(hidden)]));
                children.extend(quote! {
                    #(#cfgs)*
                    #(#attrs)*
                    #hidden
                    pub mod #ident { #child }
                });
            }
            syn::Item::Fn(f) if is_pub(&f.vis) => push(&f.sig.ident),
            syn::Item::Struct(i) if is_pub(&i.vis) => push(&i.ident),
            syn::Item::Enum(i) if is_pub(&i.vis) => push(&i.ident),
            syn::Item::Union(i) if is_pub(&i.vis) => push(&i.ident),
            syn::Item::Type(i) if is_pub(&i.vis) => push(&i.ident),
            syn::Item::Const(i) if is_pub(&i.vis) => push(&i.ident),
            syn::Item::Static(i) if is_pub(&i.vis) => push(&i.ident),
            syn::Item::Trait(i) if is_pub(&i.vis) && !replaced(&i.ident) => push(&i.ident),
            syn::Item::Macro(m) => {
                if let Some(name) = bitflags_name(m) {
                    push(&name);
                }
            }
            syn::Item::Use(u) if is_pub(&u.vis) => {
                let mut used = Vec::new();
                use_names(&u.tree, &mut used);
                used.iter().for_each(push);
            }
            _ => {}
        }
    }
    let (plain, gated): (Vec<_>, Vec<_>) = names.into_iter().partition(|(_, c)| c.is_empty());
    let names: Vec<Ident> = plain.into_iter().map(|(name, _)| name).collect();
    let supers: Vec<TokenStream> = (0..path.len()).map(|_| quote!(super::)).collect();
    let raw_path: Vec<Ident> = path
        .iter()
        .map(|p| Ident::new(p, Span::call_site()))
        .collect();
    let mut reexport = match names.is_empty() {
        true => TokenStream::new(),
        false => quote! {
            #[allow(unused_imports)]
            pub use #(#supers)* #raw #(::#raw_path)*::{#(#names),*};
        },
    };
    for (name, cfgs) in gated {
        reexport.extend(quote! {
            #(#cfgs)*
            #[allow(unused_imports)]
            pub use #(#supers)* #raw #(::#raw_path)*::#name;
        });
    }
    let mut added = TokenStream::new();
    if let Some(module) = module {
        added.extend(module.items.iter().cloned());
        for (trait_name, functions) in &module.traits {
            added.extend(facade_trait(items, path, trait_name, functions, runtime));
        }
    }
    quote! {
        #reexport
        #children
        #added
    }
}

/// The type a `bitflags! { … pub struct Name: repr { … } }` invocation defines (wit-bindgen's
/// code for a WIT `flags`), when it is public.
fn bitflags_name(item: &syn::ItemMacro) -> Option<Ident> {
    use proc_macro2::TokenTree;
    if item.mac.path.segments.last()?.ident != "bitflags" {
        return None;
    }
    let tokens: Vec<TokenTree> = item.mac.tokens.clone().into_iter().collect();
    tokens.windows(3).find_map(|window| match window {
        [
            TokenTree::Ident(vis),
            TokenTree::Ident(keyword),
            TokenTree::Ident(name),
        ] if vis == "pub" && keyword == "struct" => Some(name.clone()),
        _ => None,
    })
}

/// The `#[cfg(…)]` attributes of `item`.
fn item_cfgs(item: &syn::Item) -> Vec<&syn::Attribute> {
    let attrs: &[syn::Attribute] = match item {
        syn::Item::Mod(i) => &i.attrs,
        syn::Item::Fn(i) => &i.attrs,
        syn::Item::Struct(i) => &i.attrs,
        syn::Item::Enum(i) => &i.attrs,
        syn::Item::Union(i) => &i.attrs,
        syn::Item::Type(i) => &i.attrs,
        syn::Item::Const(i) => &i.attrs,
        syn::Item::Static(i) => &i.attrs,
        syn::Item::Trait(i) => &i.attrs,
        syn::Item::Use(i) => &i.attrs,
        _ => &[],
    };
    attrs.iter().filter(|a| a.path().is_ident("cfg")).collect()
}

fn is_pub(vis: &syn::Visibility) -> bool {
    matches!(vis, syn::Visibility::Public(_))
}

/// The names a `use` tree brings into scope.
fn use_names(tree: &syn::UseTree, names: &mut Vec<Ident>) {
    match tree {
        syn::UseTree::Path(p) => use_names(&p.tree, names),
        syn::UseTree::Name(n) if n.ident != "self" => names.push(n.ident.clone()),
        syn::UseTree::Rename(r) => names.push(r.rename.clone()),
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| use_names(t, names)),
        _ => {}
    }
}

/// The façade version of an exported raw trait, and its blanket implementation of the raw one.
fn facade_trait(
    items: &[syn::Item],
    path: &[String],
    trait_name: &str,
    functions: &[ExportFn],
    runtime_path: &syn::Path,
) -> TokenStream {
    let Some(raw_trait) = find_trait(items, trait_name) else {
        return TokenStream::new();
    };
    let raw = format_ident!("{RAW}");
    let supers = (0..path.len()).map(|_| quote!(super::));
    let raw_path: Vec<Ident> = path
        .iter()
        .map(|p| Ident::new(p, Span::call_site()))
        .collect();
    let raw_trait_path = {
        let name = &raw_trait.ident;
        quote!(#(#supers)* #raw #(::#raw_path)*::#name)
    };
    let lowered: Vec<&Ident> = functions
        .iter()
        .flat_map(|f| [&f.start, &f.result])
        .collect();
    let poll_prefix = "isyswasfa_poll";
    let name = &raw_trait.ident;

    let mut trait_items = Vec::new();
    let mut impl_items = Vec::new();
    for item in &raw_trait.items {
        match item {
            syn::TraitItem::Type(ty) => {
                let ident = &ty.ident;
                let bounds = &ty.bounds;
                trait_items.push(quote!(type #ident: #bounds;));
                impl_items.push(quote!(type #ident = <T_ as #name>::#ident;));
            }
            syn::TraitItem::Fn(f) if f.default.is_none() => {
                let sig = &f.sig;
                if lowered.contains(&&sig.ident) {
                    continue;
                }
                if sig.ident.to_string().starts_with(poll_prefix) {
                    impl_items.push(quote!(#sig { #runtime_path::rt::poll(input) }));
                    continue;
                }
                let attrs = f.attrs.iter().filter(|a| a.path().is_ident("doc"));
                trait_items.push(quote!(#(#attrs)* #sig;));
                let ident = &sig.ident;
                let args = sig.inputs.iter().map(|arg| match arg {
                    syn::FnArg::Receiver(_) => quote!(self),
                    syn::FnArg::Typed(t) => {
                        let pat = &t.pat;
                        quote!(#pat)
                    }
                });
                impl_items.push(quote!(#sig { <T_ as #name>::#ident(#(#args),*) }));
            }
            _ => {}
        }
    }
    for function in functions {
        let ExportFn {
            name: fname,
            start,
            result,
            receiver,
            params,
            output,
        } = function;
        // Names the function uniquely in the component, for the guest runtime's check that a
        // `ready` goes to the result export of the function that made it.
        let key = format!("{}::{name}::{fname}", path.join("::"));
        let args = params.iter().map(|arg| match arg {
            syn::FnArg::Typed(t) => {
                let pat = &t.pat;
                quote!(#pat)
            }
            syn::FnArg::Receiver(_) => quote!(self),
        });
        if *receiver {
            trait_items.push(quote!(async fn #fname(&self, #(#params),*) -> #output;));
            impl_items.push(quote! {
                fn #start(&self, #(#params),*) -> ::core::result::Result<#output, #runtime_path::rt::protocol::Pending> {
                    // The caller's borrow ends when this returns, but the resource stays alive
                    // until the call ends: a drop meanwhile is deferred (see the guest
                    // runtime's crate docs, "Async methods of exported resources").
                    let lent = #runtime_path::rt::lent::lend(self);
                    #runtime_path::rt::start_export(#key, async move {
                        <T_ as #name>::#fname(lent.get(), #(#args),*).await
                    })
                }
            });
        } else {
            trait_items.push(quote!(async fn #fname(#(#params),*) -> #output;));
            impl_items.push(quote! {
                fn #start(#(#params),*) -> ::core::result::Result<#output, #runtime_path::rt::protocol::Pending> {
                    #runtime_path::rt::start_export(#key, <T_ as #name>::#fname(#(#args),*))
                }
            });
        }
        impl_items.push(quote! {
            fn #result(ready: #runtime_path::rt::protocol::Ready) -> #output {
                #runtime_path::rt::take_export_result(#key, ready)
            }
        });
    }
    // An exported resource: its value lives where async methods can keep it alive (`lent`).
    let is_resource = raw_trait
        .items
        .iter()
        .any(|item| matches!(item, syn::TraitItem::Fn(f) if f.sig.ident == "resource_into_raw_"));
    if is_resource {
        impl_items.push(quote! {
            unsafe fn resource_into_raw_(
                val: ::core::option::Option<Self>,
            ) -> *mut ::core::option::Option<Self> {
                // SAFETY: released by `resource_from_raw_` below, as wit-bindgen does.
                unsafe { #runtime_path::rt::lent::into_raw(val) }
            }
            unsafe fn resource_from_raw_(
                handle: *mut ::core::option::Option<Self>,
            ) -> ::core::option::Option<Self> {
                // SAFETY: `handle` comes from `resource_into_raw_` above.
                unsafe { #runtime_path::rt::lent::from_raw(handle) }
            }
        });
    }
    let docs = raw_trait.attrs.iter().filter(|a| a.path().is_ident("doc"));
    quote! {
        #(#docs)*
        #[allow(async_fn_in_trait)]
        pub trait #name: 'static {
            #(#trait_items)*
        }
        impl<T_: #name> #raw_trait_path for T_ {
            #(#impl_items)*
        }
    }
}

/// Rewrites wit-bindgen's `_rt::String`/`Vec`/`Box` (its private re-exports of `alloc` types)
/// to `std` paths, so signatures copied out of the raw module compile in the façade.
fn std_paths(tokens: TokenStream) -> TokenStream {
    use proc_macro2::{Group, TokenTree};
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = TokenStream::new();
    let mut i = 0;
    while i < tokens.len() {
        if let TokenTree::Ident(ident) = &tokens[i]
            && ident == "_rt"
            && let (
                Some(TokenTree::Punct(a)),
                Some(TokenTree::Punct(b)),
                Some(TokenTree::Ident(name)),
            ) = (tokens.get(i + 1), tokens.get(i + 2), tokens.get(i + 3))
            && a.as_char() == ':'
            && b.as_char() == ':'
        {
            let replacement = match name.to_string().as_str() {
                "String" => Some(quote!(::std::string::String)),
                "Vec" => Some(quote!(::std::vec::Vec)),
                "Box" => Some(quote!(::std::boxed::Box)),
                _ => None,
            };
            if let Some(replacement) = replacement {
                out.extend(replacement);
                i += 4;
                continue;
            }
        }
        match &tokens[i] {
            TokenTree::Group(group) => {
                let mut inner = Group::new(group.delimiter(), std_paths(group.stream()));
                inner.set_span(group.span());
                out.extend([TokenTree::Group(inner)]);
            }
            other => out.extend([other.clone()]),
        }
        i += 1;
    }
    out
}
