//! `isyswasfa build-py`: builds a Python guest directory (`app.py` and `wit/`) into a component
//! with componentize-py, on top of the lowered world and the glue of [`isyswasfa::python`].

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use isyswasfa::python::{self, ADDED_IMPORTS, ENTRY_MODULE, LOWERED_MODULE, SUPPORT_FILES};
use isyswasfa_bindgen::wit_parser::Resolve;
use isyswasfa_bindgen::{LowerOptions, lower, select_world, shipped};

/// The componentize-py release the glue is written and tested against.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// Environment variable naming the componentize-py executable (default: `componentize-py` on
/// `PATH`).
pub const COMPONENTIZE_PY_ENV: &str = "ISYSWASFA_COMPONENTIZE_PY";

/// Arguments of `isyswasfa build-py`.
#[derive(clap::Args)]
pub struct BuildPyArgs {
    /// The guest directory: the application module (`app.py`) and its WIT (`wit/`).
    pub dir: PathBuf,
    /// The component to write.
    #[arg(short, long, default_value = "app.wasm")]
    pub output: PathBuf,
    /// The world to build (needed when the WIT package has more than one).
    #[arg(long)]
    pub world: Option<String>,
    /// The application module, in DIR.
    #[arg(long, default_value = "app")]
    pub app: String,
    /// Names the poll export `isyswasfa-poll-<SUFFIX>` (default: from the directory's name).
    #[arg(long)]
    pub poll_suffix: Option<String>,
}

/// Runs `isyswasfa build-py`.
pub fn run(args: &BuildPyArgs) -> Result<()> {
    build(
        &args.dir,
        &args.output,
        args.world.as_deref(),
        &args.app,
        args.poll_suffix.as_deref(),
    )
}

/// Whether `dir` looks like a Python guest (an `app.py` and no `Cargo.toml`).
pub fn is_python_guest(dir: &Path) -> bool {
    dir.join("app.py").is_file() && !dir.join("Cargo.toml").exists()
}

/// Builds the Python guest in `dir` into `output`.
pub fn build(
    dir: &Path,
    output: &Path,
    world: Option<&str>,
    app: &str,
    poll_suffix: Option<&str>,
) -> Result<()> {
    let componentize_py = find_componentize_py()?;
    let app_file = dir.join(format!("{app}.py"));
    if !app_file.is_file() {
        bail!(
            "`{}` has no `{app}.py`: a Python guest directory holds the application module and its WIT (`wit/`)",
            dir.display()
        );
    }
    check_syntax(dir)?;

    let work = BuildDir::new()?;
    let wit_dir = work.path.join("wit");
    let glue_dir = work.path.join("glue");
    let support_dir = work.path.join("support");
    // componentize-py imports the application from a copy: its `__pycache__` goes there, not
    // into the guest's directory.
    let app_dir = work.path.join("app");
    copy_sources(dir, &app_dir)?;

    // The user's world, wrapped with what the Python runtime needs besides.
    let mut resolve = Resolve::default();
    let (package, _) = shipped::push_path(&mut resolve, &dir.join("wit"))?;
    let user_world = select_world(&resolve, package, world)?;
    let original = resolve.clone();
    let user_world_name = {
        let w = &resolve.worlds[user_world];
        let name = &resolve.packages[package].name;
        let version = name
            .version
            .as_ref()
            .map(|v| format!("@{v}"))
            .unwrap_or_default();
        format!("{}:{}/{}{version}", name.namespace, name.name, w.name)
    };
    push_runtime_wit(&mut resolve)?;
    let wrapper = format!(
        "package isyswasfa-python:glue;\nworld app {{\n  include {user_world_name};\n{}}}\n",
        ADDED_IMPORTS
            .iter()
            .map(|i| format!("  import {i};\n"))
            .collect::<String>()
    );
    let wrapper_pkg = shipped::push_str(&mut resolve, "<isyswasfa build-py>", &wrapper)?;
    let wrapper_world = select_world(&resolve, wrapper_pkg, Some("app"))?;
    let options = match poll_suffix {
        Some(suffix) => LowerOptions {
            poll_suffix: suffix.to_string(),
        },
        None => LowerOptions::for_crate(&directory_name(dir)),
    };
    let lowered = lower(&resolve, wrapper_world, &options)?;
    python::check_supported(&lowered)?;
    lowered.write_wit_dir(&wit_dir)?;
    let glue = python::generate(&original, user_world, &lowered, app)?;
    for (path, contents) in &glue.files {
        write_file(&glue_dir.join(path), contents)?;
    }
    for (path, contents) in SUPPORT_FILES {
        write_file(&support_dir.join(path), contents)?;
    }

    let mut command = Command::new(&componentize_py);
    command
        .arg("-d")
        .arg(&wit_dir)
        .args(["-w", "app", "--world-module", LOWERED_MODULE]);
    for name in &glue.import_names {
        command.arg("--import-interface-name").arg(name);
    }
    for name in &glue.export_names {
        command.arg("--export-interface-name").arg(name);
    }
    command
        .args(["componentize", ENTRY_MODULE])
        .arg("-p")
        .arg(&glue_dir)
        .arg("-p")
        .arg(&support_dir)
        .arg("-p")
        .arg(&app_dir)
        .arg("-o")
        .arg(output);
    eprintln!("Building {} with componentize-py …", dir.display());
    let result = command
        .output()
        .with_context(|| format!("failed to run `{}`", componentize_py.display()))?;
    if !result.status.success() {
        let stderr = String::from_utf8_lossy(&result.stderr);
        let stdout = String::from_utf8_lossy(&result.stdout);
        bail!(
            "componentize-py failed to build `{}` (its generated files are kept in {}):\n{stdout}{stderr}",
            dir.display(),
            work.keep().display()
        );
    }
    Ok(())
}

