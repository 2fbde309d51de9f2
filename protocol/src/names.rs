//! The names the protocol gives to lowered functions, exports and interfaces. Bindgen writes
//! them, the guest runtime, the host and the composer look for them: they are stable.

/// Suffix of the start half of a lowered `async func` (`f` → `f-isyswasfa-start`).
pub const START_SUFFIX: &str = "-isyswasfa-start";
/// Suffix of the result half of a lowered `async func` (`f` → `f-isyswasfa-result`).
pub const RESULT_SUFFIX: &str = "-isyswasfa-result";
/// Prefix of every component's poll export: `isyswasfa-poll-<suffix>`.
pub const POLL_PREFIX: &str = "isyswasfa-poll";

/// The protocol interface every lowered component imports.
pub const INTERFACE: &str = "isyswasfa:isyswasfa/isyswasfa@0.1.0";
/// The interface through which a component awaits WASI 0.2 pollables.
pub const POLLABLES_INTERFACE: &str = "isyswasfa:isyswasfa/pollables@0.1.0";

/// The name lowered interfaces give the protocol's `pending` resource.
pub const PENDING_ALIAS: &str = "isyswasfa-pending";
/// The name lowered interfaces give the protocol's `ready` resource.
pub const READY_ALIAS: &str = "isyswasfa-ready";
/// The name lowered worlds give the poll export's input type.
pub const POLL_INPUT_ALIAS: &str = "isyswasfa-poll-input";

/// The package of the generic pipe interfaces, one per payload
/// (`isyswasfa:pipes/<payload>@0.1.0`).
pub const PIPES_PACKAGE: &str = "isyswasfa:pipes@0.1.0";
/// What every pipe interface's name starts with.
pub const PIPES_PREFIX: &str = "isyswasfa:pipes/";
/// The version of the pipe interfaces.
pub const PIPES_VERSION: &str = "0.1.0";
/// The local name of a component's typed pipe operations interface, before its poll suffix
/// (`isyswasfa-ops-<suffix>`, in the world's package).
pub const OPS_PREFIX: &str = "isyswasfa-ops-";
/// What a qualified ops interface name contains (`<package>/isyswasfa-ops-<suffix>`).
pub const OPS_STEM: &str = "/isyswasfa-ops-";

/// The pipe interface of the payload mangled as `payload` (`isyswasfa:pipes/<payload>@0.1.0`).
pub fn pipe_interface(payload: &str) -> String {
    format!("{PIPES_PREFIX}{payload}@{PIPES_VERSION}")
}

/// The start half's name of the function named `name`.
pub fn start_name(name: &str) -> String {
    format!("{name}{START_SUFFIX}")
}

/// The result half's name of the function named `name`. A method's result half is a static of
/// its resource (it needs no `self`, only the `ready` handle): `[method]r.f` →
/// `[static]r.f-isyswasfa-result`.
pub fn result_name(name: &str) -> String {
    format!(
        "{}{RESULT_SUFFIX}",
        name.replacen("[method]", "[static]", 1)
    )
}

/// The poll export of a component with poll suffix `suffix`.
pub fn poll_export(suffix: &str) -> String {
    format!("{POLL_PREFIX}-{suffix}")
}
