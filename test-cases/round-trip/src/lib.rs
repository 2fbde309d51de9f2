//! Awaits a timer, then an import, and says so in its answer.

isyswasfa_guest::generate!({ path: "wit", world: "round-trip", generate_all });

struct Component;

impl exports::component::test::baz::Guest for Component {
    async fn foo(s: String) -> String {
        wasi::clocks::monotonic_clock::wait_for(10_000_000).await;
        let inner = component::test::baz::foo(format!("{s} - entered guest")).await;
        format!("{inner} - exited guest")
    }
}

export!(Component);
