//! Composed components run on the real host: a chain made by `isyswasfa compose` answers a call
//! through every link.

use std::time::Duration;

use isyswasfa_host::{Host, State};
use isyswasfa_test_support::Guest;
use wasmtime::Store;
use wasmtime::component::Component;

use crate::common::{isyswasfa, scratch_dir, stderr};

/// `round-trip -d round-trip`: the root's `foo` calls the dependency's `foo`, whose own import
/// goes to the host; the answer shows both guests and the host, in order.
#[tokio::test(flavor = "multi_thread")]
async fn composed_chain_runs_on_the_host() {
    let dir = scratch_dir("composed_chain_runs_on_the_host");
    let out = dir.join("chain.wasm");
    let guest = Guest::RoundTrip.path();
    let output = isyswasfa([
        "compose".as_ref(),
        guest.as_os_str(),
        "-d".as_ref(),
        guest.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));

    let engine = isyswasfa_host::engine().unwrap();
    let mut linker = isyswasfa_host::linker::<State>(&engine).unwrap();
    let mut baz = linker.instance("component:test/baz").unwrap();
    isyswasfa_host::func_wrap_async(&mut baz, "foo", |(s,): (String,)| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        format!("{s} - host")
    })
    .unwrap();
    let component = Component::from_file(&engine, &out).unwrap();
    let host = Host::instantiate(Store::new(&engine, State::new()), &linker, &component)
        .await
        .unwrap();
    let foo = host
        .func::<(String,), String>(Some("component:test/baz"), "foo")
        .await
        .unwrap();
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        host.call(&foo, ("call".to_string(),)),
    )
    .await
    .expect("the call did not finish")
    .unwrap();
    assert_eq!(
        answer,
        "call - entered guest - entered guest - host - exited guest - exited guest"
    );
}
