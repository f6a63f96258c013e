/**
 * The differential tests of jit-diff.test.ts over the translator's JavaScript back end and the JavaScript interpreter
 * alone (WebAssembly for both is the default, tested there).
 */
process.env.HARTVISOR_JIT_BACKEND = 'js';
process.env.HARTVISOR_WASM_INTERP = '0';
await import('./jit-diff.test.js');
