//! `protocol_fuzz`: drives the task table and the pipe table with random sequences of protocol
//! operations from several simulated components, well-behaved and hostile, and checks the
//! invariants of DESIGN.md §2 after every step.
//!
//! Every simulated component keeps a model of the handles it holds (`pending`s, `ready`s, the
//! tokens it listens to and the tasks it implements), exactly what a guest runtime knows. Valid
//! operations must succeed, invalid ones (stale or forged reps, wrong component, wrong function,
//! double finish, unknown tokens) must fail without changing anything; every `ready` event must
//! go to the component listening with that token, once; at the end every component drops what it
//! holds and every table must be empty.
//!
//! Seeded, so failures replay: `ISYSWASFA_FUZZ_SEED` (default fixed) and `ISYSWASFA_FUZZ_OPS`
//! (default 100 000 operations per table) run other seeds or longer, e.g.
//! `ISYSWASFA_FUZZ_SEED=7 ISYSWASFA_FUZZ_OPS=10000000 cargo test -p isyswasfa-host --lib protocol_fuzz`.

use std::collections::HashMap;
use std::task::{Context, Waker};

use futures::channel::oneshot;
use wasmtime::component::Val;

use crate::limits::VALUE_CAPACITY;
use crate::pipes::element::AnyPipe;
use crate::pipes::element::End;
use crate::pipes::table::PipeTable;
use isyswasfa_protocol::pipe::Pipe;
use isyswasfa_protocol::tasks::{
    ComponentId, Event, HostFunction, TableSizes, TaskId, TaskTable, Value,
};

/// SplitMix64: small, fast, and good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Removes and returns a random element.
    fn take<T>(&mut self, items: &mut Vec<T>) -> Option<T> {
        if items.is_empty() {
            None
        } else {
            let i = self.below(items.len());
            Some(items.swap_remove(i))
        }
    }

    fn pick_key<V>(&mut self, map: &HashMap<u32, V>) -> Option<u32> {
        if map.is_empty() {
            return None;
        }
        let mut keys: Vec<u32> = map.keys().copied().collect();
        keys.sort_unstable();
        Some(keys[self.below(keys.len())])
    }
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Callee {
    Host(usize),
    Component(ComponentId, u32),
}

/// What the simulation knows about a task in flight.
struct ModelTask {
    callee: Callee,
    /// Asked to cancel (its holder dropped its handle or stopped listening).
    cancelling: bool,
}

/// One simulated component's view: the handles and tokens its runtime holds.
#[derive(Default)]
struct Component {
    pendings: Vec<TaskId>,
    readies: Vec<TaskId>,
    /// Token → task it listens to.
    listening: HashMap<u32, TaskId>,
    /// Token → (task, finished) of the tasks it implements and still runs.
    implements: HashMap<u32, (TaskId, bool)>,
    /// Tokens of cancelled tasks it dropped and must confirm.
    to_confirm: Vec<u32>,
}

const COMPONENTS: usize = 4;
const FUNCTIONS: usize = 3;

struct TaskSim {
    table: TaskTable,
    rng: Rng,
    components: Vec<Component>,
    functions: Vec<HostFunction>,
    senders: HashMap<TaskId, oneshot::Sender<Value>>,
    model: HashMap<TaskId, ModelTask>,
    /// The task the embedder awaits, by id.
    embedder: Vec<TaskId>,
    stale: Vec<TaskId>,
    next_token: u32,
    delivered: u64,
}

impl TaskSim {
    fn new(seed: u64) -> Self {
        let mut table = TaskTable::default();
        let mut components = Vec::new();
        for i in 0..COMPONENTS {
            let id = table.add_component(&format!("c{i}"));
            assert_eq!(table.take_events(id), vec![Event::Init]);
            components.push(Component::default());
        }
        Self {
            table,
            rng: Rng(seed),
            components,
            functions: (0..FUNCTIONS)
                .map(|i| HostFunction::new(&format!("f{i}")))
                .collect(),
            senders: HashMap::new(),
            model: HashMap::new(),
            embedder: Vec::new(),
            stale: Vec::new(),
            next_token: 0,
            delivered: 0,
        }
    }

    fn token(&mut self) -> u32 {
        self.next_token += 1;
        self.next_token
    }

    fn forget(&mut self, task: TaskId) {
        assert!(self.model.remove(&task).is_some(), "task {task:#x} known");
        self.senders.remove(&task);
        self.stale.push(task);
        if self.stale.len() > 256 {
            self.stale.swap_remove(0);
        }
    }

