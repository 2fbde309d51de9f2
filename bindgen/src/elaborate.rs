//! Keeps the worlds that lowering does not lower valid.
//!
//! Lowering changes interfaces in place: a lowered interface gains `use`s of the protocol
//! interface (and of pipe interfaces). Other worlds of the same `Resolve` that import or export
//! such an interface (the `world imports` of `wasi:clocks`, `wasi:http`'s `service`, …) then lack
//! imports that wit-parser requires of every world (it checks them all, for example before
//! wit-bindgen generates code). This adds the missing imports, dependencies first.

use wit_bindgen_core::wit_parser::{
    Docs, IndexMap, InterfaceId, Resolve, Span, Stability, WorldId, WorldItem, WorldKey,
};

/// Adds to every world but `lowered` the interface imports its imports and exports now need.
pub(crate) fn import_missing_deps(resolve: &mut Resolve, lowered: WorldId) {
    let others: Vec<WorldId> = resolve
        .worlds
        .iter()
        .map(|(id, _)| id)
        .filter(|id| *id != lowered)
        .collect();
    for world in others {
        let old = std::mem::take(&mut resolve.worlds[world].imports);
        let mut imports = IndexMap::default();
        for (key, item) in old {
            if let WorldItem::Interface { id, .. } = &item {
                import_deps(resolve, *id, &mut imports);
            }
            imports.insert(key, item);
        }
        let exported: Vec<InterfaceId> = resolve.worlds[world]
            .exports
            .values()
            .filter_map(|item| match item {
                WorldItem::Interface { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        for export in exported {
            let deps: Vec<InterfaceId> = resolve.interface_direct_deps(export).collect();
            for dep in deps {
                let key = WorldKey::Interface(dep);
                if !resolve.worlds[world].exports.contains_key(&key) && !imports.contains_key(&key)
                {
                    import_deps(resolve, dep, &mut imports);
                    imports.insert(key, interface_import(dep));
                }
            }
        }
        resolve.worlds[world].imports = imports;
    }
}

/// Inserts into `imports` every interface `interface` depends on, transitively, that is not
/// there yet, each after its own dependencies.
fn import_deps(
    resolve: &Resolve,
    interface: InterfaceId,
    imports: &mut IndexMap<WorldKey, WorldItem>,
) {
    for dep in resolve.interface_direct_deps(interface) {
        let key = WorldKey::Interface(dep);
        if !imports.contains_key(&key) {
            import_deps(resolve, dep, imports);
            imports.insert(key, interface_import(dep));
        }
    }
}

fn interface_import(id: InterfaceId) -> WorldItem {
    WorldItem::Interface {
        id,
        stability: Stability::Unknown,
        external_id: None,
        docs: Docs::default(),
        span: Span::default(),
    }
}
