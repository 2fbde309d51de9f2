//! What the input is, what it imports and exports, and what the bundle makes of each export.

use anyhow::{Context, Result, anyhow, bail};
use isyswasfa_protocol::names::{POLL_PREFIX, RESULT_SUFFIX, START_SUFFIX};
use wit_component::DecodedWasm;
use wit_parser::{Function, FunctionKind, Resolve, WorldId, WorldItem};

/// The runtime's component: what it exports and imports.
pub(crate) struct Runtime {
    /// Its bytes.
    pub bytes: &'static [u8],
    /// Its exports' names.
    pub exports: Vec<String>,
}

impl Runtime {
    /// Reads one of the runtimes built with this crate.
    fn load(bytes: &'static [u8]) -> Result<Self> {
        let (resolve, world) = decode_component(bytes)
            .context("the bundle runtime built with isyswasfa-bundle is not a valid component")?;
        let exports = resolve.worlds[world]
            .exports
            .keys()
            .map(|key| resolve.name_world_key(key))
            .collect();
        Ok(Self { bytes, exports })
    }

    /// The runtime `input` needs: the plain one, or the one with `wasi:http` (and the standard
    /// streams) when the input uses what only that one provides, or exports an HTTP handler.
    pub fn for_input(input: &Input) -> Result<Self> {
        let plain = Self::load(crate::RUNTIME)?;
        let http = Self::load(crate::RUNTIME_HTTP)?;
        let needs_http = input.export_names().iter().any(|e| is_http_handler(e))
            || input
                .import_names()
                .iter()
                .any(|i| !plain.provides(i) && http.provides(i));
        Ok(if needs_http { http } else { plain })
    }

    fn provides(&self, name: &str) -> bool {
        self.exports.iter().any(|export| export == name)
    }
}

fn decode_component(bytes: &[u8]) -> Result<(Resolve, WorldId)> {
    match wit_component::decode(bytes)? {
        DecodedWasm::Component(resolve, world) => Ok((resolve, world)),
        DecodedWasm::WitPackage(..) => bail!("it is a WIT package, not a component"),
    }
}

/// The input component, decoded.
pub(crate) struct Input {
    /// What messages call it.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Its types, as WIT.
    pub resolve: Resolve,
    /// Its world.
    pub world: WorldId,
}

/// An async function (a start/result pair) or a synchronous one of an export the driver wraps.
#[derive(Clone, Debug)]
pub(crate) enum WrappedFunc {
    /// `name`, lowered to `start` and `result`: the driver exports a synchronous `name`.
    Async {
        name: String,
        start: Box<Function>,
        result: Box<Function>,
    },
    /// A synchronous function of a wrapped interface: the driver forwards it.
    Sync(Box<Function>),
}

impl WrappedFunc {
    /// The name the driver exports the function under.
    pub fn name(&self) -> &str {
        match self {
            WrappedFunc::Async { name, .. } => name,
            WrappedFunc::Sync(func) => &func.name,
        }
    }
}

/// An exported interface with async functions: the driver exports a synchronous version.
pub(crate) struct WrappedInterface {
    /// The input's export.
    pub input_name: String,
    /// The bundle's export.
    pub bundle_name: String,
    /// The local name of the driver's interface that wraps it.
    pub driver_name: String,
    /// Its functions.
    pub funcs: Vec<WrappedFunc>,
}

/// What the bundle does with each of the input's exports.
pub(crate) struct Plan {
    /// The poll exports, in the order the driver registers them.
    pub polls: Vec<String>,
    /// Interfaces the driver wraps.
    pub interfaces: Vec<WrappedInterface>,
    /// World-level async functions the driver wraps.
    pub funcs: Vec<WrappedFunc>,
    /// Exports the bundle re-exports unchanged.
    pub unchanged: Vec<String>,
    /// The input's `wasi:http/handler@0.3.x` export, which the driver serves as the bundle's
    /// WASI 0.2 `incoming-handler`.
    pub http_handler: Option<String>,
}

/// Whether `name` is the export of a WASI 0.3 HTTP service (bundled as a WASI 0.2
/// `incoming-handler`).
pub(crate) fn is_http_handler(name: &str) -> bool {
    name.starts_with("wasi:http/handler@0.3.")
}

/// What the bundle exports for a WASI 0.3 HTTP handler.
pub(crate) const INCOMING_HANDLER: &str = "wasi:http/incoming-handler@0.2.0";

fn is_wasi_p2(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("wasi:") else {
        return false;
    };
    let Some((_, version)) = rest.split_once('@') else {
        return false;
    };
    semver::Version::parse(version).is_ok_and(|v| v.major == 0 && v.minor == 2)
}

/// Whether `name` is the pipe interface of a stream with a payload (which the runtime's
/// `isyswasfa:bundle/streams` plugs).
pub(crate) fn is_stream_pipe(name: &str) -> bool {
    name.strip_prefix(isyswasfa_protocol::names::PIPES_PREFIX)
        .is_some_and(|rest| rest.starts_with("stream-"))
}

