//! A small core module builder shared by the generated driver and ops adapter: types, imports,
//! functions, a bump allocator (`cabi_realloc`) over one memory, and data for names.

use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection, Function,
    FunctionSection, GlobalSection, GlobalType, ImportSection, Instruction, MemArg, MemorySection,
    MemoryType, Module, TypeSection, ValType,
};
use wit_parser::abi::{WasmSignature, WasmType};
use wit_parser::{SizeAlign, Type};

/// Where data (names) starts in memory; below is never handed out.
pub(crate) const DATA_START: u32 = 8;

/// Global 0: the bump allocator's next free byte.
pub(crate) const BUMP: u32 = 0;

pub(crate) fn val(ty: WasmType) -> ValType {
    match ty {
        WasmType::I32 | WasmType::Pointer | WasmType::Length => ValType::I32,
        WasmType::I64 | WasmType::PointerOrI64 => ValType::I64,
        WasmType::F32 => ValType::F32,
        WasmType::F64 => ValType::F64,
    }
}

pub(crate) fn mem(offset: u32, align: u32) -> MemArg {
    MemArg {
        offset: u64::from(offset),
        align,
        memory_index: 0,
    }
}

/// The core module under construction.
#[derive(Default)]
pub(crate) struct Core {
    pub(crate) types: Vec<(Vec<ValType>, Vec<ValType>)>,
    pub(crate) imports: Vec<(String, String, u32)>,
    pub(crate) functions: Vec<(u32, Function)>,
    pub(crate) exports: Vec<(String, ExportKind, u32)>,
    pub(crate) data: Vec<u8>,
}

impl Core {
    pub(crate) fn ty(&mut self, params: Vec<ValType>, results: Vec<ValType>) -> u32 {
        let key = (params, results);
        if let Some(i) = self.types.iter().position(|t| *t == key) {
            return i as u32;
        }
        self.types.push(key);
        (self.types.len() - 1) as u32
    }

    pub(crate) fn sig_type(&mut self, sig: &WasmSignature) -> u32 {
        let params = sig.params.iter().copied().map(val).collect();
        let results = sig.results.iter().copied().map(val).collect();
        self.ty(params, results)
    }

    pub(crate) fn import(&mut self, (module, field): (String, String), sig: &WasmSignature) -> u32 {
        let ty = self.sig_type(sig);
        self.imports.push((module, field, ty));
        (self.imports.len() - 1) as u32
    }

    /// Index the next defined function gets.
    pub(crate) fn next_function(&self) -> u32 {
        (self.imports.len() + self.functions.len()) as u32
    }

    pub(crate) fn define(&mut self, ty: u32, function: Function) -> u32 {
        let index = self.next_function();
        self.functions.push((ty, function));
        index
    }

    /// Puts `text` in the data segment: its address and length.
    pub(crate) fn string(&mut self, text: &str) -> (i32, i32) {
        let at = DATA_START as usize + self.data.len();
        self.data.extend_from_slice(text.as_bytes());
        (at as i32, text.len() as i32)
    }

