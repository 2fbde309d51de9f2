//! `isyswasfa run`: instantiate a (composed) component with WASI and call one of its exports,
//! as `wasmtime run` does.
//!
//! Without `--invoke` it runs `wasi:cli/run`: the WASI 0.2 synchronous `run`, or the lowered
//! WASI 0.3 `async func run`. With `--invoke 'name(args)'` (or `'interface#name(args)'`) it
//! calls that export, async or sync, with arguments written as WAVE values, and prints the
//! result as WAVE. The exit code follows the run: 0 when it succeeded, 1 when `run` returned an
//! error or anything trapped.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use isyswasfa::serve::NativeState;
use isyswasfa::wasi_options::{WasiOption, WasiOptions};
use isyswasfa_host::{Host, IsyswasfaCtx, POLL_PREFIX, RESULT_SUFFIX, START_SUFFIX, State};
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::wasm_wave::untyped::UntypedFuncCall;
use wasmtime::component::{Component, Type, Val};
use wasmtime::{Engine, Store};

/// Arguments of `isyswasfa run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The component to run (as built, or composed by `isyswasfa compose`).
    pub component: PathBuf,
    /// Call this export instead of `wasi:cli/run`: `name(args)` or `interface#name(args)`,
    /// with the arguments written as WAVE values, e.g. `'component:test/baz#foo("hi")'`.
    #[arg(long, value_name = "CALL")]
    pub invoke: Option<String>,
    /// Define every import the host does not provide as a function that traps when called.
    #[arg(long)]
    pub trap_unknown_imports: bool,
    /// Compile the component even if wasmtime's compilation cache has it (the cache is on by
    /// default, as with `wasmtime run`; `--no-cache` neither reads nor writes it).
    #[arg(long)]
    pub no_cache: bool,
    /// Pass an environment variable to the component: `NAME=VALUE`, or `NAME` for the value it
    /// has here (left unset when it has none), as with `wasmtime run`. Repeat for more.
    #[arg(long = "env", value_name = "NAME[=VALUE]", value_parser = parse_env)]
    pub env: Vec<EnvVar>,
    /// Give the component a host directory, read and write: `HOST_DIR` (seen by the component
    /// at the same path) or `HOST_DIR::GUEST_DIR`, as with `wasmtime run`. Repeat for more.
    #[arg(long = "dir", value_name = "HOST_DIR[::GUEST_DIR]", value_parser = parse_dir)]
    pub dirs: Vec<DirMapping>,
    /// WASI settings, as `wasmtime run -S` names them: `max-resources=N`, `max-random-size=N`,
    /// `max-http-fields-size=N`, `inherit-env`, `inherit-network`, `allow-ip-name-lookup`,
    /// `tcp`, `udp` (`=n` turns a switch off). Repeat, or separate with commas.
    #[arg(short = 'S', value_name = "NAME[=VALUE]", value_delimiter = ',', value_parser = WasiOption::parse)]
    pub wasi: Vec<WasiOption>,
    /// Arguments for the component (its `wasi:cli/environment` arguments).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// An `--env` argument: a name, and its value unless it is to be inherited.
#[derive(Clone, Debug)]
pub struct EnvVar {
    name: String,
    value: Option<String>,
}

/// Parses `NAME=VALUE` or `NAME`.
pub fn parse_env(text: &str) -> Result<EnvVar, String> {
    let (name, value) = match text.split_once('=') {
        Some((name, value)) => (name, Some(value.to_string())),
        None => (text, None),
    };
    if name.is_empty() {
        return Err(format!("`{text}`: expected NAME=VALUE or NAME"));
    }
    Ok(EnvVar {
        name: name.to_string(),
        value,
    })
}

/// A `--dir` argument: a host directory and the path the component knows it by.
#[derive(Clone, Debug)]
pub struct DirMapping {
    host: PathBuf,
    guest: String,
}

