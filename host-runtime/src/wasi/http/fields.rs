//! The `fields` resource of `wasi:http/types@0.3.0`: headers and trailers a guest builds,
//! reads and changes, within the store's size cap and the forbidden-field rules.

use http::{HeaderMap, HeaderName, HeaderValue};
use wasmtime::component::{
    ComponentType, Lift, LinkerInstance, Lower, Resource, ResourceTable, ResourceType,
};
use wasmtime::{Result, StoreContextMut, format_err};

use crate::ctx::IsyswasfaView;

pub use isyswasfa_protocol::http::FORBIDDEN_HEADERS;

/// Whether `name` is one of [`FORBIDDEN_HEADERS`].
pub fn is_forbidden(name: &HeaderName) -> bool {
    FORBIDDEN_HEADERS.contains(&name.as_str())
}

/// Removes the [`FORBIDDEN_HEADERS`] from `map`, before it reaches a guest.
pub fn remove_forbidden(map: &mut HeaderMap) {
    for name in FORBIDDEN_HEADERS {
        map.remove(name);
    }
}

/// `variant header-error`.
#[derive(ComponentType, Lift, Lower, Clone, Debug)]
#[component(variant)]
#[allow(missing_docs)]
pub enum HeaderError {
    #[component(name = "invalid-syntax")]
    InvalidSyntax,
    #[component(name = "forbidden")]
    Forbidden,
    #[component(name = "immutable")]
    Immutable,
    #[component(name = "size-exceeded")]
    SizeExceeded,
    #[component(name = "other")]
    Other(Option<String>),
}

/// A `fields` resource: headers or trailers.
#[derive(Debug, Default, Clone)]
pub struct Fields {
    /// The fields, in order.
    pub map: HeaderMap,
    /// Whether the guest may change them (not when they belong to a request or response).
    pub mutable: bool,
}

impl Fields {
    pub(super) fn change(&mut self) -> Result<&mut HeaderMap, HeaderError> {
        if self.mutable {
            Ok(&mut self.map)
        } else {
            Err(HeaderError::Immutable)
        }
    }
}

pub(super) fn table<'a, T: IsyswasfaView>(
    store: &'a mut StoreContextMut<'_, T>,
) -> &'a mut ResourceTable {
    store.data_mut().isyswasfa().table
}

/// Adds `value` to the store's resource table for the guest's call `call`; a full table (see
/// [`crate::IsyswasfaCtxBuilder::max_resources`]) is an error naming the call and the limit.
pub(crate) fn push<T: IsyswasfaView, V: Send + 'static>(
    store: &mut StoreContextMut<'_, T>,
    value: V,
    call: &str,
) -> Result<Resource<V>> {
    let table = table(store);
    table.push(value).map_err(|error| match error {
        wasmtime::component::ResourceTableError::Full => format_err!(
            "isyswasfa: `{call}`: the store already holds {} resources (limit \
             `IsyswasfaCtxBuilder::max_resources`)",
            table.max_capacity()
        ),
        other => other.into(),
    })
}

fn field_name(name: &str) -> Result<HeaderName, HeaderError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| HeaderError::InvalidSyntax)
}

/// Checks a name a guest wants to set: valid and not one the host manages.
fn settable_name(name: &str) -> Result<HeaderName, HeaderError> {
    let name = field_name(name)?;
    if is_forbidden(&name) {
        return Err(HeaderError::Forbidden);
    }
    Ok(name)
}

/// Checks a value a guest wants to give the field `name`: valid, and for `content-length` one
/// or more decimal digits that fit in 64 bits (wasmtime's rule: `+5` or ` 5` is refused).
fn field_value(name: &HeaderName, value: &[u8]) -> Result<HeaderValue, HeaderError> {
    if name == http::header::CONTENT_LENGTH {
        let digits = !value.is_empty() && value.iter().all(u8::is_ascii_digit);
        let fits = std::str::from_utf8(value).is_ok_and(|text| text.parse::<u64>().is_ok());
        if !(digits && fits) {
            return Err(HeaderError::InvalidSyntax);
        }
    }
    HeaderValue::from_bytes(value).map_err(|_| HeaderError::InvalidSyntax)
}

/// Refuses a second `content-length` value: several make a message's framing ambiguous.
fn single_length(map: &HeaderMap, name: &HeaderName) -> Result<(), HeaderError> {
    if name == http::header::CONTENT_LENGTH && map.contains_key(name) {
        return Err(HeaderError::InvalidSyntax);
    }
    Ok(())
}

fn size_of(map: &HeaderMap) -> usize {
    map.iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum()
}

/// The store's cap on the bytes of one `fields` (see [`IsyswasfaCtxBuilder::max_fields_size`]).
///
/// [`IsyswasfaCtxBuilder::max_fields_size`]: crate::IsyswasfaCtxBuilder::max_fields_size
fn fields_limit<T: IsyswasfaView>(store: &mut StoreContextMut<'_, T>) -> usize {
    store.data_mut().isyswasfa().ctx.limits.max_fields_size
}

/// Appends `name: value` to `map` unless that would take it beyond `limit` bytes (names plus
/// values) or beyond the entries a `HeaderMap` can hold: both are `size-exceeded`, never a
/// panic, whatever the guest sends.
fn append_within(
    map: &mut HeaderMap,
    size: &mut usize,
    name: HeaderName,
    value: HeaderValue,
    limit: usize,
) -> Result<(), HeaderError> {
    let grown = *size + name.as_str().len() + value.len();
    if grown > limit {
        return Err(HeaderError::SizeExceeded);
    }
    map.try_append(name, value)
        .map_err(|_| HeaderError::SizeExceeded)?;
    *size = grown;
    Ok(())
}

