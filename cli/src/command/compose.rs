//! `isyswasfa compose`: plugs dependencies into a root component (or follows a WAC document)
//! and writes the composed component; the rules are in [`isyswasfa_compose`].

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use isyswasfa_compose::{self as compose, Component, Composition};

/// Arguments of `isyswasfa compose`.
#[derive(clap::Args)]
pub struct ComposeArgs {
    /// The root component: the composition exports its exports.
    #[arg(
        value_name = "ROOT.wasm",
        required_unless_present = "wac",
        conflicts_with = "wac"
    )]
    root: Option<PathBuf>,
    /// A dependency. Each import is plugged with the first dependency listed after its importer
    /// that exports it, so `-d X -d X` makes a chain. With `--wac`: `namespace:name=FILE.wasm`.
    #[arg(short = 'd', long = "dep", value_name = "DEP.wasm")]
    dependencies: Vec<PathBuf>,
    /// Composes the graph a WAC document describes instead of a root and dependencies.
    #[arg(long, value_name = "FILE.wac")]
    wac: Option<PathBuf>,
    /// Where to write the composed component.
    #[arg(short = 'o', long, value_name = "OUT.wasm")]
    output: PathBuf,
}

/// Composes and writes the result.
pub fn run(args: &ComposeArgs) -> Result<()> {
    let composition = match (&args.root, &args.wac) {
        (_, Some(document)) => compose_wac(document, &args.dependencies)?,
        (Some(root), None) => {
            let root = Component::read(root)?;
            let dependencies = args
                .dependencies
                .iter()
                .map(|path| Component::read(path))
                .collect::<Result<Vec<_>>>()?;
            compose::compose(&root, &dependencies)?
        }
        (None, None) => bail!("give a root component or `--wac FILE`"),
    };
    for plug in &composition.plugs {
        tracing::info!("plugged {plug}");
    }
    composition.write(&args.output)?;
    let polls: Vec<&str> = composition
        .poll_exports
        .iter()
        .map(|poll| poll.name.as_str())
        .collect();
    tracing::info!(
        "wrote `{}` ({} bytes; poll exports: {})",
        args.output.display(),
        composition.bytes.len(),
        if polls.is_empty() {
            "none".to_string()
        } else {
            polls.join(", ")
        }
    );
    Ok(())
}

fn compose_wac(document: &Path, packages: &[PathBuf]) -> Result<Composition> {
    let source = std::fs::read_to_string(document)
        .with_context(|| format!("cannot read WAC document `{}`", document.display()))?;
    let packages = packages
        .iter()
        .map(|package| {
            let text = package.to_string_lossy();
            let Some((key, file)) = text.split_once('=') else {
                bail!("with `--wac`, a dependency is `namespace:name=FILE.wasm`, not `{text}`");
            };
            Ok((key.to_string(), Component::read(Path::new(file))?))
        })
        .collect::<Result<Vec<_>>>()?;
    compose::compose_wac(&document.display().to_string(), &source, &packages)
}
