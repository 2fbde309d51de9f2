//! Exported resources lent to running async methods: the component model's borrow rule.
//!
//! A caller lends a resource to an async method only for the method's start half: once `-start`
//! has returned `pending`, the caller may drop its handle while the method still runs. The
//! component model forbids destroying a resource while a call it was lent to is in flight; this
//! runtime keeps that rule by **deferring the drop**: the resource's value lives in a reference
//! count shared by its handle and by every async method call running on it, so a handle dropped
//! early only gives up its share, and the value (with its destructor) goes when the last running
//! method finishes. The method never sees freed memory.
//!
//! The generated bindings place every exported resource that has async methods here
//! (`resource_into_raw_` / `resource_from_raw_` of wit-bindgen's resource traits) and make each
//! async method hold a [`Lent`] share for as long as it runs.
//!
//! What stays as in wit-bindgen: `into_inner` / `get_mut` on the owned handle of a resource whose
//! async method is running, from the component's own code, take or change the value under the
//! method's feet; `Lent::get` then panics (a trap) rather than read a taken value.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

#[derive(Default)]
struct Reps {
    /// The address of each live resource's value → its rep (the `Rc`'s pointer).
    by_value: HashMap<usize, usize>,
    /// Each live rep → the address of its value (to forget it even after `into_inner`).
    by_rep: HashMap<usize, usize>,
}

thread_local! {
    static REPS: RefCell<Reps> = RefCell::default();
}

/// `resource_into_raw_`: places a new resource's value in a shared allocation; the pointer is the
/// resource's rep.
///
/// # Safety
/// The pointer must only be released with [`from_raw`], once.
pub unsafe fn into_raw<T: 'static>(value: Option<T>) -> *mut Option<T> {
    let rep = Rc::into_raw(Rc::new(value)).cast_mut();
    // SAFETY: `rep` points to the value just placed in the allocation.
    if let Some(inner) = unsafe { (*rep).as_ref() } {
        let (inner, rep) = (inner as *const T as usize, rep as usize);
        REPS.with(|reps| {
            let mut reps = reps.borrow_mut();
            reps.by_value.insert(inner, rep);
            reps.by_rep.insert(rep, inner);
        });
    }
    rep
}

/// `resource_from_raw_` (the resource's destructor): gives up the handle's share. Returns the
/// value to drop now when no async method runs on it; otherwise `None`, and the value is dropped
/// when the last method call lent it finishes.
///
/// # Safety
/// `rep` must come from [`into_raw`] and not have been released yet.
pub unsafe fn from_raw<T: 'static>(rep: *mut Option<T>) -> Option<T> {
    REPS.with(|reps| {
        let mut reps = reps.borrow_mut();
        if let Some(inner) = reps.by_rep.remove(&(rep as usize)) {
            reps.by_value.remove(&inner);
        }
    });
    // SAFETY: the handle's share, created by `into_raw`.
    let shared = unsafe { Rc::from_raw(rep.cast_const()) };
    Rc::try_unwrap(shared).unwrap_or_default()
}

/// A share of a resource lent to a running async method: keeps its value alive.
pub struct Lent<T: 'static> {
    shared: Rc<Option<T>>,
}

impl<T: 'static> Lent<T> {
    /// The resource's value.
    pub fn get(&self) -> &T {
        match self.shared.as_ref() {
            Some(value) => value,
            None => panic!(
                "isyswasfa: the resource `{}` was taken out of its handle (`into_inner`) while \
                 an async method ran on it",
                std::any::type_name::<T>()
            ),
        }
    }
}

/// Takes a share of the resource whose value is `value` (the `&self` of an async method's start
/// half), for the method's whole run.
pub fn lend<T: 'static>(value: &T) -> Lent<T> {
    let rep = REPS.with(|reps| {
        reps.borrow()
            .by_value
            .get(&(value as *const T as usize))
            .copied()
    });
    let Some(rep) = rep else {
        panic!(
            "isyswasfa: an async method of `{}` was called on a value that is not a live resource \
             of this component",
            std::any::type_name::<T>()
        )
    };
    let rep = rep as *const Option<T>;
    // SAFETY: `rep` is live (it is in the table, so its handle's share has not been released)
    // and was created by `into_raw` for this `T` (the value's address is unique to it).
    let shared = unsafe {
        Rc::increment_strong_count(rep);
        Rc::from_raw(rep)
    };
    Lent { shared }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    struct Counted<'a>(u32, &'a Cell<u32>);

    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.1.set(self.1.get() + 1);
        }
    }

    #[test]
    fn drop_waits_for_the_last_lent_share() {
        thread_local!(static DROPS: Cell<u32> = const { Cell::new(0) });
        DROPS.with(|drops| {
            // SAFETY: the thread-local outlives everything below.
            let drops: &'static Cell<u32> = unsafe { &*(drops as *const Cell<u32>) };
            let rep = unsafe { into_raw(Some(Counted(7, drops))) };
            let value = unsafe { (*rep).as_ref().unwrap() };
            let lent = lend(value);
            // The handle goes first: nothing is dropped, the method still reads its value.
            assert!(unsafe { from_raw(rep) }.is_none());
            assert_eq!(drops.get(), 0);
            assert_eq!(lent.get().0, 7);
            drop(lent);
            assert_eq!(drops.get(), 1);
            // Not lent: the handle's drop returns the value.
            let rep = unsafe { into_raw(Some(Counted(8, drops))) };
            let value = unsafe { from_raw(rep) };
            assert_eq!(value.as_ref().map(|v| v.0), Some(8));
            drop(value);
            assert_eq!(drops.get(), 2);
            REPS.with(|reps| assert!(reps.borrow().by_value.is_empty()));
        });
    }
}
