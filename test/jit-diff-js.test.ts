/**
 * The differential tests of jit-diff.test.ts over the translator's JavaScript back end (the WebAssembly one is the
 * default, tested there).
 */
process.env.HARTVISOR_JIT_BACKEND = 'js';
await import('./jit-diff.test.js');