/// Parses `HOST_DIR` or `HOST_DIR::GUEST_DIR`.
pub fn parse_dir(text: &str) -> Result<DirMapping, String> {
    let (host, guest) = text.split_once("::").unwrap_or((text, text));
    if host.is_empty() || guest.is_empty() {
        return Err(format!(
            "`{text}`: expected HOST_DIR or HOST_DIR::GUEST_DIR"
        ));
    }
    Ok(DirMapping {
        host: PathBuf::from(host),
        guest: guest.to_string(),
    })
}

/// Opens each `--dir` for `wasi`; a directory that cannot be opened is an error naming it.
pub fn preopen_dirs(wasi: &mut wasmtime_wasi::WasiCtxBuilder, dirs: &[DirMapping]) -> Result<()> {
    for dir in dirs {
        wasi.preopened_dir(&dir.host, &dir.guest, wasmtime_wasi::FsPerms::ReadWrite)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("--dir: cannot open `{}`", dir.host.display()))?;
    }
    Ok(())
}

/// The variables of `vars`, an inherited one with the value it has in this process (and left
/// out when it has none).
pub fn env_values(vars: &[EnvVar]) -> Vec<(String, String)> {
    vars.iter()
        .filter_map(|var| {
            let value = match &var.value {
                Some(value) => value.clone(),
                None => std::env::var(&var.name).ok()?,
            };
            Some((var.name.clone(), value))
        })
        .collect()
}

/// Runs `isyswasfa run`.
pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: &RunArgs) -> Result<ExitCode> {
    // The engine `serve` uses: it compiles polyfilled and native WASI 0.3 components alike.
    let engine = crate_engine(args)?;
    let path = args.component.display();
    let component = Component::from_file(&engine, &args.component)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("`{path}` is not a component this host can run"))?;
    let exports = Exports::of(&engine, &component);
    // Resolve the call before instantiating, so that a typo costs nothing.
    let call = match &args.invoke {
        Some(call) => Some(exports.parse_call(call)?),
        None => None,
    };
    let polyfilled = component
        .component_type()
        .exports(&engine)
        .any(|(name, _)| name.starts_with(POLL_PREFIX));
    if !polyfilled {
        let export = match &call {
            Some((export, _)) => *export,
            None => exports.find_run().ok_or_else(|| {
                anyhow!(
                    "`{path}` exports no `wasi:cli/run`; use --invoke to call one of: {}",
                    exports.list()
                )
            })?,
        };
        let params = call.map(|(_, params)| params).unwrap_or_default();
        return run_native(args, &engine, &component, export, params).await;
    }

    let mut linker = isyswasfa_host::linker::<State>(&engine)?;
    if args.trap_unknown_imports {
        trap_unknown_imports(&mut linker, &engine, &component)?;
    }
    let host = Host::instantiate(
        Store::new(
            &engine,
            State::with(
                wasi_ctx(args)?,
                WasiOptions(args.wasi.clone())
                    .apply_to_host(IsyswasfaCtx::builder())
                    .build(),
            ),
        ),
        &linker,
        &component,
    )
    .await
    .map_err(anyhow::Error::from)
    .with_context(|| format!("failed to instantiate `{path}`"))?;
    match call_polyfilled(&host, &exports, call, &path.to_string()).await {
        // `wasi:cli/exit` in the guest: the process exits with its code, as with `wasmtime run`.
        Err(error) => exit_code(&error).ok_or(error),
        outcome => outcome,
    }
}

/// The exit code a guest asked for with `wasi:cli/exit`, if that is what ended `error`.
fn exit_code(error: &anyhow::Error) -> Option<ExitCode> {
    let exit = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<wasmtime_wasi::I32Exit>())
        .or_else(|| error.downcast_ref::<wasmtime_wasi::I32Exit>())?;
    Some(ExitCode::from(u8::try_from(exit.0).unwrap_or(1)))
}