    /// Drops a handle (`pending` or uncollected `ready`) of `task`: the table cancels it.
    fn drop_handle(&mut self, task: TaskId) {
        self.table.cancel(task);
        self.cancelled(task);
    }

    /// The task's listener gave up: a host task is gone, a component task is being cancelled.
    fn cancelled(&mut self, task: TaskId) {
        match self.model.get_mut(&task).map(|t| t.callee) {
            Some(Callee::Host(_)) => self.forget(task),
            Some(Callee::Component(..)) => {
                if let Some(t) = self.model.get_mut(&task) {
                    t.cancelling = true;
                }
            }
            None => panic!("cancelling unknown task {task:#x}"),
        }
    }

    fn poll_host(&mut self) {
        let mut cx = Context::from_waker(Waker::noop());
        let _ = self.table.poll_host(&mut cx);
    }

    /// Delivers `c`'s events and checks each one against what `c` holds.
    fn deliver(&mut self, c: ComponentId) {
        for event in self.table.take_events(c) {
            match event {
                Event::Init => panic!("a second init for c{c}"),
                Event::Ready { state, task } => {
                    let listened = self.components[c].listening.remove(&state);
                    assert_eq!(
                        listened,
                        Some(task),
                        "ready for token {state} delivered to c{c}, which does not listen to \
                         that task (or it was already delivered)"
                    );
                    self.components[c].readies.push(task);
                    self.delivered += 1;
                }
                Event::Cancel { state } => {
                    let Some((task, _)) = self.components[c].implements.remove(&state) else {
                        panic!("cancel of token {state} sent to c{c}, which has no such task");
                    };
                    assert!(
                        self.model.get(&task).is_some_and(|t| t.cancelling),
                        "cancel of a task nobody cancelled"
                    );
                    self.components[c].to_confirm.push(state);
                }
            }
        }
    }

    fn step(&mut self) {
        let c = self.rng.below(COMPONENTS);
        match self.rng.below(20) {
            // A host function call: its `pending` goes to `c`.
            0 => {
                let f = self.rng.below(FUNCTIONS);
                let (tx, rx) = oneshot::channel::<Value>();
                let task = self
                    .table
                    .spawn_host(self.functions[f].clone(), async move {
                        rx.await.unwrap_or_else(|_| Box::new(()))
                    })
                    .expect("spawn_host within limits");
                self.senders.insert(task, tx);
                self.model.insert(
                    task,
                    ModelTask {
                        callee: Callee::Host(f),
                        cancelling: false,
                    },
                );
                self.components[c].pendings.push(task);
            }
            // A call of component `b`'s export that did not finish at once.
            1 => {
                let b = self.rng.below(COMPONENTS);
                let token = self.token();
                let task = self.table.start_task(b, token).expect("start_task");
                self.components[b].implements.insert(token, (task, false));
                self.model.insert(
                    task,
                    ModelTask {
                        callee: Callee::Component(b, token),
                        cancelling: false,
                    },
                );
                // Sometimes the embedder is the caller.
                if self.rng.below(4) == 0 {
                    self.table.listen_embedder(task).expect("listen_embedder");
                    self.embedder.push(task);
                } else {
                    self.components[c].pendings.push(task);
                }
            }
            2 | 3 => {
                if let Some(task) = self.rng.take(&mut self.components[c].pendings) {
                    let token = self.token();
                    self.table.listen(c, task, token).expect("listen");
                    self.components[c].listening.insert(token, task);
                }
            }
            4 => {
                if let Some(task) = self.rng.take(&mut self.components[c].pendings) {
                    self.drop_handle(task);
                }
            }
            5 => {
                let mut ids: Vec<TaskId> = self.senders.keys().copied().collect();
                ids.sort_unstable();
                if let Some(task) = self.rng.take(&mut ids)
                    && let Some(tx) = self.senders.remove(&task)
                {
                    let _ = tx.send(Box::new(task));
                    self.poll_host();
                }
            }
            6 | 7 => {
                let mine = &self.components[c].implements;
                let running: Vec<u32> = {
                    let mut v: Vec<u32> = mine
                        .iter()
                        .filter(|(_, (_, done))| !done)
                        .map(|(k, _)| *k)
                        .collect();
                    v.sort_unstable();
                    v
                };
                if !running.is_empty() {
                    let token = running[self.rng.below(running.len())];
                    self.table.task_ready(c, token).expect("task_ready");
                    if let Some(entry) = self.components[c].implements.get_mut(&token) {
                        entry.1 = true;
                    }
                }
            }
            8 | 9 => self.deliver(c),
            10 | 11 => {
                if let Some(task) = self.rng.take(&mut self.components[c].readies) {
                    self.collect(task);
                }
            }
            12 => {
                if let Some(task) = self.rng.take(&mut self.components[c].readies) {
                    self.drop_handle(task);
                }
            }
            13 => {
                if let Some(token) = self.rng.pick_key(&self.components[c].listening) {
                    let task = self.components[c].listening.remove(&token).expect("token");
                    self.table.cancel_listen(c, token).expect("cancel_listen");
                    self.cancelled(task);
                }
            }
            14 => {
                if let Some(token) = self.rng.take(&mut self.components[c].to_confirm) {
                    let task = self.table_task_of_confirmed(token);
                    self.table.task_cancelled(c, token).expect("task_cancelled");
                    self.forget(task);
                }
            }
            15 => self.embedder_step(),
            16..=19 => self.hostile(c),
            _ => unreachable!(),
        }
    }