fn copy_all(map: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    map.iter()
        .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
        .collect()
}

pub(super) fn add_fields<T: IsyswasfaView + 'static>(
    types: &mut LinkerInstance<'_, T>,
) -> Result<()> {
    types.resource(
        "fields",
        ResourceType::host::<Fields>(),
        |mut store, rep| {
            table(&mut store).delete(Resource::<Fields>::new_own(rep))?;
            Ok(())
        },
    )?;
    types.func_wrap("[constructor]fields", |mut store, (): ()| {
        let fields = Fields {
            map: HeaderMap::new(),
            mutable: true,
        };
        Ok((push(&mut store, fields, "[constructor]fields")?,))
    })?;
    types.func_wrap(
        "[static]fields.from-list",
        |mut store, (entries,): (Vec<(String, Vec<u8>)>,)| {
            let limit = fields_limit(&mut store);
            let map = (|| {
                let mut map = HeaderMap::new();
                let mut size = 0;
                for (name, value) in &entries {
                    let name = settable_name(name)?;
                    let value = field_value(&name, value)?;
                    single_length(&map, &name)?;
                    append_within(&mut map, &mut size, name, value, limit)?;
                }
                Ok(map)
            })();
            Ok((match map {
                Ok(map) => Ok(push(
                    &mut store,
                    Fields { map, mutable: true },
                    "[static]fields.from-list",
                )?),
                Err(error) => Err::<_, HeaderError>(error),
            },))
        },
    )?;
    types.func_wrap(
        "[method]fields.get",
        |mut store, (fields, name): (Resource<Fields>, String)| {
            let fields = table(&mut store).get(&fields)?;
            let values = match field_name(&name) {
                Ok(name) => fields
                    .map
                    .get_all(name)
                    .iter()
                    .map(|v| v.as_bytes().to_vec())
                    .collect(),
                Err(_) => Vec::new(),
            };
            Ok((values,))
        },
    )?;
    types.func_wrap(
        "[method]fields.has",
        |mut store, (fields, name): (Resource<Fields>, String)| {
            let fields = table(&mut store).get(&fields)?;
            Ok((field_name(&name).is_ok_and(|name| fields.map.contains_key(name)),))
        },
    )?;
    types.func_wrap(
        "[method]fields.set",
        |mut store, (fields, name, values): (Resource<Fields>, String, Vec<Vec<u8>>)| {
            let limit = fields_limit(&mut store);
            let fields = table(&mut store).get_mut(&fields)?;
            let outcome = (|| {
                let name = settable_name(&name)?;
                let values = values
                    .iter()
                    .map(|v| field_value(&name, v))
                    .collect::<Result<Vec<_>, _>>()?;
                if name == http::header::CONTENT_LENGTH && values.len() > 1 {
                    return Err(HeaderError::InvalidSyntax);
                }
                let mut changed = fields.change()?.clone();
                changed.remove(&name);
                let mut size = size_of(&changed);
                for value in values {
                    append_within(&mut changed, &mut size, name.clone(), value, limit)?;
                }
                fields.map = changed;
                Ok::<_, HeaderError>(())
            })();
            Ok((outcome,))
        },
    )?;
    types.func_wrap(
        "[method]fields.delete",
        |mut store, (fields, name): (Resource<Fields>, String)| {
            let fields = table(&mut store).get_mut(&fields)?;
            let outcome = (|| {
                let name = settable_name(&name)?;
                fields.change()?.remove(&name);
                Ok::<_, HeaderError>(())
            })();
            Ok((outcome,))
        },
    )?;
    types.func_wrap(
        "[method]fields.get-and-delete",
        |mut store, (fields, name): (Resource<Fields>, String)| {
            let fields = table(&mut store).get_mut(&fields)?;
            let outcome = (|| {
                let name = settable_name(&name)?;
                let map = fields.change()?;
                let values = map
                    .get_all(&name)
                    .iter()
                    .map(|v| v.as_bytes().to_vec())
                    .collect::<Vec<_>>();
                map.remove(&name);
                Ok::<_, HeaderError>(values)
            })();
            Ok((outcome,))
        },
    )?;
    types.func_wrap(
        "[method]fields.append",
        |mut store, (fields, name, value): (Resource<Fields>, String, Vec<u8>)| {
            let limit = fields_limit(&mut store);
            let fields = table(&mut store).get_mut(&fields)?;
            let outcome = (|| {
                let name = settable_name(&name)?;
                let value = field_value(&name, &value)?;
                let map = fields.change()?;
                single_length(map, &name)?;
                let mut size = size_of(map);
                append_within(map, &mut size, name, value, limit)?;
                Ok::<_, HeaderError>(())
            })();
            Ok((outcome,))
        },
    )?;
    types.func_wrap(
        "[method]fields.copy-all",
        |mut store, (fields,): (Resource<Fields>,)| {
            Ok((copy_all(&table(&mut store).get(&fields)?.map),))
        },
    )?;
    types.func_wrap(
        "[method]fields.clone",
        |mut store, (fields,): (Resource<Fields>,)| {
            let map = table(&mut store).get(&fields)?.map.clone();
            Ok((push(
                &mut store,
                Fields { map, mutable: true },
                "[method]fields.clone",
            )?,))
        },
    )?;
    Ok(())
}