/// Calls `call` (or `wasi:cli/run`) of the polyfilled component `host` runs.
async fn call_polyfilled(
    host: &Host<State>,
    exports: &Exports,
    call: Option<(&Export, Vec<Val>)>,
    path: &str,
) -> Result<ExitCode> {
    match call {
        Some((export, params)) => {
            let func = host
                .dynamic_func(export.interface.as_deref(), &export.name)
                .await?;
            for value in host.call_dynamic(&func, params).await? {
                println!("{}", value.to_wave()?);
            }
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let export = exports.find_run().ok_or_else(|| {
                anyhow!(
                    "`{path}` exports no `wasi:cli/run`; use --invoke to call one of: {}",
                    exports.list()
                )
            })?;
            let func = host
                .dynamic_func(export.interface.as_deref(), &export.name)
                .await?;
            let results = host.call_dynamic(&func, Vec::new()).await?;
            Ok(match results.first() {
                Some(Val::Result(Err(_))) => ExitCode::FAILURE,
                _ => ExitCode::SUCCESS,
            })
        }
    }
}

/// A function a component exports, as WIT sees it (a lowered async function counts once).
struct Export {
    interface: Option<String>,
    name: String,
    params: Vec<(String, Type)>,
    is_async: bool,
}

impl Export {
    fn display(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(name, ty)| format!("{name}: {}", type_name(ty)))
            .collect();
        let prefix = if self.is_async { "async " } else { "" };
        match &self.interface {
            Some(interface) => format!("{prefix}{interface}#{}({})", self.name, params.join(", ")),
            None => format!("{prefix}{}({})", self.name, params.join(", ")),
        }
    }
}

/// Everything a component exports that `run` can call.
struct Exports(Vec<Export>);

impl Exports {
    fn of(engine: &Engine, component: &Component) -> Self {
        let mut exports = Vec::new();
        for (name, item) in component.component_type().exports(engine) {
            match item.ty {
                ComponentItem::ComponentFunc(func) => add(&mut exports, None, name, &func),
                ComponentItem::ComponentInstance(instance) => {
                    for (fname, item) in instance.exports(engine) {
                        if let ComponentItem::ComponentFunc(func) = item.ty {
                            add(&mut exports, Some(name), fname, &func);
                        }
                    }
                }
                _ => {}
            }
        }
        Exports(exports)
    }

    /// `wasi:cli/run`'s `run`: the one of the highest version when the component exports
    /// several, as `wasmtime run` does (every wasm32-wasip2 Rust binary exports std's `main` as
    /// the 0.2 run, beside the 0.3 run its author wrote).
    fn find_run(&self) -> Option<&Export> {
        self.0
            .iter()
            .filter_map(|e| {
                let version = e.interface.as_deref()?.strip_prefix("wasi:cli/run@")?;
                let version = semver::Version::parse(version).ok()?;
                (e.name == "run").then_some((version, e))
            })
            .max_by(|(a, _), (b, _)| a.cmp(b))
            .map(|(_, e)| e)
    }

    fn list(&self) -> String {
        if self.0.is_empty() {
            return "(nothing)".to_string();
        }
        let names: Vec<String> = self.0.iter().map(Export::display).collect();
        names.join("; ")
    }

