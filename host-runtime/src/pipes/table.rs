//! The pipe ends a store's guests hold, by resource rep, and the values their readers dropped
//! unread (kept until the host can release the resources inside them).

use std::sync::Arc;

use wasmtime::{Result, bail, format_err};

use crate::pipes::byte_list::ByteBudget;
use crate::pipes::capacity::StreamCapacities;
use crate::pipes::discarded::Discarded;
use crate::pipes::element::AnyPipe;
use crate::pipes::element::End;

/// The pipe ends that components (or the embedder, before handing them over) hold, by the `rep`
/// of their resource handles. Dropping the table (with its store) closes every end it holds, so
/// the embedder's ends of those pipes see the end of the stream or a closed pipe.
#[derive(Default)]
pub(crate) struct PipeTable {
    ends: Vec<Option<(AnyPipe, End)>>,
    free: Vec<u32>,
    live: usize,
    pub(crate) discarded: Arc<Discarded>,
    /// The buffer sizes of the pipes `new` makes.
    pub(crate) capacities: StreamCapacities,
    /// The bytes the store's guests keep in `stream<list<u8>>` pipes, against the store's budget.
    pub(crate) byte_budget: Arc<ByteBudget>,
}

impl Drop for PipeTable {
    fn drop(&mut self) {
        self.close_all();
    }
}

impl PipeTable {
    /// The queue of values closed pipes left behind, for the event loop to wait on
    /// ([`Discarded::ready`]) without borrowing the store.
    pub fn discarded(&self) -> Arc<Discarded> {
        Arc::clone(&self.discarded)
    }

    /// How many values wait for [`release_discarded`].
    pub fn discarded_len(&self) -> usize {
        self.discarded.lock().len()
    }

    /// Adds an end; returns its rep. A pipe of `Val`s sends the values it drops unread to this
    /// table's discard queue, so that their resources are released.
    pub fn insert(&mut self, pipe: AnyPipe, end: End) -> u32 {
        pipe.attach(&self.discarded);
        self.live += 1;
        match self.free.pop() {
            Some(rep) => {
                self.ends[rep as usize] = Some((pipe, end));
                rep
            }
            None => {
                self.ends.push(Some((pipe, end)));
                (self.ends.len() - 1) as u32
            }
        }
    }

    /// The pipe behind a handle, checking which end it is.
    pub fn get(&self, rep: u32, end: End) -> Result<&AnyPipe> {
        match self.ends.get(rep as usize) {
            Some(Some((pipe, e))) if *e == end => Ok(pipe),
            _ => bail!("isyswasfa: no pipe {end:?} with handle {rep}"),
        }
    }

    /// The pipe behind a handle given to `call`, an operation of the pipe interface `payload`:
    /// checks which end it is and that the pipe carries that payload (a guest can pass the end of
    /// one pipe interface as another's, since every interface's ends are the same host resource;
    /// the first typed use of a pipe the host made binds it).
    pub fn get_for(&self, rep: u32, end: End, payload: &Arc<str>, call: &str) -> Result<&AnyPipe> {
        let pipe = self.get(rep, end)?;
        pipe.bind(payload).map_err(|carried| {
            format_err!(
                "isyswasfa: `{call}` was given a pipe of `{carried}`: a pipe made for one \
                 payload type never carries another"
            )
        })?;
        Ok(pipe)
    }

    /// [`PipeTable::get_for`], then removes the end from the table without closing it.
    pub fn remove_for(
        &mut self,
        rep: u32,
        end: End,
        payload: &Arc<str>,
        call: &str,
    ) -> Result<AnyPipe> {
        self.get_for(rep, end, payload, call)?;
        self.remove(rep, end)
    }

    /// Removes an end from the table without closing it (it changes hands).
    pub fn remove(&mut self, rep: u32, end: End) -> Result<AnyPipe> {
        self.get(rep, end)?;
        let (pipe, _) = self.ends[rep as usize]
            .take()
            .ok_or_else(|| format_err!("isyswasfa: pipe handle {rep} vanished"))?;
        self.free.push(rep);
        self.live -= 1;
        Ok(pipe)
    }

    /// Removes an end and closes it (its holder dropped it).
    pub fn close(&mut self, rep: u32, end: End) -> Result<()> {
        let pipe = self.remove(rep, end)?;
        pipe.close(end);
        Ok(())
    }

    /// Closes every end the table holds (the store is broken or going away): the other ends see
    /// the end of the stream, or a closed pipe. Values waiting for release are dropped with them.
    pub fn close_all(&mut self) {
        self.free.clear();
        self.live = 0;
        // The store's ends go away without their component ending them: a writer that had not
        // closed its end did not finish its stream, and its reader must be able to tell.
        for (pipe, end) in self.ends.drain(..).flatten() {
            pipe.fail(end);
        }
        self.discarded.lock().clear();
    }

    /// How many ends the table holds.
    pub fn len(&self) -> usize {
        self.live
    }
}
