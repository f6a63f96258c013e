/**
 * Decoded pages and their snapshots (memory.ts SNAPSHOT_WORD): a hart that meets a page it has not decoded starts from
 * another hart's decoding of it when that decoding is of the bytes the page holds now; a fence.i drops exactly the
 * pages whose bytes changed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../src/cpu/memory.js';
import { Hart } from '../src/cpu/hart.js';
import * as A from './helpers/asm.js';
import { Asm, PTE, Sv32 } from './helpers/asm.js';

const BASE = 0x80000000;
const S_MODE = 1;

/** Straight code (over two pages for n > 1,024): a0 = 1 + 2 + ... + n, one `addi` per term, then a spin. */
function sumCodeAt(mem: GuestMemory, at: number, n: number): void {
  const p = new Asm(at);
  p.w(A.addi(A.a0, 0, 0));
  for (let k = 1; k <= n; k++) p.w(A.addi(A.a0, A.a0, k));
  p.w(A.jal(0, 0));
  mem.write(at, p.bytes());
}
const sumCode = (mem: GuestMemory, n: number): void => sumCodeAt(mem, BASE, n);

function runFrom(h: Hart, pc: number, budget: number): void {
  h.reset(pc, S_MODE);
  h.run(budget);
}

test('a hart runs the pages another hart decoded from copies, to the same result', () => {
  const mem = new GuestMemory(64 * 1024);
  sumCode(mem, 1500); // 6 KB of code: two pages
  const first = new Hart(mem, { hartId: 0, engine: 'jit' });
  runFrom(first, BASE, 2000);
  assert.equal(first.regs[A.a0], (1500 * 1501) / 2);
  assert.equal(first.adopted, 0, 'nothing to copy from yet');

  const second = new Hart(mem, { hartId: 1, engine: 'jit' });
  runFrom(second, BASE, 2000);
  assert.equal(second.regs[A.a0], (1500 * 1501) / 2);
  assert.equal(second.adopted, 2, 'both pages copied');

  const own = new Hart(mem, { hartId: 2, engine: 'jit', adoptDecoded: false });
  runFrom(own, BASE, 2000);
  assert.equal(own.regs[A.a0], (1500 * 1501) / 2);
  assert.equal(own.adopted, 0);
});

/** `li a0, value; j .` at `at`, written as another hart's stores would write it (not through the host's `write`). */
function putValueCode(mem: GuestMemory, at: number, value: number): void {
  const p = new Asm(at);
  p.li(A.a0, value).w(A.jal(0, 0));
  mem.u8.set(p.bytes(), at - BASE);
}

test('a decoding of bytes that have changed since is never copied', () => {
  const mem = new GuestMemory(64 * 1024);
  putValueCode(mem, BASE, 1);
  const stale = new Hart(mem, { hartId: 0, engine: 'jit' });
  runFrom(stale, BASE, 10);
  assert.equal(stale.regs[A.a0], 1);
  putValueCode(mem, BASE, 2);
  // `stale` has not fenced: it may still run what it decoded.
  runFrom(stale, BASE, 10);
  assert.equal(stale.regs[A.a0], 1);
  const next = new Hart(mem, { hartId: 1, engine: 'jit' });
  runFrom(next, BASE, 10);
  assert.equal(next.adopted, 0, 'the old decoding is not copied');
  assert.equal(next.regs[A.a0], 2);
  // Back to the bytes `stale` decoded: its decoding is current again, and copied.
  putValueCode(mem, BASE, 1);
  const third = new Hart(mem, { hartId: 2, engine: 'jit' });
  runFrom(third, BASE, 10);
  assert.equal(third.adopted, 1);
  assert.equal(third.regs[A.a0], 1);
});

test('a fence.i drops the decoded pages whose bytes changed, and only those', () => {
  const mem = new GuestMemory(64 * 1024);
  putValueCode(mem, BASE, 1);
  sumCodeAt(mem, BASE + 0x2000, 10);
  for (const engine of ['jit', 'interp'] as const) {
    putValueCode(mem, BASE, 1);
    const h = new Hart(mem, { hartId: 0, engine });
    runFrom(h, BASE, 10);
    runFrom(h, BASE + 0x2000, 100);
    assert.equal(h.regs[A.a0], 55);
    assert.equal(h.decodedPages, 2);
    putValueCode(mem, BASE, 2); // as another hart's stores: this hart sees them after its fence.i
    h.fenceI();
    assert.equal(h.decodedPages, 1, `${engine}: the changed page only`);
    runFrom(h, BASE, 10);
    assert.equal(h.regs[A.a0], 2, `${engine}: the new code`);
    h.dispose();
  }
});

