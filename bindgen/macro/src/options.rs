//! Parsing of `generate!`'s options: wit-bindgen's syntax and names, plus `poll_suffix`.

use isyswasfa_bindgen::rust::GuestOptions;
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::{LitBool, LitStr, Token, braced, bracketed};

/// The options of one `generate!` call.
pub struct Options {
    /// Where errors about the whole call point.
    pub span: proc_macro2::Span,
    /// WIT directories or files, relative to the crate root (`wit` when empty).
    pub paths: Vec<String>,
    /// WIT source given inline.
    pub inline: Option<String>,
    /// The world to generate (the only one of the main package when `None`).
    pub world: Option<String>,
    /// WIT `@unstable` features to enable.
    pub features: Vec<String>,
    /// Names this component's poll export (isyswasfa only; ignored for native bindings).
    pub poll_suffix: Option<String>,
    /// Options of the Rust generator.
    pub guest: GuestOptions,
}

/// The options this macro understands, for the error about an unknown one.
const KNOWN: &str = "path, inline, world, generate_all, with, additional_derives, \
    additional_derives_ignore, default_bindings_module, export_macro_name, pub_export_macro, \
    features, skip, std_feature, generate_unused_types, type_section_suffix, \
    disable_run_ctors_once_workaround, debug, poll_suffix";

impl Parse for Options {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut options = Options {
            span: input.span(),
            paths: Vec::new(),
            inline: None,
            world: None,
            features: Vec::new(),
            poll_suffix: None,
            guest: GuestOptions::default(),
        };
        if input.peek(LitStr) {
            // `generate!("world")` or `generate!("world" in "path")`.
            options.world = Some(input.parse::<LitStr>()?.value());
            if input.parse::<Option<Token![in]>>()?.is_some() {
                options.paths.push(input.parse::<LitStr>()?.value());
            }
            return Ok(options);
        }
        if input.is_empty() {
            return Ok(options);
        }
        let content;
        braced!(content in input);
        while !content.is_empty() {
            let key: syn::Ident = content.call(syn::ext::IdentExt::parse_any)?;
            options.parse_option(&key, &content)?;
            if !content.is_empty() {
                content.parse::<Token![,]>()?;
            }
        }
        Ok(options)
    }
}

/// `"a"` or `["a", "b"]`.
fn strings(input: ParseStream<'_>) -> syn::Result<Vec<String>> {
    if input.peek(syn::token::Bracket) {
        let list;
        bracketed!(list in input);
        let items = list.parse_terminated(|p| p.parse::<LitStr>(), Token![,])?;
        Ok(items.iter().map(LitStr::value).collect())
    } else {
        Ok(vec![input.parse::<LitStr>()?.value()])
    }
}

/// A flag written alone (`generate_all`) or with a value (`pub_export_macro: true`).
fn flag(input: ParseStream<'_>) -> syn::Result<bool> {
    if input.peek(Token![:]) {
        input.parse::<Token![:]>()?;
        Ok(input.parse::<LitBool>()?.value)
    } else {
        Ok(true)
    }
}

impl Options {
    fn parse_option(&mut self, key: &syn::Ident, input: ParseStream<'_>) -> syn::Result<()> {
        let name = key.to_string();
        let wit = &mut self.guest.wit_bindgen;
        match name.as_str() {
            "generate_all" => self.guest.generate_all = flag(input)?,
            "pub_export_macro" => self.guest.pub_export_macro = flag(input)?,
            "std_feature" => wit.std_feature = flag(input)?,
            "generate_unused_types" => wit.generate_unused_types = flag(input)?,
            "disable_run_ctors_once_workaround" => {
                wit.disable_run_ctors_once_workaround = flag(input)?
            }
            // wit-bindgen writes the expansion to a file for debugging; nothing to do here.
            "debug" => {
                flag(input)?;
            }
            _ => {
                input.parse::<Token![:]>()?;
                match name.as_str() {
                    "path" => self.paths.extend(strings(input)?),
                    "inline" => self.inline = Some(input.parse::<LitStr>()?.value()),
                    "world" => self.world = Some(input.parse::<LitStr>()?.value()),
                    "features" => self.features.extend(strings(input)?),
                    "skip" => wit.skip.extend(strings(input)?),
                    "additional_derives_ignore" => {
                        wit.additional_derive_ignore.extend(strings(input)?)
                    }
                    "type_section_suffix" => {
                        wit.type_section_suffix = Some(input.parse::<LitStr>()?.value())
                    }
                    "poll_suffix" => self.poll_suffix = Some(input.parse::<LitStr>()?.value()),
                    "default_bindings_module" => {
                        self.guest.default_bindings_module = Some(input.parse::<LitStr>()?.value())
                    }
                    "export_macro_name" => {
                        self.guest.export_macro_name = Some(input.parse::<LitStr>()?.value())
                    }
                    "additional_derives" => {
                        let list;
                        bracketed!(list in input);
                        let paths = list.parse_terminated(syn::Path::parse_mod_style, Token![,])?;
                        self.guest.additional_derives = paths
                            .iter()
                            .map(|p| p.to_token_stream().to_string().replace(' ', ""))
                            .collect();
                    }
                    "with" => self.parse_with(input)?,
                    other => {
                        return Err(syn::Error::new(
                            key.span(),
                            format!(
                                "`{other}` is not an option isyswasfa-guest's generate! supports; \
                                 the supported ones are: {KNOWN}"
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// `with: { "ns:pkg/iface": path::to::module, "ns:pkg/other": generate }`.
    fn parse_with(&mut self, input: ParseStream<'_>) -> syn::Result<()> {
        let map;
        braced!(map in input);
        while !map.is_empty() {
            let name = map.parse::<LitStr>()?.value();
            map.parse::<Token![:]>()?;
            let path = if map.peek(syn::Ident) && map.fork().parse::<syn::Ident>()? == "generate" {
                map.parse::<syn::Ident>()?;
                "generate".to_string()
            } else {
                let path: syn::Path = map.parse()?;
                quote!(#path).to_string().replace(' ', "")
            };
            self.guest.with.push((name, path));
            if !map.is_empty() {
                map.parse::<Token![,]>()?;
            }
        }
        Ok(())
    }
}
