//! `wasi:random@0.3.0`, lowered (all three interfaces are synchronous): bytes from the
//! operating system's secure generator, for the insecure interfaces too.

use std::sync::OnceLock;

use wasmtime::component::Linker;
use wasmtime::{Result, format_err};

use crate::ctx::IsyswasfaView;

/// At most `cap` bytes (the store's `max_random_bytes`), however many the guest asks for.
fn bytes(max_len: u64, cap: u64) -> Result<Vec<u8>> {
    let len = usize::try_from(max_len.min(cap)).unwrap_or(0);
    let mut buffer = vec![0; len];
    getrandom::getrandom(&mut buffer).map_err(|e| format_err!("isyswasfa: random: {e}"))?;
    Ok(buffer)
}

fn u64_value() -> Result<u64> {
    let mut buffer = [0; 8];
    getrandom::getrandom(&mut buffer).map_err(|e| format_err!("isyswasfa: random: {e}"))?;
    Ok(u64::from_le_bytes(buffer))
}

/// Adds `random`, `insecure` and `insecure-seed` to `linker`.
pub fn add_to_linker<T: IsyswasfaView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    for name in ["wasi:random/random@0.3.0", "wasi:random/insecure@0.3.0"] {
        let mut instance = linker.instance(name)?;
        let insecure = name.contains("insecure");
        let bytes_name = if insecure {
            "get-insecure-random-bytes"
        } else {
            "get-random-bytes"
        };
        let u64_name = if insecure {
            "get-insecure-random-u64"
        } else {
            "get-random-u64"
        };
        instance.func_wrap(bytes_name, |mut store, (max_len,): (u64,)| {
            let cap = store.data_mut().isyswasfa().ctx.limits.max_random_bytes;
            Ok((bytes(max_len, cap)?,))
        })?;
        instance.func_wrap(u64_name, |_, (): ()| Ok((u64_value()?,)))?;
    }
    linker
        .instance("wasi:random/insecure-seed@0.3.0")?
        .func_wrap("get-insecure-seed", |_, (): ()| {
            // One seed per process, as the interface intends.
            static SEED: OnceLock<(u64, u64)> = OnceLock::new();
            if let Some(seed) = SEED.get() {
                return Ok((*seed,));
            }
            let seed = (u64_value()?, u64_value()?);
            Ok((*SEED.get_or_init(|| seed),))
        })?;
    Ok(())
}
