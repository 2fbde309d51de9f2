//! The `generate!` macro of `isyswasfa-guest` (use it through that crate).
//!
//! It reads the WIT, lowers it with `isyswasfa-bindgen`, and expands to the bindings that
//! `isyswasfa_bindgen::rust::generate` produces.

use std::path::PathBuf;

use isyswasfa_bindgen::rust::GuestOptions;
use isyswasfa_bindgen::wit_parser::{PackageId, Resolve};
use isyswasfa_bindgen::{LowerOptions, lower};
use proc_macro::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{LitStr, Token, braced, bracketed};

/// See `isyswasfa_guest::generate!`.
#[proc_macro]
pub fn generate(input: TokenStream) -> TokenStream {
    let config = syn::parse_macro_input!(input as Config);
    match config.expand() {
        Ok(tokens) => tokens.into(),
        Err(error) => syn::Error::new(config.span, format!("{error:#}"))
            .to_compile_error()
            .into(),
    }
}

struct Config {
    span: proc_macro2::Span,
    paths: Vec<String>,
    inline: Option<String>,
    world: Option<String>,
    poll_suffix: Option<String>,
    guest: GuestOptions,
}

impl Parse for Config {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let span = input.span();
        let mut config = Config {
            span,
            paths: Vec::new(),
            inline: None,
            world: None,
            poll_suffix: None,
            guest: GuestOptions::default(),
        };
        if input.peek(LitStr) {
            config.world = Some(input.parse::<LitStr>()?.value());
            return Ok(config);
        }
        let content;
        braced!(content in input);
        while !content.is_empty() {
            let key: syn::Ident = content.call(syn::ext::IdentExt::parse_any)?;
            match key.to_string().as_str() {
                "generate_all" => config.guest.generate_all = true,
                name => {
                    content.parse::<Token![:]>()?;
                    match name {
                        "path" => {
                            if content.peek(syn::token::Bracket) {
                                let list;
                                bracketed!(list in content);
                                let paths =
                                    list.parse_terminated(|p| p.parse::<LitStr>(), Token![,])?;
                                config.paths.extend(paths.iter().map(LitStr::value));
                            } else {
                                config.paths.push(content.parse::<LitStr>()?.value());
                            }
                        }
                        "inline" => config.inline = Some(content.parse::<LitStr>()?.value()),
                        "world" => config.world = Some(content.parse::<LitStr>()?.value()),
                        "poll_suffix" => {
                            config.poll_suffix = Some(content.parse::<LitStr>()?.value())
                        }
                        "default_bindings_module" => {
                            config.guest.default_bindings_module =
                                Some(content.parse::<LitStr>()?.value())
                        }
                        "additional_derives" => {
                            let list;
                            bracketed!(list in content);
                            let paths =
                                list.parse_terminated(syn::Path::parse_mod_style, Token![,])?;
                            config.guest.additional_derives = paths
                                .iter()
                                .map(|p| quote!(#p).to_string().replace(' ', ""))
                                .collect();
                        }
                        "with" => {
                            let map;
                            braced!(map in content);
                            while !map.is_empty() {
                                let name = map.parse::<LitStr>()?.value();
                                map.parse::<Token![:]>()?;
                                let path = if map.peek(syn::Ident)
                                    && map.fork().parse::<syn::Ident>()? == "generate"
                                {
                                    map.parse::<syn::Ident>()?;
                                    "generate".to_string()
                                } else {
                                    let path: syn::Path = map.parse()?;
                                    quote!(#path).to_string().replace(' ', "")
                                };
                                config.guest.with.push((name, path));
                                if !map.is_empty() {
                                    map.parse::<Token![,]>()?;
                                }
                            }
                        }
                        other => {
                            return Err(syn::Error::new(
                                key.span(),
                                format!(
                                    "unknown option `{other}`; expected one of: path, inline, world, \
                                     generate_all, with, additional_derives, default_bindings_module, \
                                     poll_suffix"
                                ),
                            ));
                        }
                    }
                }
            }
            if !content.is_empty() {
                content.parse::<Token![,]>()?;
            }
        }
        Ok(config)
    }
}

impl Config {
    fn expand(&self) -> anyhow::Result<proc_macro2::TokenStream> {
        let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
        let mut resolve = Resolve::default();
        let mut files = Vec::new();
        let mut packages: Vec<PackageId> = Vec::new();
        let paths = if self.paths.is_empty() {
            let default = root.join("wit");
            if self.inline.is_some() && !default.exists() {
                Vec::new()
            } else {
                vec![default]
            }
        } else {
            self.paths.iter().map(|p| root.join(p)).collect()
        };
        for path in &paths {
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            let (package, sources) = isyswasfa_bindgen::push_wit(&mut resolve, &path)?;
            packages.push(package);
            files.extend(sources);
        }
        if let Some(inline) = &self.inline {
            packages = vec![isyswasfa_bindgen::shipped::push_str(
                &mut resolve,
                "macro-input",
                inline,
            )?];
        }
        let main = *packages
            .last()
            .ok_or_else(|| anyhow::anyhow!("no WIT given"))?;
        let world = isyswasfa_bindgen::select_world(&resolve, main, self.world.as_deref())?;
        let options = match &self.poll_suffix {
            Some(suffix) => LowerOptions {
                poll_suffix: suffix.clone(),
            },
            None => LowerOptions::for_crate(&std::env::var("CARGO_PKG_NAME").unwrap_or_default()),
        };
        let lowered = lower(&resolve, world, &options)?;
        let mut tokens = isyswasfa_bindgen::rust::generate(&lowered, &self.guest)?;
        // Rebuild when a WIT file changes.
        for file in files {
            let file = file.display().to_string();
            tokens.extend(quote!(
                const _: &[u8] = include_bytes!(#file);
            ));
        }
        Ok(tokens)
    }
}