    /// Parses `name(args)` / `interface#name(args)` into the export and its typed arguments.
    fn parse_call(&self, call: &str) -> Result<(&Export, Vec<Val>)> {
        let open = call
            .find('(')
            .ok_or_else(|| anyhow!("`--invoke {call}`: expected `name(arguments)`"))?;
        let target = call[..open].trim();
        let (interface, name) = match target.rsplit_once('#') {
            Some((interface, name)) => (Some(interface), name),
            None => (None, target),
        };
        let matches: Vec<&Export> = self
            .0
            .iter()
            .filter(|e| {
                e.name == name && (interface.is_none() || e.interface.as_deref() == interface)
            })
            .collect();
        let export = match (matches.as_slice(), interface) {
            ([export], _) => *export,
            ([], _) => bail!(
                "the component exports no function `{target}`; it exports: {}",
                self.list()
            ),
            (several, _) => {
                let names: Vec<String> = several.iter().map(|e| e.display()).collect();
                bail!(
                    "`{target}` is ambiguous; name the interface (`interface#{name}`): {}",
                    names.join("; ")
                )
            }
        };
        // wasm-wave parses a call whose name is a plain label; the arguments are what matter.
        let source = format!("f{}", &call[open..]);
        let parsed = UntypedFuncCall::parse(&source)
            .map_err(|e| anyhow!("`--invoke {call}`: the arguments are not valid WAVE: {e}"))?;
        let args: Vec<&str> = match parsed.params_node() {
            Some(node) => node
                .as_tuple()
                .map_err(|e| anyhow!("`--invoke {call}`: expected `(arguments)`: {e}"))?
                .map(|arg| &source[arg.span()])
                .collect(),
            None => Vec::new(),
        };
        if args.len() != export.params.len() {
            bail!(
                "`{}` takes {} argument(s), {} given",
                export.display(),
                export.params.len(),
                args.len()
            );
        }
        let mut values = Vec::new();
        for ((name, ty), text) in export.params.iter().zip(args) {
            let value = Val::from_wave(ty, text).map_err(|e| {
                anyhow!(
                    "argument `{name}` of `{}`: expected a value of type {}, got `{text}`: {e}",
                    export.display(),
                    type_name(ty)
                )
            })?;
            values.push(value);
        }
        Ok((export, values))
    }
}

fn add(exports: &mut Vec<Export>, interface: Option<&str>, name: &str, func: &ComponentFunc) {
    if name.starts_with(POLL_PREFIX) || name.starts_with('[') || name.ends_with(RESULT_SUFFIX) {
        return;
    }
    let (name, is_async) = match name.strip_suffix(START_SUFFIX) {
        Some(name) => (name, true),
        None => (name, false),
    };
    exports.push(Export {
        interface: interface.map(str::to_string),
        name: name.to_string(),
        params: func
            .params()
            .map(|(name, ty)| (name.to_string(), ty))
            .collect(),
        is_async,
    });
}

/// A short name of a type, for messages.
fn type_name(ty: &Type) -> String {
    let name = format!("{ty:?}");
    // `Type`'s debug form of a primitive is its variant name (`U32`); lower-case it like WIT.
    match name.find(['(', ' ', '{']) {
        None => name.to_lowercase(),
        Some(at) => name[..at].to_lowercase(),
    }
}

/// WASI for the component: the process's stdio and network (TCP and UDP on, name lookup off, as
/// with `wasmtime run`), and `args` after its name; the
/// `--env` variables (after this process's, with `-S inherit-env`), the `--dir` directories and
/// the other `-S` settings.
fn wasi_ctx(args: &RunArgs) -> Result<wasmtime_wasi::WasiCtx> {
    let path = args.component.display();
    let mut program = vec![
        args.component
            .file_name()
            .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned()),
    ];
    program.extend(args.args.iter().cloned());
    let options = WasiOptions(args.wasi.clone());
    let mut wasi = wasmtime_wasi::WasiCtx::builder();
    wasi.inherit_stdio()
        .inherit_network()
        .allow_tcp(true)
        .allow_udp(true)
        .args(&program);
    if options.inherit_env() {
        wasi.inherit_env();
    }
    wasi.envs(&env_values(&args.env));
    options.apply_to_wasi(&mut wasi);
    preopen_dirs(&mut wasi, &args.dirs)?;
    Ok(wasi.build())
}

fn crate_engine(args: &RunArgs) -> Result<Engine> {
    isyswasfa::serve::engine_with(if args.no_cache {
        isyswasfa::serve::CompileCache::Off
    } else {
        isyswasfa::serve::CompileCache::Default
    })
}

