//! `isyswasfa`: the command line of isyswasfa.
//!
//! ```text
//! isyswasfa wit PATH [--world W] [--poll-suffix S]
//! isyswasfa compose ROOT.wasm -d DEP.wasm [-d DEP.wasm …] -o OUT.wasm
//! isyswasfa compose --wac FILE.wac -d ns:name=DEP.wasm [-d …] -o OUT.wasm
//! isyswasfa bundle IN.wasm -o OUT.wasm
//! isyswasfa run COMPONENT [--invoke 'interface#name(args)'] [--trap-unknown-imports] [ARGS…]
//! isyswasfa serve COMPONENT|CRATE-DIR|PYTHON-DIR [--addr 127.0.0.1:8080] [--request-timeout 30s] …
//! isyswasfa build-py PYTHON-DIR [-o app.wasm] [--world W]
//! ```
//! `wit` prints the WASI 0.2 world that a WIT world written with `async func` lowers to: what a
//! component built from it really imports and exports. `compose` plugs components together and
//! exports every isyswasfa poll function of the result. `bundle` turns a polyfilled component or
//! composition into a plain WASI 0.2 component, with an in-wasm runtime. `serve` answers HTTP requests with a
//! component's `wasi:http/handler`. `run` instantiates a component
//! with WASI and calls `wasi:cli/run` or one export, printing the result as WAVE. Logs go to stderr (`RUST_LOG` filters
//! them; `info` by default).

mod command;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

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
    Wit(command::wit::WitArgs),
    /// Compose components: plug dependencies into a root, export every poll function.
    Compose(command::compose::ComposeArgs),
    /// Bundle a polyfilled component with an in-wasm runtime: a plain WASI 0.2 component.
    Bundle(command::bundle::BundleArgs),
    /// Run a component: call `wasi:cli/run`, or the export given with `--invoke`.
    Run(command::run::RunArgs),
    /// Serve HTTP with a component that exports `wasi:http/handler@0.3.0`.
    Serve(command::serve::ServeArgs),
    /// Build a Python guest (`app.py` and `wit/`) into a component with componentize-py.
    BuildPy(command::build_py::BuildPyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or pipe gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let outcome = match &cli.command {
        Command::Wit(args) => command::wit::run(args).map(|()| ExitCode::SUCCESS),
        Command::Compose(args) => command::compose::run(args).map(|()| ExitCode::SUCCESS),
        Command::Bundle(args) => command::bundle::run(args).map(|()| ExitCode::SUCCESS),
        Command::Run(args) => command::run::run(args),
        Command::Serve(args) => command::serve::run(args),
        Command::BuildPy(args) => command::build_py::run(args).map(|()| ExitCode::SUCCESS),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
