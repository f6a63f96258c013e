/**
 * Unit tests of the translating engine (src/cpu/jit.ts): engine selection, hotness (only hot loops are translated),
 * a golden test pinning the JS generated for a small loop, and the entry marks the interpreter stops at. The
 * differential tests against the interpreter are in jit-diff.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../src/cpu/memory.js';
import { Exit, Hart } from '../src/cpu/hart.js';
import { DEFAULT_JIT_THRESHOLD, defaultEngine, defaultJitThreshold } from '../src/cpu/jit.js';
import * as A from './helpers/asm.js';
import { Asm, PTE, Sv32 } from './helpers/asm.js';

const BASE = 0x80000000;

/** A program at RAM base: a loop over a word that it also stores (lw, add, sw, addi, bne), `n` iterations, then a spin. */
function loopProgram(n: number): GuestMemory {
  const mem = new GuestMemory(64 * 1024);
  const p = new Asm(BASE);
  p.li(A.a1, BASE + 0x8000).li(A.s1, n);
  p.label('loop').w(A.lw(A.t0, A.a1, 0), A.add(A.a0, A.a0, A.t0), A.sw(A.a0, A.a1, 4), A.addi(A.s1, A.s1, -1), (pc, L) => A.bne(A.s1, 0, L('loop') - pc));
  p.w(A.jal(0, 0));
  mem.write(BASE, p.bytes());
  return mem;
}

function withEnv(name: string, value: string | undefined, body: () => void): void {
  const saved = process.env[name];
  if (value === undefined) delete process.env[name]; else process.env[name] = value;
  try { body(); } finally { if (saved === undefined) delete process.env[name]; else process.env[name] = saved; }
}

test('engine selection: the translator by default, HARTVISOR_ENGINE=interp selects the interpreter, options win', () => {
  withEnv('HARTVISOR_ENGINE', undefined, () => {
    assert.equal(defaultEngine(), 'jit');
    const h = new Hart(new GuestMemory(4096));
    assert.equal(h.engine, 'jit');
    assert.ok(h.jitStats !== null && h.translator !== null);
    assert.equal(new Hart(new GuestMemory(4096), { engine: 'interp' }).engine, 'interp');
  });
  withEnv('HARTVISOR_ENGINE', 'interp', () => {
    assert.equal(defaultEngine(), 'interp');
    const h = new Hart(new GuestMemory(4096));
    assert.equal(h.engine, 'interp');
    assert.equal(h.jitStats, null);
    assert.equal(new Hart(new GuestMemory(4096), { engine: 'jit' }).engine, 'jit');
  });
  withEnv('HARTVISOR_JIT_THRESHOLD', '12', () => assert.equal(defaultJitThreshold(), 12));
  withEnv('HARTVISOR_JIT_THRESHOLD', 'nonsense', () => assert.equal(defaultJitThreshold(), DEFAULT_JIT_THRESHOLD));
  assert.throws(() => new Hart(new GuestMemory(4096), { jitThreshold: 0 }), RangeError);
});

test('hotness: a loop is translated once it has iterated `threshold` times, not before; the result is the same', () => {
  const threshold = 50;
  for (const n of [threshold - 2, threshold + 200]) {
    const h = new Hart(loopProgram(n), { engine: 'jit', jitThreshold: threshold });
    const ref = new Hart(loopProgram(n), { engine: 'interp' });
    h.reset(BASE, 3); ref.reset(BASE, 3);
    assert.equal(h.run(10 + 5 * n), Exit.Budget);
    ref.run(10 + 5 * n);
    assert.equal(h.jitStats!.regions, n < threshold ? 0 : 1, `${n} iterations`);
    assert.deepEqual(Array.from(h.regs), Array.from(ref.regs));
    assert.equal(h.instret, ref.instret);
    assert.equal(h.pc, ref.pc);
  }
});

