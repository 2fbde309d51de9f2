//! Payload binding at link time: every typed operation of one pipe, across every ops interface
//! of a composition, must declare the same payload type.

use std::collections::HashMap;

use wasmtime::component::types::{ComponentFunc, Type};
use wasmtime::{Result, bail, format_err};

use crate::pipes::element::End;
use crate::pipes::element::split_op;

/// The payload type each pipe's typed operations declare, first come first kept, for
/// [`add_to_linker_for`]'s check that they all agree.
#[derive(Default)]
pub(crate) struct PayloadTypes {
    /// Pipe interface name → the payload type and the operation (`interface#function`) that
    /// declared it first.
    seen: HashMap<String, (Type, String)>,
}

impl PayloadTypes {
    /// Records the payload types `func` (of ops interface `interface`) declares, failing when
    /// they differ from each other or from what an earlier operation of the same pipe declared.
    pub(crate) fn check(&mut self, interface: &str, func: &str, ty: &ComponentFunc) -> Result<()> {
        let (pipe, op) = split_op(func)?;
        let here = format!("{interface}#{func}");
        for payload in declared_payloads(func, pipe, op, ty)? {
            match self.seen.get(pipe) {
                None => {
                    self.seen.insert(pipe.to_string(), (payload, here.clone()));
                }
                Some((first, _)) if *first == payload => {}
                Some((first, there)) => bail!(
                    "isyswasfa: `{here}` declares payload `{}` for pipe `{pipe}`, but `{there}` \
                     declares `{}`",
                    describe(&payload),
                    describe(first)
                ),
            }
        }
        Ok(())
    }
}

/// The payload types a typed operation's signature names (the `T` of every `list<T>` or
/// `option<T>` around it), for plain `Val` pipes; none for byte, byte-list and unit pipes, whose operations
/// have fixed Rust signatures that wasmtime checks itself.
fn declared_payloads(func: &str, pipe: &str, op: End, ty: &ComponentFunc) -> Result<Vec<Type>> {
    if matches!(pipe, "stream-u8" | "stream-list-u8" | "stream" | "future") {
        return Ok(Vec::new());
    }
    let future = pipe.starts_with("future");
    let malformed =
        || format_err!("isyswasfa: `{func}` does not have a pipe operation's signature");
    let inner = |ty: Type, list: bool| -> Result<Type> {
        match (ty, list) {
            (Type::List(l), true) => Ok(l.ty()),
            (Type::Option(o), false) => Ok(o.ty()),
            _ => Err(malformed()),
        }
    };
    let mut types = Vec::new();
    // Writes take the values after the end (stream: a list; future: one value) and give back
    // those not taken; reads give `option` of a list (stream) or of a value (future).
    if op == End::Writer {
        let value = ty.params().nth(1).map(|(_, t)| t).ok_or_else(malformed)?;
        types.push(if future { value } else { inner(value, true)? });
        let rest = ty.results().next().ok_or_else(malformed)?;
        types.push(if future {
            inner(rest, false)?
        } else {
            inner(rest, true)?
        });
    } else {
        let read = inner(ty.results().next().ok_or_else(malformed)?, false)?;
        types.push(if future { read } else { inner(read, true)? });
    }
    Ok(types)
}

/// A short WIT-like description of `ty`, for error messages.
fn describe(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(l) => format!("list<{}>", describe(&l.ty())),
        Type::Option(o) => format!("option<{}>", describe(&o.ty())),
        Type::Tuple(t) => {
            let items: Vec<String> = t.types().map(|t| describe(&t)).collect();
            format!("tuple<{}>", items.join(", "))
        }
        Type::Record(r) => {
            let fields: Vec<String> = r
                .fields()
                .map(|f| format!("{}: {}", f.name, describe(&f.ty)))
                .collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        Type::Result(r) => format!(
            "result<{}, {}>",
            r.ok().map_or("_".into(), |t| describe(&t)),
            r.err().map_or("_".into(), |t| describe(&t))
        ),
        Type::Variant(_) => "variant".into(),
        Type::Enum(_) => "enum".into(),
        Type::Flags(_) => "flags".into(),
        Type::Own(_) => "own<resource>".into(),
        Type::Borrow(_) => "borrow<resource>".into(),
        other => format!("{other:?}"),
    }
}
