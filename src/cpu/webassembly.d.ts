// The part of the WebAssembly JS API the engine uses (the "dom" lib, which declares it, does not fit a Node
// project, and @types/node does not declare it).
declare namespace WebAssembly {
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number; shared?: boolean });
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    /** Grows by `delta` pages; returns the old size in pages (`grow(0)`: the size now, and a fresh `buffer`). */
    grow(delta: number): number;
  }
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
}
