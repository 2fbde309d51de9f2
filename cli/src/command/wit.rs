//! `isyswasfa wit`: prints the WASI 0.2 world a WIT world written with `async func` lowers to.

use std::path::{Path, PathBuf};

use isyswasfa_bindgen::{LowerOptions, lower_path};

/// Arguments of `isyswasfa wit`.
#[derive(clap::Args)]
pub struct WitArgs {
    /// A WIT file, or a directory of WIT files with its dependencies in `deps/`. The
    /// `wasi:*@0.3.0` packages isyswasfa ships (built in) are used when it lacks them.
    path: PathBuf,
    /// The world to lower (needed when the package has more than one).
    #[arg(long)]
    world: Option<String>,
    /// Names the poll export `isyswasfa-poll-<SUFFIX>` (default: from the package's name).
    #[arg(long)]
    poll_suffix: Option<String>,
    /// Write the lowered world as a WIT directory instead of printing it: its package in
    /// `DIR/<name>.wit`, every package it needs (the isyswasfa protocol, the pipes, `wasi:io`, …)
    /// in `DIR/deps/`, ready for other bindings generators (e.g. `componentize-py -d DIR`).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

/// Prints the lowered world.
pub fn run(args: &WitArgs) -> anyhow::Result<()> {
    let options = match &args.poll_suffix {
        Some(suffix) => LowerOptions {
            poll_suffix: suffix.clone(),
        },
        None => LowerOptions::for_crate(&default_suffix(&args.path)),
    };
    let lowered = lower_path(&args.path, args.world.as_deref(), &options)?;
    match &args.out_dir {
        Some(dir) => {
            for file in lowered.write_wit_dir(dir)? {
                println!("{}", file.display());
            }
        }
        None => print!("{}", lowered.to_wit()?),
    }
    Ok(())
}

/// The guest crate's name when `path` is a crate's `wit` directory, else the directory's name:
/// the same default the `generate!` macro uses when it builds that crate.
fn default_suffix(path: &Path) -> String {
    let dir = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let crate_dir = if dir.is_dir() {
        dir.parent()
    } else {
        dir.parent().and_then(|d| d.parent())
    };
    crate_dir
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "component".to_string())
}