impl Input {
    /// The input's types, to add the generated components' worlds to: its interfaces, and of
    /// its own world only the imported interfaces and types (the functions of a decoded
    /// composition's world do not pass wit-parser's checks, which run on every addition).
    pub fn types(&self) -> Resolve {
        let mut resolve = self.resolve.clone();
        let world = &mut resolve.worlds[self.world];
        world
            .imports
            .retain(|_, item| !matches!(item, WorldItem::Function(_)));
        world.exports.clear();
        resolve
    }

    /// Decodes `bytes`, or says what they are when they are not a polyfilled component.
    pub fn decode(bytes: &[u8], name: &str) -> Result<Self> {
        if !bytes.starts_with(b"\0asm") {
            bail!("`{name}` is not WebAssembly (it does not start with the `\\0asm` header)");
        }
        if wasmparser::Parser::is_core_wasm(bytes) {
            bail!(
                "`{name}` is a core WebAssembly module, not a component: build the guest for \
                 wasm32-wasip2 (a component), with isyswasfa's `generate!`"
            );
        }
        let (resolve, world) = decode_component(bytes)
            .with_context(|| format!("`{name}` is not a valid WebAssembly component"))?;
        let input = Self {
            name: name.to_string(),
            bytes: bytes.to_vec(),
            resolve,
            world,
        };
        input.check_polyfilled()?;
        Ok(input)
    }

    fn names(&self, items: impl Iterator<Item = (String, bool)>) -> Vec<String> {
        items.map(|(name, _)| name).collect()
    }

    pub(crate) fn import_names(&self) -> Vec<String> {
        let world = &self.resolve.worlds[self.world];
        self.names(
            world
                .imports
                .iter()
                .map(|(key, item)| (self.resolve.name_world_key(key), is_function(item))),
        )
    }

    pub(crate) fn export_names(&self) -> Vec<String> {
        let world = &self.resolve.worlds[self.world];
        self.names(
            world
                .exports
                .iter()
                .map(|(key, item)| (self.resolve.name_world_key(key), is_function(item))),
        )
    }

    /// Fails, saying what the input is, when it has no poll export.
    fn check_polyfilled(&self) -> Result<()> {
        let exports = self.export_names();
        if exports.iter().any(|e| e.starts_with(POLL_PREFIX)) {
            return Ok(());
        }
        let name = &self.name;
        let imports = self.import_names();
        let all: Vec<&String> = imports.iter().chain(&exports).collect();
        if let Some(p3) = all.iter().find(|n| n.contains("@0.3.")) {
            bail!(
                "`{name}` is not a polyfilled component: it has no `{POLL_PREFIX}-*` export and \
                 uses `{p3}` natively (a native WASI 0.3 component); run it on a host with WASI \
                 0.3 (`isyswasfa serve`, `isyswasfa run`), or build it with isyswasfa's \
                 `generate!` to bundle it"
            );
        }
        if let Some(protocol) = imports.iter().find(|n| n.starts_with("isyswasfa:")) {
            bail!(
                "`{name}` is not a polyfilled component: it imports `{protocol}` but has no \
                 `{POLL_PREFIX}-*` export for the runtime to deliver events to"
            );
        }
        bail!(
            "`{name}` is not a polyfilled component: it has no `{POLL_PREFIX}-*` export, so it \
             is a plain WASI 0.2 component ({} imports, {} exports); it needs no bundle, run it \
             as it is",
            imports.len(),
            exports.len()
        )
    }

