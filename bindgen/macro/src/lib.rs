//! The `generate!` macro of `isyswasfa-guest` (use it through that crate).
//!
//! `isyswasfa_guest::generate!` is a `macro_rules!` macro that calls this one as
//! `generate!(@runtime $crate @polyfill|@native <options>)`: `$crate` is the name the guest gave
//! `isyswasfa-guest` (for example `wit_bindgen` after a rename in `Cargo.toml`), and every path
//! of the generated code starts with it. `@polyfill` reads the WIT, lowers it with
//! `isyswasfa-bindgen` and expands to the bindings `isyswasfa_bindgen::rust::generate`
//! produces; `@native` expands to wit-bindgen's own native WASI 0.3 bindings.

#![warn(missing_docs)]

mod options;

use std::path::PathBuf;

use isyswasfa_bindgen::wit_parser::{PackageId, Resolve};
use isyswasfa_bindgen::{LowerOptions, lower};
use proc_macro::TokenStream;
use proc_macro2::{TokenStream as TokenStream2, TokenTree};
use quote::quote;
use syn::parse::{Parse, ParseStream};

use options::Options;

/// The identifier standing for the runtime crate while code is generated; replaced by the
/// caller's `$crate` at the end.
const RUNTIME_PLACEHOLDER: &str = "__isyswasfa_runtime__";

/// See `isyswasfa_guest::generate!`.
#[proc_macro]
pub fn generate(input: TokenStream) -> TokenStream {
    let invocation = syn::parse_macro_input!(input as Invocation);
    match invocation.expand() {
        Ok(tokens) => tokens.into(),
        Err(error) => syn::Error::new(invocation.options.span, format!("{error:#}"))
            .to_compile_error()
            .into(),
    }
}

/// What the bindings are for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A WASI 0.2 component driven by an isyswasfa host.
    Polyfill,
    /// A native WASI 0.3 component (wit-bindgen's async support).
    Native,
}

struct Invocation {
    /// The path of the runtime crate, as the caller names it.
    runtime: TokenStream2,
    mode: Mode,
    options: Options,
}

impl Parse for Invocation {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut runtime = quote!(::isyswasfa_guest);
        let mut mode = Mode::Polyfill;
        while input.peek(syn::Token![@]) {
            input.parse::<syn::Token![@]>()?;
            let key: syn::Ident = input.parse()?;
            match key.to_string().as_str() {
                "runtime" => runtime = TokenStream2::from(input.parse::<TokenTree>()?),
                "polyfill" => mode = Mode::Polyfill,
                "native" => mode = Mode::Native,
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown directive `@{other}`"),
                    ));
                }
            }
        }
        Ok(Self {
            runtime,
            mode,
            options: input.parse()?,
        })
    }
}

impl Invocation {
    fn expand(&self) -> anyhow::Result<TokenStream2> {
        let options = &self.options;
        let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
        let mut resolve = Resolve::default();
        resolve.features.extend(options.features.iter().cloned());
        let mut files = Vec::new();
        let mut packages: Vec<PackageId> = Vec::new();
        let paths = if options.paths.is_empty() {
            let default = root.join("wit");
            if options.inline.is_some() && !default.exists() {
                Vec::new()
            } else {
                vec![default]
            }
        } else {
            options.paths.iter().map(|p| root.join(p)).collect()
        };
        for path in &paths {
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            let (package, sources) = isyswasfa_bindgen::push_wit(&mut resolve, &path)?;
            packages.push(package);
            files.extend(sources);
        }
        if let Some(inline) = &options.inline {
            packages = vec![isyswasfa_bindgen::shipped::push_str(
                &mut resolve,
                "macro-input",
                inline,
            )?];
        }
        let main = *packages
            .last()
            .ok_or_else(|| anyhow::anyhow!("no WIT given"))?;
        let world = isyswasfa_bindgen::select_world(&resolve, main, options.world.as_deref())?;
        let mut guest = options.guest.clone();
        guest.runtime = RUNTIME_PLACEHOLDER.to_string();
        let mut tokens = match self.mode {
            Mode::Polyfill => {
                let lower_options = match &options.poll_suffix {
                    Some(suffix) => LowerOptions {
                        poll_suffix: suffix.clone(),
                    },
                    None => LowerOptions::for_crate(
                        &std::env::var("CARGO_PKG_NAME").unwrap_or_default(),
                    ),
                };
                let lowered = lower(&resolve, world, &lower_options)?;
                isyswasfa_bindgen::rust::generate(&lowered, &guest)?
            }
            Mode::Native => isyswasfa_bindgen::rust::generate_native(&resolve, world, &guest)?,
        };
        // Rebuild when a WIT file changes.
        for file in files {
            let file = file.display().to_string();
            tokens.extend(quote!(
                const _: &[u8] = include_bytes!(#file);
            ));
        }
        Ok(replace_runtime(tokens, &self.runtime))
    }
}

/// Replaces every [`RUNTIME_PLACEHOLDER`] identifier in `tokens` with `runtime`.
fn replace_runtime(tokens: TokenStream2, runtime: &TokenStream2) -> TokenStream2 {
    tokens
        .into_iter()
        .flat_map(|token| -> Vec<TokenTree> {
            match token {
                TokenTree::Ident(ident) if ident == RUNTIME_PLACEHOLDER => {
                    runtime.clone().into_iter().collect()
                }
                TokenTree::Group(group) => {
                    let mut replaced = proc_macro2::Group::new(
                        group.delimiter(),
                        replace_runtime(group.stream(), runtime),
                    );
                    replaced.set_span(group.span());
                    vec![TokenTree::Group(replaced)]
                }
                other => vec![other],
            }
        })
        .collect()
}