    /// The model's task for a token a component is about to confirm.
    fn table_task_of_confirmed(&self, token: u32) -> TaskId {
        *self
            .model
            .iter()
            .find(|(_, t)| matches!(t.callee, Callee::Component(_, k) if k == token))
            .map(|(id, _)| id)
            .expect("a confirmed task is known")
    }

    /// Passes a delivered `ready` to the right result function.
    fn collect(&mut self, task: TaskId) {
        match self.model[&task].callee {
            Callee::Host(f) => {
                let value = self
                    .table
                    .take_host_value(&self.functions[f], task)
                    .expect("take_host_value");
                assert_eq!(
                    value.downcast_ref::<TaskId>(),
                    Some(&task),
                    "the task's own value"
                );
            }
            Callee::Component(b, token) => {
                assert_eq!(self.table.take_result(b, task).expect("take_result"), token);
                let (_, done) = self.components[b]
                    .implements
                    .remove(&token)
                    .expect("b's task");
                assert!(done, "a result is only delivered once the task finished");
            }
        }
        self.forget(task);
    }

    fn embedder_step(&mut self) {
        if let Some(task) = self.table.next_embedder_ready() {
            // Stale entries (calls cancelled after they finished) are skipped, as the loop does.
            if let Some(i) = self.embedder.iter().position(|t| *t == task) {
                self.embedder.swap_remove(i);
                self.collect(task);
            }
        } else if self.rng.below(3) == 0
            && let Some(task) = self.rng.take(&mut self.embedder)
        {
            // The embedder drops its call future.
            self.drop_handle(task);
        }
    }

    /// Operations a hostile guest could make; each must fail and change nothing.
    fn hostile(&mut self, c: ComponentId) {
        let before = self.table.sizes();
        let forged = if self.stale.is_empty() || self.rng.below(3) == 0 {
            self.rng.next() as u32
        } else {
            self.stale[self.rng.below(self.stale.len())]
        };
        let known = self.model.contains_key(&forged);
        let token = self.token();
        match self.rng.below(8) {
            0 if !known => {
                let err = self.table.listen(c, forged, token).unwrap_err().to_string();
                assert!(err.contains("poller.listen"), "{err}");
            }
            1 if !known => {
                assert!(self.table.take_result(c, forged).is_err());
                let f = &self.functions[self.rng.below(FUNCTIONS)];
                assert!(self.table.take_host_value(f, forged).is_err());
            }
            2 if !known => self.table.cancel(forged),
            3 => {
                assert!(self.table.cancel_listen(c, token).is_err());
                assert!(self.table.task_cancelled(c, token).is_err());
                assert!(self.table.task_ready(c, token).is_err());
            }
            4 => {
                // A `ready` passed to the wrong function or the wrong component.
                let readies = &self.components[c].readies;
                if let Some(&task) = readies.get(self.rng.below(readies.len().max(1))) {
                    match self.model[&task].callee {
                        Callee::Host(f) => {
                            let other = &self.functions[(f + 1) % FUNCTIONS];
                            let err = self.table.take_host_value(other, task).unwrap_err();
                            assert!(err.to_string().contains("belongs to a call of"), "{err}");
                            assert!(self.table.take_result(c, task).is_err());
                        }
                        Callee::Component(b, _) => {
                            let other = (b + 1) % COMPONENTS;
                            assert!(self.table.take_result(other, task).is_err());
                            assert!(
                                self.table
                                    .take_host_value(&self.functions[0], task)
                                    .is_err()
                            );
                        }
                    }
                }
            }
            5 => {
                // Finishing a finished task twice; confirming a cancellation never asked for.
                let mut done: Vec<(u32, TaskId, bool)> = self.components[c]
                    .implements
                    .iter()
                    .map(|(k, (t, d))| (*k, *t, *d))
                    .collect();
                done.sort_unstable();
                if let Some((token, task, finished)) = self.rng.take(&mut done) {
                    let cancelling = self.model[&task].cancelling;
                    if finished && !cancelling {
                        assert!(self.table.task_ready(c, token).is_err());
                    }
                    if !cancelling {
                        assert!(self.table.task_cancelled(c, token).is_err());
                    }
                }
            }
            6 => {
                // A result claimed before it was delivered (a pending's rep used as a ready).
                let pendings = &self.components[c].pendings;
                if let Some(&task) = pendings.get(self.rng.below(pendings.len().max(1)))
                    && let Callee::Component(b, _) = self.model[&task].callee
                    && !self.components[b].implements[&self.model_token(task)].1
                {
                    assert!(self.table.take_result(b, task).is_err());
                }
            }
            _ => {
                // Listening twice with the same token.
                if let Some(token) = self.rng.pick_key(&self.components[c].listening)
                    && let Some(task) = self.rng.take(&mut self.components[c].pendings)
                {
                    assert!(self.table.listen(c, task, token).is_err());
                    self.components[c].pendings.push(task);
                }
            }
        }
        assert_eq!(
            self.table.sizes(),
            before,
            "a refused operation changed the table"
        );
    }