    pub(crate) fn heap_base(&self) -> u32 {
        (DATA_START + self.data.len() as u32 + 15) & !15
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        let heap_base = self.heap_base();
        let mut module = Module::new();
        let mut types = TypeSection::new();
        for (params, results) in &self.types {
            types
                .ty()
                .function(params.iter().copied(), results.iter().copied());
        }
        module.section(&types);
        let mut imports = ImportSection::new();
        for (module_name, field, ty) in &self.imports {
            imports.import(module_name, field, EntityType::Function(*ty));
        }
        module.section(&imports);
        let mut functions = FunctionSection::new();
        for (ty, _) in &self.functions {
            functions.function(*ty);
        }
        module.section(&functions);
        let mut memories = MemorySection::new();
        memories.memory(MemoryType {
            minimum: u64::from(heap_base / 65536 + 1),
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        module.section(&memories);
        let mut globals = GlobalSection::new();
        let mutable_i32 = GlobalType {
            val_type: ValType::I32,
            mutable: true,
            shared: false,
        };
        globals.global(mutable_i32, &ConstExpr::i32_const(heap_base as i32));
        // Global 1: a flag for the module's own use (the driver's "registered").
        globals.global(mutable_i32, &ConstExpr::i32_const(0));
        module.section(&globals);
        let mut exports = ExportSection::new();
        exports.export("memory", ExportKind::Memory, 0);
        for (name, kind, index) in &self.exports {
            exports.export(name, *kind, *index);
        }
        module.section(&exports);
        let mut code = CodeSection::new();
        for (_, function) in &self.functions {
            code.function(function);
        }
        module.section(&code);
        let mut data = DataSection::new();
        data.active(
            0,
            &ConstExpr::i32_const(DATA_START as i32),
            self.data.iter().copied(),
        );
        module.section(&data);
        module.finish()
    }
}

pub(crate) fn alloc_call(f: &mut Function, alloc: u32, sizes: &SizeAlign, ty: &Type) {
    f.instruction(&Instruction::I32Const(sizes.size(ty).size_wasm32() as i32));
    f.instruction(&Instruction::I32Const(sizes.align(ty).align_wasm32() as i32));
    f.instruction(&Instruction::Call(alloc));
}

/// `cabi_realloc(old, old-size, align, new-size) -> ptr`: bump allocation, growing memory.
pub(crate) fn define_realloc(core: &mut Core) -> u32 {
    let ty = core.ty(vec![ValType::I32; 4], vec![ValType::I32]);
    let (old, old_size, align, new_size, aligned, end) = (0, 1, 2, 3, 4, 5);
    let mut f = Function::new([(2, ValType::I32)]);
    use Instruction::*;
    // At least 8: lists of bytes handed out here may be reread as lists of wider values.
    for i in [
        LocalGet(align),
        I32Const(8),
        LocalGet(align),
        I32Const(8),
        I32GtU,
        Select,
        LocalSet(align),
        GlobalGet(BUMP),
        LocalGet(align),
        I32Add,
        I32Const(1),
        I32Sub,
        I32Const(0),
        LocalGet(align),
        I32Sub,
        I32And,
        LocalSet(aligned),
        LocalGet(aligned),
        LocalGet(new_size),
        I32Add,
        LocalSet(end),
        // Wrapped around: more than the address space.
        LocalGet(end),
        LocalGet(aligned),
        I32LtU,
        If(wasm_encoder::BlockType::Empty),
        Unreachable,
        End,
        LocalGet(end),
        MemorySize(0),
        I32Const(16),
        I32Shl,
        I32GtU,
        If(wasm_encoder::BlockType::Empty),
        LocalGet(end),
        MemorySize(0),
        I32Const(16),
        I32Shl,
        I32Sub,
        I32Const(65535),
        I32Add,
        I32Const(16),
        I32ShrU,
        MemoryGrow(0),
        I32Const(-1),
        I32Eq,
        If(wasm_encoder::BlockType::Empty),
        Unreachable,
        End,
        End,
        LocalGet(old_size),
        If(wasm_encoder::BlockType::Empty),
        LocalGet(aligned),
        LocalGet(old),
        LocalGet(old_size),
        LocalGet(new_size),
        LocalGet(old_size),
        LocalGet(new_size),
        I32LtU,
        Select,
        MemoryCopy {
            src_mem: 0,
            dst_mem: 0,
        },
        End,
        LocalGet(end),
        GlobalSet(BUMP),
        LocalGet(aligned),
        End,
    ] {
        f.instruction(&i);
    }
    core.define(ty, f)
}

/// `alloc(size, align) -> ptr`.
pub(crate) fn define_alloc(core: &mut Core, realloc: u32) -> u32 {
    let ty = core.ty(vec![ValType::I32; 2], vec![ValType::I32]);
    let mut f = Function::new([]);
    use Instruction::*;
    for i in [
        I32Const(0),
        I32Const(0),
        LocalGet(1),
        LocalGet(0),
        Call(realloc),
        End,
    ] {
        f.instruction(&i);
    }
    core.define(ty, f)
}
