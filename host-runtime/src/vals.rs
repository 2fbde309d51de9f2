//! Checks dynamic values against a function's parameter types before a call enters the store.
//!
//! A failed entry breaks the store (see [`crate::Host`]), but wasmtime refuses values of the
//! wrong type before it enters the instance: such a call must fail alone. So the host checks the
//! embedder's values itself first, and only errors of the entry proper break the store.

use wasmtime::component::types::Type;
use wasmtime::component::{Func, Val};
use wasmtime::{AsContext, Result, bail};

/// Fails, naming the parameter, when `params` do not fit `func`'s parameter types.
pub(crate) fn check_params(store: impl AsContext, func: &Func, params: &[Val]) -> Result<()> {
    let types: Vec<(String, Type)> = func
        .ty(&store)
        .params()
        .map(|(name, ty)| (name.to_string(), ty))
        .collect();
    if types.len() != params.len() {
        bail!("expected {} arguments, got {}", types.len(), params.len());
    }
    for ((name, ty), value) in types.iter().zip(params) {
        if !fits(value, ty) {
            bail!("argument `{name}` does not have the parameter's type ({ty:?})");
        }
    }
    Ok(())
}

/// Whether `value` has type `ty` (resources, streams and futures are checked by wasmtime).
fn fits(value: &Val, ty: &Type) -> bool {
    match (value, ty) {
        (Val::Bool(_), Type::Bool)
        | (Val::S8(_), Type::S8)
        | (Val::U8(_), Type::U8)
        | (Val::S16(_), Type::S16)
        | (Val::U16(_), Type::U16)
        | (Val::S32(_), Type::S32)
        | (Val::U32(_), Type::U32)
        | (Val::S64(_), Type::S64)
        | (Val::U64(_), Type::U64)
        | (Val::Float32(_), Type::Float32)
        | (Val::Float64(_), Type::Float64)
        | (Val::Char(_), Type::Char)
        | (Val::String(_), Type::String)
        | (Val::Resource(_), Type::Own(_) | Type::Borrow(_))
        | (Val::Future(_), Type::Future(_))
        | (Val::Stream(_), Type::Stream(_))
        | (Val::ErrorContext(_), Type::ErrorContext)
        // Rare in signatures; left to wasmtime.
        | (Val::Map(_), Type::Map(_))
        | (Val::FixedLengthList(_), Type::FixedLengthList(_)) => true,
        (Val::List(items), Type::List(list)) => {
            let ty = list.ty();
            items.iter().all(|item| fits(item, &ty))
        }
        (Val::Record(fields), Type::Record(record)) => {
            fields.len() == record.fields().len()
                && fields
                    .iter()
                    .zip(record.fields())
                    .all(|((name, value), field)| name == field.name && fits(value, &field.ty))
        }
        (Val::Tuple(values), Type::Tuple(tuple)) => {
            values.len() == tuple.types().len()
                && values.iter().zip(tuple.types()).all(|(v, t)| fits(v, &t))
        }
        (Val::Variant(name, payload), Type::Variant(variant)) => {
            variant.cases().any(|case| {
                case.name == name
                    && match (payload, &case.ty) {
                        (None, None) => true,
                        (Some(value), Some(ty)) => fits(value, ty),
                        _ => false,
                    }
            })
        }
        (Val::Enum(name), Type::Enum(e)) => e.names().any(|n| n == name),
        (Val::Option(value), Type::Option(option)) => {
            value.as_ref().is_none_or(|value| fits(value, &option.ty()))
        }
        (Val::Result(value), Type::Result(result)) => {
            let (value, ty) = match value {
                Ok(value) => (value, result.ok()),
                Err(value) => (value, result.err()),
            };
            match (value, ty) {
                (None, None) => true,
                (Some(value), Some(ty)) => fits(value, &ty),
                _ => false,
            }
        }
        (Val::Flags(names), Type::Flags(flags)) => {
            names.iter().all(|name| flags.names().any(|n| n == name))
        }
        _ => false,
    }
}