test('hotness: only loops that stay on their page are translated, not hot functions or loops that call out', () => {
  // Phase 1: a loop calling a function on another page 300 times: neither the loop (each iteration would leave
  // the region) nor the function (straight-line code) is translated. Phase 2: a plain loop, which is.
  const mem = new GuestMemory(64 * 1024);
  const p = new Asm(BASE);
  p.li(A.s1, 300);
  p.label('calls').w((pc, L) => A.jal(A.ra, L('fn') - pc), A.addi(A.s1, A.s1, -1), (pc, L) => A.bne(A.s1, 0, L('calls') - pc));
  p.li(A.s1, 300);
  p.label('plain').w(A.addi(A.a1, A.a1, 2), A.addi(A.s1, A.s1, -1), (pc, L) => A.bne(A.s1, 0, L('plain') - pc));
  p.label('end').w(A.jal(0, 0));
  p.org(BASE + 0x2000).label('fn').w(A.addi(A.a0, A.a0, 3), A.xori(A.a2, A.a0, 5), A.jalr(0, A.ra, 0));
  mem.write(BASE, p.bytes());
  const h = new Hart(mem, { engine: 'jit', jitThreshold: 20, jitBackEnd: 'js' });
  h.reset(BASE, 3);
  h.run(1800); // 2 + 300 * 6 instructions: phase 1 but its last
  assert.equal(h.regs[A.a0], 900);
  assert.equal(h.jitStats!.regions, 0, 'no loop of its own in phase 1');
  h.run(1300);
  assert.equal(h.pc >>> 0, p.addr('end'));
  assert.equal(h.regs[A.a1], 600);
  assert.equal(h.jitStats!.regions, 1, 'the plain loop');
  assert.match(h.translator!.lastSource, new RegExp(`region_00000_${(p.addr('plain') & 0xfff).toString(16).padStart(3, '0')}`));
});

test('hotness: a loop that calls functions on its own page is translated with their bodies; results match', () => {
  // The loop calls `fn`, which calls `leaf` (both on the loop's page) and returns through JALR: one region holds
  // all three, the returns land on its entry points, and no iteration leaves it.
  const build = (): GuestMemory => {
    const mem = new GuestMemory(64 * 1024);
    const p = new Asm(BASE);
    p.li(A.s1, 500).li(A.sp, BASE + 0x8000);
    p.label('loop').w((pc, L) => A.jal(A.ra, L('fn') - pc), A.add(A.a1, A.a1, A.a0), A.addi(A.s1, A.s1, -1), (pc, L) => A.bne(A.s1, 0, L('loop') - pc));
    p.label('end').w(A.jal(0, 0));
    p.label('fn').w(A.addi(A.sp, A.sp, -4), A.sw(A.ra, A.sp, 0), (pc, L) => A.jal(A.ra, L('leaf') - pc), A.xori(A.a0, A.a0, 5),
      A.lw(A.ra, A.sp, 0), A.addi(A.sp, A.sp, 4), A.jalr(0, A.ra, 0));
    p.label('leaf').w(A.addi(A.a0, A.a0, 3), A.jalr(0, A.ra, 0));
    mem.write(BASE, p.bytes());
    return mem;
  };
  for (const jitBackEnd of ['js', 'wasm'] as const) {
  const h = new Hart(build(), { engine: 'jit', jitThreshold: 20, jitBackEnd });
  const ref = new Hart(build(), { engine: 'interp' });
  h.reset(BASE, 3); ref.reset(BASE, 3);
  h.run(8000); ref.run(8000);
  assert.equal(h.translator!.wasm, jitBackEnd === 'wasm');
  assert.equal(h.jitStats!.regions, 1, 'the loop, with fn and leaf');
  assert.equal(h.jitStats!.declined, 0);
  if (jitBackEnd === 'js') assert.match(h.translator!.lastSource, /map\[a >> 1\]/, 'returns are looked up among the entry points');
  assert.deepEqual(Array.from(h.regs), Array.from(ref.regs));
  assert.equal(h.pc, ref.pc);
  assert.equal(h.instret, ref.instret);
  let a0 = 0, a1 = 0;
  for (let k = 0; k < 500; k++) { a0 = (a0 + 3) ^ 5; a1 = (a1 + a0) | 0; }
  assert.equal(h.regs[A.a1], a1);
  assert.equal(h.regs[A.s1], 0, 'the loop ran to its end within the budget');
  }
});

test('golden: the JS generated for a small loop (lw, add, sw, addi, bne)', () => {
  const h = new Hart(loopProgram(100), { engine: 'jit', jitThreshold: 10, jitBackEnd: 'js' });
  h.reset(BASE, 3);
  h.run(1000);
  assert.equal(h.jitStats!.regions, 1);
  assert.equal(h.translator!.lastSource, GOLDEN);
});

test('FENCE.I drops every translation; the loop is translated again once hot', () => {
  const mem = loopProgram(1000);
  const h = new Hart(mem, { engine: 'jit', jitThreshold: 10 });
  h.reset(BASE, 3);
  h.run(500);
  assert.equal(h.jitStats!.regions, 1);
  h.flushCode();
  assert.equal(h.jitStats!.flushes, 1);
  h.run(500); // translated again after `threshold` more iterations
  assert.equal(h.jitStats!.regions, 2);
  const ref = new Hart(loopProgram(1000), { engine: 'interp' });
  ref.reset(BASE, 3);
  ref.run(1000);
  assert.equal(h.regs[A.a0], ref.regs[A.a0]);
  assert.equal(h.instret, ref.instret);
});