test('code is decoded from the bytes a page had when the hart first fetched from it (no stale mix after a fence.i)', () => {
  // The hart decodes the page's first instruction; the second changes before the hart first runs it (it may see
  // either version, and sees the old one, as decoded from the page's snapshot), then changes back: after a fence.i
  // the hart must run what memory holds. Decoding the second instruction from RAM then would have left a decoding
  // of bytes the page no longer holds, in a page that compares equal to RAM.
  const mem = new GuestMemory(64 * 1024);
  const code = (second: number): void => {
    const p = new Asm(BASE);
    p.w(A.addi(A.a0, 0, 1)).w(A.jal(0, 4)).w(A.addi(A.a0, A.a0, second)).w(A.jal(0, 0));
    mem.u8.set(p.bytes(), 0);
  };
  code(10);
  const h = new Hart(mem, { hartId: 0, engine: 'interp' });
  runFrom(h, BASE, 1); // decodes the first instruction only
  code(20);
  h.run(3);
  assert.equal(h.regs[A.a0], 11, 'the bytes of the first fetch');
  code(10);
  h.fenceI();
  runFrom(h, BASE, 4);
  assert.equal(h.regs[A.a0], 11);
  code(20);
  h.fenceI();
  runFrom(h, BASE, 4);
  assert.equal(h.regs[A.a0], 21, 'after a fence.i, the bytes in memory');
});

test('a disposed hart\'s decodings are not copied', () => {
  const mem = new GuestMemory(64 * 1024);
  sumCode(mem, 10);
  const gone = new Hart(mem, { hartId: 0, engine: 'jit' });
  const next = new Hart(mem, { hartId: 1, engine: 'jit' }); // (another slot)
  runFrom(gone, BASE, 100);
  gone.dispose();
  runFrom(next, BASE, 100);
  assert.equal(next.adopted, 0);
  assert.equal(next.regs[A.a0], 55);
});

test('code the host writes (a loader, a device) is what a hart that has not run it yet runs', () => {
  const mem = new GuestMemory(64 * 1024);
  const code = (value: number): void => {
    const p = new Asm(BASE);
    p.li(A.a0, value).w(A.jal(0, 0));
    mem.write(BASE, p.bytes());
  };
  code(1);
  const first = new Hart(mem, { hartId: 0, engine: 'jit' });
  runFrom(first, BASE, 10);
  code(2);
  const second = new Hart(mem, { hartId: 1, engine: 'jit' });
  runFrom(second, BASE, 10);
  assert.equal(second.adopted, 0);
  assert.equal(second.regs[A.a0], 2);
});

test('a store to a decoded page drops it also when the WebAssembly interpreter\'s page walk translates it', () => {
  // S-mode over Sv32 (so that a store that misses the TLB is translated by the page walk in WebAssembly): code on a
  // writable page stores into itself, after an sfence.vma, over an instruction decoded already; no fence.i after it.
  // The reference interpreter drops the page at the store and runs the new instruction; so must 'jit'.
  const run = (engine: 'jit' | 'interp'): number => {
    const mem = new GuestMemory(64 * 1024);
    const pt = new Sv32(mem, BASE + 0x8000, BASE + 0x9000);
    for (let k = 0; k < 8; k++) pt.map(BASE + k * 0x1000, BASE + k * 0x1000, PTE.V | PTE.R | PTE.W | PTE.X | PTE.A | PTE.D);
    const p = new Asm(BASE + 0x1000);
    p.la(A.t0, 'patched').li(A.t1, A.addi(A.a0, 0, 2)).w(A.sfenceVma(), A.sw(A.t1, A.t0, 0));
    p.label('patched').w(A.addi(A.a0, 0, 1), A.jal(0, 0));
    mem.write(BASE + 0x1000, p.bytes());
    const h = new Hart(mem, { hartId: 0, engine });
    h.reset(BASE + 0x1000, S_MODE);
    h.csrWrite(0x180, pt.satp);
    h.run(50);
    return h.regs[A.a0];
  };
  assert.equal(run('interp'), 2);
  assert.equal(run('jit'), 2);
});