/// Runs a component that isyswasfa did not build (a native WASI 0.3 component, or a plain WASI
/// 0.2 one) with wasmtime-wasi's own WASI 0.2 and 0.3 and wasmtime-wasi-http's `wasi:http` 0.2
/// and 0.3 (outgoing requests over plain `http://`, as `serve`'s), calling `export` through
/// wasmtime's concurrent call API.
async fn run_native(
    args: &RunArgs,
    engine: &Engine,
    component: &Component,
    export: &Export,
    params: Vec<Val>,
) -> Result<ExitCode> {
    let mut linker = wasmtime::component::Linker::<NativeState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    if args.trap_unknown_imports {
        linker.define_unknown_imports_as_traps(component)?;
    }
    let mut state = NativeState::new(wasi_ctx(args)?);
    state.apply_limits(&WasiOptions(args.wasi.clone()));
    let mut store = Store::new(engine, state);
    // The engine interrupts on each epoch tick (the CPU deadline of polyfilled guests): go on.
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);
    let instance = linker
        .instantiate_async(&mut store, component)
        .await
        .map_err(anyhow::Error::from)
        .with_context(|| format!("failed to instantiate `{}`", args.component.display()))?;
    let func = match &export.interface {
        Some(interface) => {
            let iface = instance
                .get_export_index(&mut store, None, interface)
                .ok_or_else(|| anyhow!("no export `{interface}`"))?;
            instance.get_export_index(&mut store, Some(&iface), &export.name)
        }
        None => instance.get_export_index(&mut store, None, &export.name),
    }
    .and_then(|index| instance.get_func(&mut store, index))
    .ok_or_else(|| anyhow!("no function `{}`", export.display()))?;
    let count = func.ty(&store).results().len();
    let outcome = store
        .run_concurrent(async move |accessor| {
            let mut results = vec![Val::Bool(false); count];
            func.call_concurrent(accessor, &params, &mut results)
                .await
                .map(|()| results)
        })
        .await
        .and_then(|outcome| outcome);
    let results = match outcome {
        // `exit(n)` in the guest: the process exits with n, as with `wasmtime run`.
        Err(error) if error.downcast_ref::<wasmtime_wasi::I32Exit>().is_some() => {
            let code = error
                .downcast_ref::<wasmtime_wasi::I32Exit>()
                .map_or(1, |exit| exit.0);
            return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
        }
        outcome => outcome
            .map_err(anyhow::Error::from)
            .with_context(|| format!("call to `{}` failed", export.display()))?,
    };
    let is_run = args.invoke.is_none();
    for value in &results {
        if !is_run {
            println!("{}", value.to_wave()?);
        }
    }
    Ok(match results.first() {
        Some(Val::Result(Err(_))) if is_run => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}

/// Defines every function of the imported interfaces that the host does not provide (neither
/// WASI nor isyswasfa's own) as a function that traps when called. wasmtime's
/// `define_unknown_imports_as_traps` cannot be used: it would also redefine the resource types
/// that interfaces name from one another (`use`) as new, different ones.
fn trap_unknown_imports(
    linker: &mut wasmtime::component::Linker<State>,
    engine: &Engine,
    component: &Component,
) -> Result<()> {
    for (name, item) in component.component_type().imports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        let provided = name.starts_with("wasi:")
            || name.starts_with("isyswasfa:")
            || name.contains(isyswasfa_host::OPS_STEM);
        if provided {
            continue;
        }
        let mut stub = linker.instance(name)?;
        for (function, item) in instance.exports(engine) {
            if !matches!(item.ty, ComponentItem::ComponentFunc(_)) {
                continue;
            }
            let message =
                format!("`{name}#{function}` is not provided by the host (--trap-unknown-imports)");
            stub.func_new(function, move |_, _, _, _| {
                Err(wasmtime::format_err!("{message}"))
            })?;
        }
    }
    Ok(())
}
