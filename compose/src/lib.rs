//! isyswasfa's composition library: plugs components into one another with `wac-graph`, and
//! exports the poll function of every isyswasfa component of the result next to the root's
//! exports. The `isyswasfa compose` command is a thin caller of this crate; it needs neither the
//! host runtime nor the command line.
//!
//! Two ways in, both taking [`Component`]s (bytes and a name for messages) and returning a
//! [`Composition`] (the composed bytes, the [`Plug`]s made and the [`PollExport`]s):
//! - [`compose`]: a root component and a list of dependencies, plugged by name (the
//!   `isyswasfa compose ROOT -d DEP…` command line);
//! - [`compose_wac`]: a WAC document describing an arbitrary graph (`--wac FILE`).
//!
//! ```no_run
//! use isyswasfa_compose::{Component, compose};
//!
//! # fn main() -> anyhow::Result<()> {
//! let root = Component::read("caller.wasm".as_ref())?;
//! let callee = Component::read("callee.wasm".as_ref())?;
//! let composition = compose(&root, &[callee])?;
//! for plug in &composition.plugs {
//!     println!("plugged {plug}");
//! }
//! composition.write("composed.wasm".as_ref())?;
//! # Ok(())
//! # }
//! ```
//!
//! # The plugging order
//! The root comes first, then the dependencies in the order given. Each import of a component is
//! plugged with the **first dependency listed after that component** that exports an item of the
//! same name (or of a semver-compatible name). An import that no later dependency exports stays an
//! import of the composition, for the host to provide. This is the rule a linker applies to
//! libraries, and it turns a repeated dependency into a chain: with `-d X -d X`, the root's import
//! is plugged with the first X, the first X's import with the second X, and the second X's import
//! is left to the host. A composition built this way cannot contain a cycle. Every dependency must
//! plug at least one import, and a name match with a different type is an error, never skipped.
//!
//! # Poll exports
//! The host delivers events to an isyswasfa component through its export named
//! `isyswasfa-poll…` (see [`POLL_EXPORT_PREFIX`]) and finds those exports by that prefix. Every
//! instance's poll export is therefore exported by the composition; when two instances export the
//! same name (the same component instantiated twice, or two components sharing a suffix), the later
//! ones are exported as `NAME-2`, `NAME-3`, … and the renaming is logged at `info` level. A plain
//! WASI 0.2 component has no poll export and composes all the same.
//!
//! # A workaround
//! wac-graph 0.12 panics when it has to import, at the composition's top level, a type that refers
//! to a resource (every isyswasfa component has one: the poll function's `isyswasfa-poll-input`).
//! `type_imports` satisfies such imports itself, from an explicit import of the interface the type
//! comes from; the result is the same component type.

#![warn(missing_docs)]

mod encode;
mod plug;
mod poll;
mod type_imports;
mod wac;

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result, bail};

pub use plug::compose;
pub use wac::compose_wac;

/// Runs `compose` (a composition of `inputs`, as messages name them) and turns a panic inside it
/// (wac-graph and wac-parser assert and panic on some inputs they cannot encode) into an error
/// naming the inputs, so that a caller (a server composing on demand, say) is not taken down.
fn guarded<T>(inputs: impl FnOnce() -> String, compose: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(compose)) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(no message)");
            bail!(
                "composing {} failed inside wac-graph, which panicked: {message} (a wac-graph \
                 limitation or bug these inputs run into)",
                inputs()
            )
        }
    }
}

/// What every isyswasfa component's poll export is named after (`isyswasfa-poll-<suffix>`).
pub use isyswasfa_protocol::names::POLL_PREFIX as POLL_EXPORT_PREFIX;

/// A component to compose: its bytes and the name messages call it by (usually its file path).
#[derive(Clone, Debug)]
pub struct Component {
    name: String,
    bytes: Vec<u8>,
}

impl Component {
    /// A component named `name` in messages.
    pub fn new(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            bytes: bytes.into(),
        }
    }

    /// Reads the component at `path`; messages call it by that path.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read component `{}`", path.display()))?;
        Ok(Self::new(path.display().to_string(), bytes))
    }

    /// The name messages call this component by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The component's binary.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The composed component and how it was put together.
#[derive(Clone, Debug)]
pub struct Composition {
    /// The composed component's binary.
    pub bytes: Vec<u8>,
    /// Every import that was plugged with another instance's export.
    pub plugs: Vec<Plug>,
    /// Every poll export of the composition, in instance order.
    pub poll_exports: Vec<PollExport>,
}

impl Composition {
    /// Writes the composed component to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, &self.bytes).with_context(|| {
            format!(
                "cannot write the composed component to `{}`",
                path.display()
            )
        })
    }
}

/// One import of an instance plugged with an export of another instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plug {
    /// The importing instance (as [`Instance`] displays it).
    pub importer: String,
    /// The import's name.
    pub import: String,
    /// The instance whose export fills the import.
    pub exporter: String,
    /// The export's name (the import's, or a semver-compatible one).
    pub export: String,
}

impl fmt::Display for Plug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` of {} ← {}",
            self.import, self.importer, self.exporter
        )?;
        if self.export != self.import {
            write!(f, " (as `{}`)", self.export)?;
        }
        Ok(())
    }
}

/// One poll export of the composition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollExport {
    /// The instance it belongs to (as [`Instance`] displays it).
    pub instance: String,
    /// The name the instance's component exports it under.
    pub original: String,
    /// The name the composition exports it under (differs when the original was taken).
    pub name: String,
}

/// How messages name an instance of the composition.
#[derive(Clone, Debug)]
pub(crate) enum Instance {
    /// The root of a command-line composition.
    Root { file: String },
    /// The `position`-th dependency (from 1) of a command-line composition.
    Dependency { position: usize, file: String },
    /// An instantiation of a package in a WAC document, `variable` when a `let` names it.
    Package {
        variable: Option<String>,
        package: String,
        file: String,
    },
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Instance::Root { file } => write!(f, "root `{file}`"),
            Instance::Dependency { position, file } => {
                write!(f, "dependency {position} `{file}`")
            }
            Instance::Package {
                variable: Some(variable),
                package,
                file,
            } => write!(f, "instance `{variable}` of `{package}` (`{file}`)"),
            Instance::Package {
                variable: None,
                package,
                file,
            } => write!(f, "an instance of `{package}` (`{file}`)"),
        }
    }
}
