//! `isyswasfa bundle`: composes a polyfilled component with the in-wasm runtime into a plain
//! WASI 0.2 component; the work is [`isyswasfa_bundle`]'s.

use std::path::PathBuf;

use anyhow::{Context, Result};
use isyswasfa_bundle::ExportKind;

/// Arguments of `isyswasfa bundle`.
#[derive(clap::Args)]
pub struct BundleArgs {
    /// The polyfilled component, or a composition made by `isyswasfa compose`.
    #[arg(value_name = "IN.wasm")]
    input: PathBuf,
    /// Where to write the bundle.
    #[arg(short = 'o', long, value_name = "OUT.wasm")]
    output: PathBuf,
}

/// Bundles and writes the result.
pub fn run(args: &BundleArgs) -> Result<()> {
    let name = args.input.display().to_string();
    let input = std::fs::read(&args.input).with_context(|| format!("cannot read `{name}`"))?;
    let bundle = isyswasfa_bundle::bundle(&input, &name)?;
    std::fs::write(&args.output, &bundle.bytes)
        .with_context(|| format!("cannot write the bundle to `{}`", args.output.display()))?;
    for export in &bundle.exports {
        match &export.kind {
            ExportKind::Driven { input } => {
                tracing::info!("exports `{}`: synchronous, driving `{input}`", export.name)
            }
            ExportKind::Unchanged => tracing::info!("exports `{}` unchanged", export.name),
        }
    }
    tracing::info!(
        "wrote `{}` ({} bytes): imports WASI 0.2 only",
        args.output.display(),
        bundle.bytes.len()
    );
    Ok(())
}
