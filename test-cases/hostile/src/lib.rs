//! A guest that speaks the isyswasfa protocol with its own raw bindings and breaks its rules on
//! demand: every attack must end in a clear error naming the protocol call and the component,
//! and break nothing but this guest's own store.

wit_bindgen::generate!({
    path: ["../../wit/isyswasfa", "wit"],
    world: "component:hostile/hostile",
    generate_all,
});

use std::cell::{Cell, RefCell};

use isyswasfa::isyswasfa::isyswasfa::{Pending, Poller};

thread_local! {
    static POLLER: RefCell<Option<Poller>> = const { RefCell::new(None) };
    static MODE: RefCell<String> = RefCell::new("normal".into());
    static POLLS: Cell<u64> = const { Cell::new(0) };
    /// Handles kept across calls (so that they can be used again after they went stale).
    static KEPT: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
}

fn with_poller<R>(f: impl FnOnce(&Poller) -> R) -> R {
    POLLER.with(|p| {
        f(p.borrow()
            .as_ref()
            .expect("the host delivers the poller first"))
    })
}

struct Component;

impl Guest for Component {
    fn isyswasfa_poll_hostile(input: Vec<PollInput>) {
        POLLS.with(|p| p.set(p.get() + 1));
        for event in input {
            if let PollInput::Init(poller) = event {
                POLLER.with(|p| *p.borrow_mut() = Some(poller));
            }
        }
        match MODE.with(|m| m.borrow().clone()).as_str() {
            // Never done: asks to be polled again every time.
            "run-again" => with_poller(|p| p.run_again()),
            "trap" => panic!("hostile: trap in the poll export"),
            _ => {}
        }
    }

    fn set_poll_mode(mode: String) {
        MODE.with(|m| *m.borrow_mut() = mode.clone());
        if mode == "run-again" || mode == "trap" {
            with_poller(|p| p.run_again());
        }
    }

    fn polls() -> u64 {
        POLLS.with(Cell::get)
    }

    fn attack(which: String) {
        with_poller(|poller| match which.as_str() {
            // `task-ready` for a task it never started.
            "unknown-task" => poller.task_ready(999),
            // Confirms a cancellation nobody asked for, to free a task its caller waits for.
            "unasked-cancel" => {
                let pending = poller.start_task(1);
                KEPT.with(|k| k.borrow_mut().push(pending));
                poller.task_cancelled(1);
            }
            // Finishes the same task twice.
            "double-ready" => {
                let pending = poller.start_task(2);
                KEPT.with(|k| k.borrow_mut().push(pending));
                poller.task_ready(2);
                poller.task_ready(2);
            }
            // Uses one token for two tasks.
            "token-reuse" => {
                let first = poller.start_task(3);
                let second = poller.start_task(3);
                KEPT.with(|k| k.borrow_mut().extend([first, second]));
            }
            // Starts tasks until the host's cap stops it.
            "task-flood" => {
                for state in 100.. {
                    let pending = poller.start_task(state);
                    KEPT.with(|k| k.borrow_mut().push(pending));
                }
            }
            // Listens to tasks that never finish, until the host's cap stops it (as a loop of
            // far-future waits would).
            "listen-flood" => {
                for state in 1000.. {
                    let pending = poller.start_task(state);
                    poller.listen(pending, state);
                }
            }
            // Listens to its own task twice under the same token.
            "listen-token-reuse" => {
                let first = poller.start_task(4);
                let second = poller.start_task(5);
                poller.listen(first, 7);
                poller.listen(second, 7);
            }
            // A handle it never received (a forged table index).
            "forged-handle" => {
                // SAFETY (for the guest): deliberately wrong; the host must refuse it.
                let forged = unsafe { Pending::from_handle(0x7fff) };
                poller.listen(forged, 8);
            }
            // Waits inside a synchronous export for nothing the host could finish.
            "block-on-nothing" => {
                let _ = poller.block(&[]);
            }
            other => panic!("hostile: no attack `{other}`"),
        })
    }
}

export!(Component);
