//! Calls another component with raw protocol bindings and hands the `ready` of one of its
//! functions to the result export of another with the same result type.

wit_bindgen::generate!({
    path: ["../../protocol/wit", "wit"],
    world: "component:hostile-caller/hostile-caller",
    generate_all,
});

use std::cell::RefCell;

use component::compose::service;
use isyswasfa::isyswasfa::isyswasfa::{PollInput as Event, Poller};

thread_local! {
    static POLLER: RefCell<Option<Poller>> = const { RefCell::new(None) };
    /// What `wrong-result` ends with, once the callee answered.
    static ANSWER: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The token of the `sleep` call this guest listens to.
const SLEEP: u32 = 1;
/// The token of this guest's own `wrong-result` task.
const OWN: u32 = 2;

fn with_poller<R>(f: impl FnOnce(&Poller) -> R) -> R {
    POLLER.with(|p| {
        f(p.borrow()
            .as_ref()
            .expect("the host delivers the poller first"))
    })
}

struct Component;

impl Guest for Component {
    fn isyswasfa_poll_hostile_caller(input: Vec<PollInput>) {
        for event in input {
            match event {
                Event::Init(poller) => POLLER.with(|p| *p.borrow_mut() = Some(poller)),
                Event::Ready(ready) if ready.state == SLEEP => {
                    // The `ready` of `sleep`, given to `relay`'s result export.
                    let value = service::relay_isyswasfa_result(ready.ready);
                    ANSWER.with(|a| *a.borrow_mut() = Some(value));
                    with_poller(|p| p.task_ready(OWN));
                }
                _ => {}
            }
        }
    }

    fn wrong_result_isyswasfa_start() -> Result<String, Pending> {
        let sleeping = match service::sleep_isyswasfa_start(20) {
            Ok(done) => return Ok(format!("`sleep` finished at once: {done}")),
            Err(pending) => pending,
        };
        with_poller(|poller| {
            poller.listen(sleeping, SLEEP);
            Err(poller.start_task(OWN))
        })
    }

    fn wrong_result_isyswasfa_result(ready: Ready) -> String {
        with_poller(|poller| poller.take_result(ready));
        let answer = ANSWER.with(|a| a.borrow_mut().take()).unwrap_or_default();
        format!("`relay`'s result export gave: {answer}")
    }
}

export!(Component);
