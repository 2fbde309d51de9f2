//! The demo: builds `test-cases/round-trip` for wasm32-wasip2, runs it on the isyswasfa host,
//! and calls its exported `foo` a few times concurrently.
//!
//! ```text
//! cargo run --release -p isyswasfa-host --example round-trip
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use isyswasfa_host::{Host, State};
use wasmtime::component::Component;
use wasmtime::{Result, Store, bail};

#[tokio::main]
async fn main() -> Result<()> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo.join("target"), PathBuf::from)
        .join("guests");
    println!("building test-cases/round-trip for wasm32-wasip2 ...");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            "round-trip",
            "--manifest-path",
        ])
        .arg(repo.join("test-cases/Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()?;
    if !status.success() {
        bail!("building the guest failed");
    }

    let engine = isyswasfa_host::engine()?;
    let mut linker = isyswasfa_host::linker::<State>(&engine)?;
    let mut baz = linker.instance("component:test/baz")?;
    isyswasfa_host::func_wrap_async(&mut baz, "foo", |(s,): (String,)| async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        format!("{s} - entered host - exited host")
    })?;

    let component = Component::from_file(
        &engine,
        target.join("wasm32-wasip2/release/round_trip.wasm"),
    )?;
    let host = Host::instantiate(Store::new(&engine, State::new()), &linker, &component).await?;
    let foo = host
        .func::<(String,), String>(Some("component:test/baz"), "foo")
        .await?;

    let start = Instant::now();
    let calls = (1..=3).map(|i| host.call(&foo, (format!("call {i}"),)));
    for answer in futures::future::try_join_all(calls).await? {
        println!("{answer}");
    }
    println!(
        "3 concurrent calls, each waiting 10 ms in the guest and 100 ms in the host: {:?}",
        start.elapsed()
    );
    Ok(())
}
