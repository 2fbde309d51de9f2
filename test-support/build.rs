//! Generates the `Guest` enum from the members of the guests' workspace (`test-cases/Cargo.toml`):
//! one variant per guest crate, so tests name guests by a variant the compiler checks, and adding
//! a guest to that workspace adds a variant (which `every_guest_has_a_test` then asks a test for).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What the tests need to know of one guest crate.
struct GuestCrate {
    /// The package name, as in `cargo build -p`.
    package: String,
    /// Whether it has a `native` feature (the same source built as a native WASI 0.3 component).
    native_feature: bool,
}

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let test_cases = manifest_dir.join("..").join("test-cases");
    let workspace_manifest = test_cases.join("Cargo.toml");
    println!("cargo:rerun-if-changed={}", workspace_manifest.display());

    let workspace = read_toml(&workspace_manifest);
    let members = workspace
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .unwrap_or_else(|| {
            panic!(
                "{} has no `workspace.members` list",
                workspace_manifest.display()
            )
        });
    let guests: Vec<GuestCrate> = members
        .iter()
        .map(|member| {
            let member = member.as_str().unwrap_or_else(|| {
                panic!(
                    "a member of {} is not a string: {member}",
                    workspace_manifest.display()
                )
            });
            let manifest = test_cases.join(member).join("Cargo.toml");
            println!("cargo:rerun-if-changed={}", manifest.display());
            let crate_toml = read_toml(&manifest);
            let package = crate_toml
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
                .unwrap_or_else(|| panic!("{} has no `package.name`", manifest.display()))
                .to_string();
            let native_feature = crate_toml
                .get("features")
                .and_then(|f| f.get("native"))
                .is_some();
            GuestCrate {
                package,
                native_feature,
            }
        })
        .collect();

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("guests.rs");
    std::fs::write(&out, generate(&guests))
        .unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

fn read_toml(path: &Path) -> toml::Table {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// `round-trip` → `RoundTrip`.
fn variant_name(package: &str) -> String {
    package
        .split(['-', '_'])
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn generate(guests: &[GuestCrate]) -> String {
    let mut code = String::new();
    let w = &mut code;
    writeln!(
        w,
        "/// A guest crate of `test-cases/` (generated from its `Cargo.toml`)."
    )
    .unwrap();
    writeln!(w, "#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]").unwrap();
    writeln!(w, "pub enum Guest {{").unwrap();
    for guest in guests {
        writeln!(w, "    /// `test-cases/{}`.", guest.package).unwrap();
        writeln!(w, "    {},", variant_name(&guest.package)).unwrap();
    }
    writeln!(w, "}}\n").unwrap();
    writeln!(w, "impl Guest {{").unwrap();
    writeln!(
        w,
        "    /// Every guest, in the order of the workspace's members."
    )
    .unwrap();
    writeln!(w, "    pub const ALL: [Guest; {}] = [", guests.len()).unwrap();
    for guest in guests {
        writeln!(w, "        Guest::{},", variant_name(&guest.package)).unwrap();
    }
    writeln!(w, "    ];\n").unwrap();
    let arms = |w: &mut String, value: &dyn Fn(&GuestCrate) -> String| {
        for guest in guests {
            writeln!(
                w,
                "            Guest::{} => {},",
                variant_name(&guest.package),
                value(guest)
            )
            .unwrap();
        }
    };
    writeln!(w, "    /// The crate's package name (`cargo build -p`).").unwrap();
    writeln!(w, "    pub const fn package(self) -> &'static str {{").unwrap();
    writeln!(w, "        match self {{").unwrap();
    arms(w, &|g| format!("{:?}", g.package));
    writeln!(w, "        }}\n    }}\n").unwrap();
    writeln!(
        w,
        "    /// The name of the built component (`round_trip.wasm`)."
    )
    .unwrap();
    writeln!(w, "    pub const fn file_name(self) -> &'static str {{").unwrap();
    writeln!(w, "        match self {{").unwrap();
    arms(w, &|g| {
        format!("{:?}", format!("{}.wasm", g.package.replace('-', "_")))
    });
    writeln!(w, "        }}\n    }}\n").unwrap();
    writeln!(
        w,
        "    /// Whether the crate has a `native` feature (a native WASI 0.3 build of its source)."
    )
    .unwrap();
    writeln!(w, "    pub const fn has_native_feature(self) -> bool {{").unwrap();
    writeln!(w, "        match self {{").unwrap();
    arms(w, &|g| g.native_feature.to_string());
    writeln!(w, "        }}\n    }}\n}}").unwrap();
    code
}
