#!/usr/bin/env python3
"""Checks that the modules of a crate import one another without a circle.

Every file under SRC is a module (`a/b.rs` and `a/b/mod.rs` are `a::b`). A module depends on
another when it names it through a `crate::…` path (in a `use` or inline). Names through the crate
root's re-exports (`crate::Host`) count as a dependency on the root, so the root (which only
declares and re-exports) must not be named. Child modules declared by a parent are not edges.
Prints each circle found and exits 1, or prints the module count and exits 0.

Usage: scripts/module-cycles.py host-runtime/src
"""
import os
import re
import sys


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return "::".join(rel)


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "host-runtime/src"
    files = {}
    for root, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(root, name)
                files[module_of(src, path)] = path
    modules = set(files)
    edges = {m: set() for m in modules}
    for module, path in files.items():
        text = strip_comments(open(path, encoding="utf-8").read())
        paths = re.findall(r"crate::((?:\w+::)*\w+)", text)
        # `use crate::a::{b, c::d}` groups: expand the prefix.
        for prefix, group in re.findall(r"crate::((?:\w+::)*)\{([^}]*)\}", text):
            for item in group.split(","):
                item = item.strip().split(" as ")[0]
                if item:
                    paths.append(prefix + item)
        for p in paths:
            parts = p.split("::")
            target = ""
            for i in range(len(parts), 0, -1):
                candidate = "::".join(parts[:i])
                if candidate in modules:
                    target = candidate
                    break
            if target != module and not (module.startswith(target + "::") and target == ""):
                if target == module:
                    continue
                edges[module].add(target)
    # The root declares and re-exports every module: its own edges are not dependencies.
    edges[""] = set()
    cycles = []
    state = {}
    stack = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(edges[m]):
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(modules):
        if m not in state:
            visit(m)
    for cycle in cycles:
        print("circle: " + " -> ".join(c or "crate" for c in cycle))
    if cycles:
        return 1
    print(f"{len(modules)} modules, no import circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