    /// Fails, naming them, when the input imports what neither the runtime nor a WASI 0.2 host
    /// provides.
    pub fn check_imports(&self, runtime: &Runtime) -> Result<()> {
        let world = &self.resolve.worlds[self.world];
        let missing: Vec<String> = world
            .imports
            .iter()
            // A world's own `use` of an imported type (`isyswasfa-poll-input`) comes with it.
            .filter(|(_, item)| !matches!(item, WorldItem::Type { .. }))
            .map(|(key, _)| self.resolve.name_world_key(key))
            .filter(|name| {
                // The runtime's own interfaces (`isyswasfa:bundle/*`: the driver's, the typed
                // future operations) are for the bundle's generated parts, never the input.
                let provided = runtime.provides(name) && !name.starts_with("isyswasfa:bundle/");
                !provided
                    && !is_wasi_p2(name)
                    && !is_stream_pipe(name)
                    && !name.contains(isyswasfa_protocol::names::OPS_STEM)
            })
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let list = missing
            .iter()
            .map(|m| format!("`{m}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut message = format!(
            "`{}` imports {list}, which the bundle runtime cannot provide (it provides {}; \
             WASI 0.2 imports are left to the host)",
            self.name,
            runtime
                .exports
                .iter()
                .filter(|e| !e.starts_with("isyswasfa:bundle/"))
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if missing
            .iter()
            .any(|m| m.starts_with(isyswasfa_protocol::names::PIPES_PREFIX))
        {
            message.push_str("; futures and payload-less streams are not bundled yet");
        }
        Err(anyhow!(message))
    }

    /// Decides what the bundle does with each export.
    pub fn plan(&self) -> Result<Plan> {
        let resolve = &self.resolve;
        let world = &resolve.worlds[self.world];
        let mut plan = Plan {
            polls: Vec::new(),
            interfaces: Vec::new(),
            funcs: Vec::new(),
            unchanged: Vec::new(),
            http_handler: None,
        };
        let world_funcs: Vec<&Function> = world
            .exports
            .values()
            .filter_map(|item| match item {
                WorldItem::Function(f) => Some(f),
                _ => None,
            })
            .collect();
        for (key, item) in &world.exports {
            let name = resolve.name_world_key(key);
            match item {
                WorldItem::Function(func) if name.starts_with(POLL_PREFIX) => {
                    plan.polls.push(func.name.clone())
                }
                WorldItem::Function(func) => match wrap(&self.name, &name, func, &world_funcs)? {
                    Some(wrapped) => plan.funcs.push(wrapped),
                    None if func.name.ends_with(RESULT_SUFFIX) => {}
                    None => plan.unchanged.push(name),
                },
                WorldItem::Interface { id, .. } => {
                    let iface = &resolve.interfaces[*id];
                    let funcs: Vec<&Function> = iface.functions.values().collect();
                    if !funcs.iter().any(|f| f.name.ends_with(START_SUFFIX)) {
                        plan.unchanged.push(name);
                        continue;
                    }
                    if is_http_handler(&name) {
                        if !funcs.iter().any(|f| f.name == "handle-isyswasfa-start")
                            || !funcs.iter().any(|f| f.name == "handle-isyswasfa-result")
                        {
                            bail!(
                                "`{}` exports `{name}` without the lowered `handle` \
                                 (`handle-isyswasfa-start` and `handle-isyswasfa-result`)",
                                self.name
                            );
                        }
                        plan.http_handler = Some(name);
                        continue;
                    }
                    let mut wrapped = Vec::new();
                    for func in &funcs {
                        if let Some(w) = wrap(&self.name, &name, func, &funcs)? {
                            wrapped.push(w);
                        } else if !func.name.ends_with(RESULT_SUFFIX) {
                            wrapped.push(WrappedFunc::Sync(Box::new((*func).clone())));
                        }
                    }
                    let bundle_name = if name.starts_with("wasi:cli/run@0.3") {
                        "wasi:cli/run@0.2.0".to_string()
                    } else {
                        name.clone()
                    };
                    plan.interfaces.push(WrappedInterface {
                        driver_name: format!("export{}", plan.interfaces.len()),
                        input_name: name,
                        bundle_name,
                        funcs: wrapped,
                    });
                }
                WorldItem::Type { .. } => plan.unchanged.push(name),
            }
        }
        // A 0.3 `run` is what the program means; std's `main` exported as a 0.2 `run` next to
        // it is not (as `isyswasfa run` prefers the 0.3 one).
        if plan
            .interfaces
            .iter()
            .any(|w| w.bundle_name.starts_with("wasi:cli/run@0.2"))
        {
            plan.unchanged.retain(|name| {
                let shadowed = name.starts_with("wasi:cli/run@0.2");
                if shadowed {
                    tracing::info!(
                        "`{}` exports `{name}` next to a WASI 0.3 `run`: the bundle exports the 0.3 \
                         one as WASI 0.2",
                        self.name
                    );
                }
                !shadowed
            });
        }
        if plan.interfaces.is_empty()
            && plan.funcs.is_empty()
            && plan.unchanged.is_empty()
            && plan.http_handler.is_none()
        {
            bail!(
                "`{}` exports nothing but its poll functions: there is nothing to bundle",
                self.name
            );
        }
        Ok(plan)
    }
}

fn is_function(item: &WorldItem) -> bool {
    matches!(item, WorldItem::Function(_))
}

/// The wrapped async function whose start half is `func`, with its result half among `all`;
/// `None` when `func` is no start half.
fn wrap(
    input: &str,
    export: &str,
    func: &Function,
    all: &[&Function],
) -> Result<Option<WrappedFunc>> {
    let Some(base) = func.name.strip_suffix(START_SUFFIX) else {
        if !matches!(func.kind, FunctionKind::Freestanding) {
            bail!(
                "`{input}` exports `{export}` with the resource function `{}`: exported \
                 resources are not bundled yet",
                func.name
            );
        }
        return Ok(None);
    };
    if !matches!(func.kind, FunctionKind::Freestanding) {
        bail!(
            "`{input}` exports `{export}` with the async resource function `{}`: exported \
             resources are not bundled yet",
            func.name
        );
    }
    let result_name = format!("{base}{RESULT_SUFFIX}");
    let Some(result) = all.iter().find(|f| f.name == result_name) else {
        bail!(
            "`{input}` exports `{export}` with `{}` but not `{result_name}`: not a lowered async \
             function",
            func.name
        );
    };
    Ok(Some(WrappedFunc::Async {
        name: base.to_string(),
        start: Box::new(func.clone()),
        result: Box::new((*result).clone()),
    }))
}