/// The componentize-py executable, with a clear error (how to install it) when there is none.
fn find_componentize_py() -> Result<PathBuf> {
    let program = std::env::var_os(COMPONENTIZE_PY_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("componentize-py"));
    match Command::new(&program).arg("--version").output() {
        Ok(output) if output.status.success() => {
            let version = String::from_utf8_lossy(&output.stdout);
            if !version.contains(COMPONENTIZE_PY_VERSION) {
                tracing::warn!(
                    "{} is {}; isyswasfa's Python glue is tested with componentize-py {COMPONENTIZE_PY_VERSION}",
                    program.display(),
                    version.trim()
                );
            }
            Ok(program)
        }
        _ => bail!(
            "componentize-py was not found (`{}`), and building a Python guest needs it: install it \
             with `pip install componentize-py=={COMPONENTIZE_PY_VERSION}` (or set {COMPONENTIZE_PY_ENV} \
             to its path)",
            program.display()
        ),
    }
}

/// Checks every `.py` file of `dir` (not its subdirectories) for syntax errors with the host's
/// Python, so that an error names the file and line. Skipped when no Python is found.
fn check_syntax(dir: &Path) -> Result<()> {
    const CHECK: &str = "import ast, sys\n\
        failed = False\n\
        for path in sys.argv[1:]:\n    \
            try:\n        \
                ast.parse(open(path, encoding='utf-8').read(), path)\n    \
            except SyntaxError as e:\n        \
                failed = True\n        \
                print(f'{e.filename}:{e.lineno}:{e.offset}: {e.msg}')\n        \
                if e.text:\n            \
                    print('    ' + e.text.rstrip())\n\
        sys.exit(1 if failed else 0)\n";
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read `{}`", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "py"))
        .collect();
    files.sort();
    for python in ["python3", "python"] {
        let Ok(output) = Command::new(python)
            .arg("-c")
            .arg(CHECK)
            .args(&files)
            .output()
        else {
            continue;
        };
        if output.status.success() {
            return Ok(());
        }
        let report = String::from_utf8_lossy(&output.stdout);
        if report.trim().is_empty() {
            // Not a syntax error: this Python is unusable; componentize-py will tell.
            return Ok(());
        }
        bail!("syntax error in the Python guest:\n{}", report.trim_end());
    }
    Ok(())
}

/// Adds the WIT the Python runtime imports besides the user's world (`wasi:io/poll` and the
/// isyswasfa pollables interface), unless the resolve has it already.
fn push_runtime_wit(resolve: &mut Resolve) -> Result<()> {
    use isyswasfa_protocol::wit::{POLLABLES, WASI_IO_POLL as IO_POLL};
    let has =
        |resolve: &Resolve, name: &str| resolve.package_names.keys().any(|p| p.to_string() == name);
    if !has(resolve, "wasi:io@0.2.0") {
        resolve
            .push_str("<isyswasfa>/wit/deps/io/poll.wit", IO_POLL)
            .context("the shipped wasi:io/poll WIT does not parse")?;
    }
    if !has(resolve, "isyswasfa:isyswasfa@0.1.0") {
        let mut map = isyswasfa_bindgen::wit_parser::SourceMap::default();
        map.push_str(
            "<isyswasfa>/wit/isyswasfa.wit",
            isyswasfa_bindgen::ISYSWASFA_WIT,
        );
        map.push_str("<isyswasfa>/wit/pollables.wit", POLLABLES);
        resolve
            .push_group(map.parse().map_err(|(_, error)| {
                anyhow::anyhow!("the isyswasfa WIT does not parse: {error}")
            })?)
            .context("the isyswasfa WIT does not resolve")?;
    }
    Ok(())
}

/// The directory's own name (for the default poll suffix).
fn directory_name(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "python-guest".to_string())
}

/// Copies the guest's Python sources (every file under `from` but its `wit/` and
/// `__pycache__` folders, at any depth) to `to`.
fn copy_sources(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create `{}`", to.display()))?;
    let entries =
        std::fs::read_dir(from).with_context(|| format!("cannot read `{}`", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read `{}`", from.display()))?;
        let (source, name) = (entry.path(), entry.file_name());
        let target = to.join(&name);
        if source.is_dir() {
            if name != "wit" && name != "__pycache__" {
                copy_sources(&source, &target)?;
            }
        } else {
            std::fs::copy(&source, &target).with_context(|| {
                format!(
                    "cannot copy `{}` to `{}`",
                    source.display(),
                    target.display()
                )
            })?;
        }
    }
    Ok(())
}

fn write_file(path: &Path, contents: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("cannot write `{}`", path.display()))
}

/// A built file that is removed when this is dropped.
pub struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A scratch directory for one build, removed afterwards unless kept for a failure report.
struct BuildDir {
    path: PathBuf,
    keep: std::cell::Cell<bool>,
}

impl BuildDir {
    fn new() -> Result<Self> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "isyswasfa-build-py-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create `{}`", path.display()))?;
        Ok(Self {
            path,
            keep: std::cell::Cell::new(false),
        })
    }

    fn keep(&self) -> &Path {
        self.keep.set(true);
        &self.path
    }
}

impl Drop for BuildDir {
    fn drop(&mut self) {
        if !self.keep.get() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
