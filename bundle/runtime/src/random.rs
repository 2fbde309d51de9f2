//! `wasi:random@0.3.0` on WASI 0.2's `wasi:random`: the same functions, synchronous in both.

use crate::Runtime;
use crate::bindings::exports::wasi::random::{insecure, insecure_seed, random};

impl random::Guest for Runtime {
    fn get_random_bytes(max_len: u64) -> Vec<u8> {
        wasi::random::random::get_random_bytes(max_len)
    }

    fn get_random_u64() -> u64 {
        wasi::random::random::get_random_u64()
    }
}

impl insecure::Guest for Runtime {
    fn get_insecure_random_bytes(max_len: u64) -> Vec<u8> {
        wasi::random::insecure::get_insecure_random_bytes(max_len)
    }

    fn get_insecure_random_u64() -> u64 {
        wasi::random::insecure::get_insecure_random_u64()
    }
}

impl insecure_seed::Guest for Runtime {
    fn get_insecure_seed() -> (u64, u64) {
        wasi::random::insecure_seed::insecure_seed()
    }
}
