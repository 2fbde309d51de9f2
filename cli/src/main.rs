//! `isyswasfa`: the command line of isyswasfa.
//!
//! ```text
//! isyswasfa wit PATH [--world W] [--poll-suffix S]
//! ```
//! prints the WASI 0.2 world that a WIT world written with `async func` lowers to: what a
//! component built from it really imports and exports.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use isyswasfa_bindgen::{LowerOptions, lower_path};

#[derive(Parser)]
#[command(
    name = "isyswasfa",
    version,
    about = "Composable async for WebAssembly components on WASI 0.2"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the lowered (WASI 0.2) form of a WIT world that uses `async func`.
    Wit(WitArgs),
}

#[derive(clap::Args)]
struct WitArgs {
    /// A WIT file, or a directory of WIT files with its dependencies in `deps/`.
    path: PathBuf,
    /// The world to lower (needed when the package has more than one).
    #[arg(long)]
    world: Option<String>,
    /// Names the poll export `isyswasfa-poll-<SUFFIX>` (default: from the package's name).
    #[arg(long)]
    poll_suffix: Option<String>,
}

fn wit(args: &WitArgs) -> anyhow::Result<()> {
    let options = match &args.poll_suffix {
        Some(suffix) => LowerOptions {
            poll_suffix: suffix.clone(),
        },
        None => LowerOptions::for_crate(&default_suffix(&args.path)),
    };
    let lowered = lower_path(&args.path, args.world.as_deref(), &options)?;
    print!("{}", lowered.to_wit()?);
    Ok(())
}

/// The guest crate's name when `path` is a crate's `wit` directory, else the directory's name:
/// the same default the `generate!` macro uses when it builds that crate.
fn default_suffix(path: &std::path::Path) -> String {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Wit(args) => wit(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