    fn model_token(&self, task: TaskId) -> u32 {
        match self.model[&task].callee {
            Callee::Component(_, token) => token,
            Callee::Host(_) => unreachable!(),
        }
    }

    /// Every component drops everything; the embedder too. Checks that every listened task
    /// that finished was delivered, then that the table is empty.
    fn drain(&mut self) {
        for round in 0.. {
            assert!(round < 100, "the table does not drain");
            // Finish everything that runs, deliver, and check what is still listened to.
            for tx in std::mem::take(&mut self.senders).into_iter() {
                let (task, tx) = tx;
                let _ = tx.send(Box::new(task));
            }
            self.poll_host();
            for c in 0..COMPONENTS {
                let running: Vec<u32> = self.components[c]
                    .implements
                    .iter()
                    .filter(|(_, (_, done))| !done)
                    .map(|(k, _)| *k)
                    .collect();
                for token in running {
                    self.table.task_ready(c, token).expect("task_ready");
                    if let Some(entry) = self.components[c].implements.get_mut(&token) {
                        entry.1 = true;
                    }
                }
            }
            for c in 0..COMPONENTS {
                self.deliver(c);
                // Exactly once: a listened task that finished has been delivered by now.
                for task in self.components[c].listening.values() {
                    assert!(
                        self.model[task].cancelling,
                        "task {task:#x} finished but its ready never reached c{c}"
                    );
                }
            }
            while let Some(task) = self.table.next_embedder_ready() {
                if let Some(i) = self.embedder.iter().position(|t| *t == task) {
                    self.embedder.swap_remove(i);
                    self.collect(task);
                }
            }
            for c in 0..COMPONENTS {
                for task in std::mem::take(&mut self.components[c].pendings) {
                    self.drop_handle(task);
                }
                for task in std::mem::take(&mut self.components[c].readies) {
                    self.collect(task);
                }
                let tokens: Vec<u32> = self.components[c].listening.keys().copied().collect();
                for token in tokens {
                    let task = self.components[c].listening.remove(&token).expect("token");
                    self.table.cancel_listen(c, token).expect("cancel_listen");
                    self.cancelled(task);
                }
            }
            for task in std::mem::take(&mut self.embedder) {
                self.drop_handle(task);
            }
            for c in 0..COMPONENTS {
                self.deliver(c);
                for token in std::mem::take(&mut self.components[c].to_confirm) {
                    let task = self.table_task_of_confirmed(token);
                    self.table.task_cancelled(c, token).expect("task_cancelled");
                    self.forget(task);
                }
            }
            self.poll_host();
            if self.model.is_empty() {
                break;
            }
        }
        while self.table.next_embedder_ready().is_some() {}
        assert_eq!(self.table.sizes(), TableSizes::default());
    }
}