/** Pinned output of the translator for loopProgram (update deliberately when the code generator changes). */
const GOLDEN = `"use strict";
return function region_00000_010(pc0, s, left) {
let npc = 0, a = 0, b = 0, t = 0, back = 0;
const cx = h.dataCtx;
let x5 = r[5], x9 = r[9], x10 = r[10], x11 = r[11];
out: for (;;) {
switch (s) {
case 0:
for (;;) {
if (left < 5) { npc = 16; break out; }
left -= 5;
a = x11 + 0 | 0; t = (a >>> 12) & 1023;
if (ltag[t] !== ((a >>> 12) | cx) || (a & 3) !== 0) { back = 5; npc = 17; break out; }
x5 = m32[(loff[t] + (a & 4095)) >> 2];
x10 = x10 + x5 | 0;
a = x11 + 4 | 0; t = (a >>> 12) & 1023;
if (stag[t] !== ((a >>> 12) | cx) || (a & 3) !== 0) { back = 3; npc = 25; break out; }
m32[(soff[t] + (a & 4095)) >> 2] = x10;
x9 = x9 + (-1) | 0;
if (x9 !== 0) { continue; }
npc = 36; break out;
}
case 1:
if (left < 2) { npc = 20; break out; }
left -= 2;
x10 = x10 + x5 | 0;
a = x11 + 4 | 0; t = (a >>> 12) & 1023;
if (stag[t] !== ((a >>> 12) | cx) || (a & 3) !== 0) { back = 1; npc = 25; break out; }
m32[(soff[t] + (a & 4095)) >> 2] = x10;
case 2:
if (left < 2) { npc = 28; break out; }
left -= 2;
x9 = x9 + (-1) | 0;
if (x9 !== 0) { s = 0; continue out; }
npc = 36; break out;
default: npc = 0; break out;
}
}
r[5] = x5; r[9] = x9; r[10] = x10;
hs[34] = left + back;
return pc0 + npc | 0;
};`;

test('AMOs, LR and SC that miss the TLB are translated by the WebAssembly interpreter\'s page walk, not in JavaScript', () => {
  // S-mode over Sv32: after an sfence.vma, amoadd.w on five pages the TLB has not seen, then lr.w/sc.w on a sixth.
  const run = (engine: 'jit' | 'interp'): { a: number[]; mem: number[]; steps: number } => {
    const mem = new GuestMemory(64 * 1024);
    const pt = new Sv32(mem, BASE + 0x8000, BASE + 0x9000);
    for (let k = 0; k < 16; k++) pt.map(BASE + k * 0x1000, BASE + k * 0x1000, PTE.V | PTE.R | PTE.W | PTE.X | PTE.A | PTE.D);
    const data = (k: number): number => BASE + 0xa000 + k * 0x1000 + 4 * k;
    for (let k = 0; k < 6; k++) mem.writeU32(data(k), 100 * k);
    const p = new Asm(BASE + 0x1000);
    p.w(A.sfenceVma()).li(A.t1, 5);
    for (let k = 0; k < 5; k++) p.li(A.t0, data(k)).w(A.amo(A.AMO.add, A.a1 + (k % 2), A.t0, A.t1));
    p.li(A.t0, data(5)).w(A.lrW(A.a3, A.t0), A.addi(A.a3, A.a3, 7), A.scW(A.a4, A.t0, A.a3), A.jal(0, 0));
    mem.write(BASE + 0x1000, p.bytes());
    const h = new Hart(mem, { hartId: 0, engine });
    let steps = 0;
    const step = (h as unknown as { step(): number }).step.bind(h);
    (h as unknown as { step(): number }).step = () => { steps++; return step(); };
    // Twice: the first pass also decodes the code (JavaScript decodes what follows an AMO when it first runs).
    for (let pass = 0; pass < 2; pass++) {
      steps = 0;
      h.reset(BASE + 0x1000, 1);
      h.csrWrite(0x180, pt.satp);
      h.run(100);
    }
    return { a: [A.a1, A.a2, A.a3, A.a4].map((r) => h.regs[r]), mem: [0, 1, 2, 3, 4, 5].map((k) => mem.readU32(data(k))), steps };
  };
  const ref = run('interp'), jit = run('jit');
  assert.deepEqual(jit.a, ref.a);
  assert.deepEqual(jit.mem, ref.mem);
  assert.deepEqual(ref.mem, [10, 110, 210, 310, 410, 514]);
  assert.equal(ref.a[3], 0, 'the SC succeeded');
  // In the second pass JavaScript runs the sfence.vma, and none of the six misses.
  assert.equal(jit.steps, 1, `JavaScript ran ${jit.steps} instructions`);
});
