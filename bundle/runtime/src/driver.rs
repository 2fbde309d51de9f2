//! The `isyswasfa:bundle/driver` interface: what the generated driver asks between its calls
//! of the components.

use isyswasfa_protocol::context::Running;

use crate::Runtime;
use crate::bindings::exports::isyswasfa::bundle::driver::{
    Delivery, Guest, NextStep as Step, Pending,
};
use crate::protocol::{PendingTask, ReadyTask, lower};
use crate::state::{self, check, trap};

enum Next {
    Deliver(usize, Vec<isyswasfa_protocol::tasks::Event>),
    Done(u32),
    Run,
}

impl Guest for Runtime {
    fn register(name: String) -> u32 {
        state::with(|s| s.tasks.add_component(&name) as u32)
    }

    fn enter(name: String) {
        state::with(|s| {
            s.running = Running::Export(name.clone());
            s.export = Some(name);
        });
    }

    fn leave() {
        state::with(|s| {
            s.running = Running::Idle;
            s.export = None;
        });
    }

    fn listen(task: Pending) -> u32 {
        let id = PendingTask::take(task);
        state::with(|s| check(s.tasks.listen_embedder(id)));
        id
    }

    fn step(waiting_for: Option<u32>) -> Step {
        loop {
            let next = state::with(|s| {
                // The driver's poll export call (if any) has returned.
                s.running = match &s.export {
                    Some(export) => Running::Export(export.clone()),
                    None => Running::Idle,
                };
                if let Some(task) = waiting_for {
                    while let Some(done) = s.tasks.next_embedder_ready() {
                        if done == task {
                            return Next::Done(done);
                        }
                        // A task of an earlier call nobody waits for any more.
                        s.tasks.cancel(done);
                    }
                }
                let count = s.tasks.component_count();
                for offset in 0..count {
                    let component = (s.next_component + offset) % count;
                    if s.tasks.has_events(component) {
                        s.next_component = (component + 1) % count;
                        s.running = Running::Poll(component);
                        return Next::Deliver(component, s.tasks.take_events(component));
                    }
                }
                Next::Run
            });
            match next {
                Next::Deliver(component, events) => {
                    return Step::Deliver(Delivery {
                        component: component as u32,
                        events: lower(component, events),
                    });
                }
                Next::Done(task) => return Step::Done(ReadyTask::handle(task)),
                Next::Run => {}
            }
            if state::drive(waiting_for.is_some()) {
                continue;
            }
            if waiting_for.is_none() {
                return Step::Idle;
            }
            let export = state::with(|s| s.export.clone()).unwrap_or_default();
            trap(format!(
                "isyswasfa: the call to `{export}` can never finish: it waits for a task that \
                 nothing is running"
            ));
        }
    }
}