/// A pipe as the simulation sees it: which ends are still in the table, and the sequence
/// numbers written and read so far.
struct SimPipe {
    pipe: std::sync::Arc<Pipe<Val>>,
    reader: Option<u32>,
    writer: Option<u32>,
    written: u32,
    read: u32,
}

fn pipe_step(rng: &mut Rng, table: &mut PipeTable, pipes: &mut Vec<SimPipe>) {
    if pipes.is_empty() || rng.below(10) == 0 {
        let pipe = Pipe::<Val>::new(VALUE_CAPACITY);
        let writer = table.insert(AnyPipe::Values(pipe.clone()), End::Writer);
        let reader = table.insert(AnyPipe::Values(pipe.clone()), End::Reader);
        pipes.push(SimPipe {
            pipe,
            reader: Some(reader),
            writer: Some(writer),
            written: 0,
            read: 0,
        });
        return;
    }
    let i = rng.below(pipes.len());
    let p = &mut pipes[i];
    match rng.below(6) {
        0 | 1 => {
            let Some(rep) = p.writer else { return };
            let AnyPipe::Values(pipe) = table.get(rep, End::Writer).expect("writer") else {
                panic!("not a value pipe");
            };
            let n = rng.below(3 * VALUE_CAPACITY) as u32;
            let values: Vec<Val> = (p.written..p.written + n).map(Val::U32).collect();
            let before = pipe.len();
            match pipe.push(values) {
                Ok(excess) => {
                    let accepted = n as usize - excess.len();
                    assert_eq!(accepted, (VALUE_CAPACITY - before).min(n as usize));
                    p.written += accepted as u32;
                }
                Err(all) => {
                    assert!(p.reader.is_none(), "a write failed with the reader open");
                    assert_eq!(all.len(), n as usize);
                }
            }
        }
        2 | 3 => {
            let Some(rep) = p.reader else { return };
            let AnyPipe::Values(pipe) = table.get(rep, End::Reader).expect("reader") else {
                panic!("not a value pipe");
            };
            match pipe.take(rng.below(2 * VALUE_CAPACITY)) {
                Some(values) => {
                    for value in values {
                        assert_eq!(value, Val::U32(p.read), "values arrive in order, once");
                        p.read += 1;
                    }
                }
                None => assert!(p.writer.is_none() && p.read == p.written),
            }
        }
        4 => {
            if let Some(rep) = p.reader.take() {
                table.close(rep, End::Reader).expect("close reader");
                assert!(table.get(rep, End::Reader).is_err(), "a closed end is gone");
            }
        }
        _ => {
            if let Some(rep) = p.writer.take() {
                // Sometimes the end is handed over (to the embedder) instead of closed.
                if rng.below(2) == 0 {
                    table.close(rep, End::Writer).expect("close writer");
                } else {
                    table
                        .remove(rep, End::Writer)
                        .expect("hand over")
                        .close(End::Writer);
                }
            }
        }
    }
    let p = &pipes[i];
    assert!(
        p.pipe.len() <= p.pipe.capacity(),
        "the buffer exceeds its capacity"
    );
    if p.reader.is_none() && p.writer.is_none() {
        assert_eq!(p.pipe.len(), 0, "a pipe without reader holds nothing");
        pipes.swap_remove(i);
    }
}

#[test]
fn protocol_fuzz() {
    let seed = env_or("ISYSWASFA_FUZZ_SEED", 0x1575_7A5F);
    let ops = env_or("ISYSWASFA_FUZZ_OPS", 100_000);

    let mut sim = TaskSim::new(seed);
    for _ in 0..ops {
        sim.step();
    }
    let delivered = sim.delivered;
    sim.drain();
    assert!(
        delivered > 1000,
        "the run delivered only {delivered} ready events"
    );

    let mut rng = Rng(seed ^ 0xD1B5_4A32_D192_ED03);
    let mut table = PipeTable::default();
    let mut pipes = Vec::new();
    for _ in 0..ops {
        pipe_step(&mut rng, &mut table, &mut pipes);
    }
    for p in pipes.drain(..) {
        for (rep, end) in [(p.reader, End::Reader), (p.writer, End::Writer)] {
            if let Some(rep) = rep {
                table.close(rep, end).expect("close");
            }
        }
        assert_eq!(p.pipe.len(), 0);
    }
    assert_eq!(table.len(), 0);
    assert_eq!(
        table.discarded_len(),
        0,
        "values without resources are not queued"
    );
}
