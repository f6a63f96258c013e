/**
 * Decoded pages copied between harts (memory.ts adoptDecodedPage): a hart that meets a page it has not decoded starts
 * from another hart's decoding of it, unless a fence.i came after that hart's last flush.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../src/cpu/memory.js';
import { Hart } from '../src/cpu/hart.js';
import * as A from './helpers/asm.js';
import { Asm } from './helpers/asm.js';

const BASE = 0x80000000;
const S_MODE = 1;

/** Straight code over two pages: a0 = 1 + 2 + ... + n, one `addi` per term, then a spin. */
function sumCode(mem: GuestMemory, n: number): void {
  const p = new Asm(BASE);
  for (let k = 1; k <= n; k++) p.w(A.addi(A.a0, A.a0, k));
  p.w(A.jal(0, 0));
  mem.write(BASE, p.bytes());
}

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

test('after a fence.i a hart does not copy a decoding older than it', () => {
  const mem = new GuestMemory(64 * 1024);
  // Version 1 loaded by the host; version 2 written into RAM as another hart's stores would be (no host write, which
  // counts as a fence: see the next test).
  const code = (value: number): void => {
    const p = new Asm(BASE);
    p.li(A.a0, value).w(A.jal(0, 0));
    if (value === 1) mem.write(BASE, p.bytes()); else mem.u8.set(p.bytes(), 0);
  };
  // Another page: a fence.i, then a spin.
  const fencer = new Asm(BASE + 0x2000);
  fencer.w(A.fenceI(), A.jal(0, 0));
  mem.write(BASE + 0x2000, fencer.bytes());

  code(1);
  const stale = new Hart(mem, { hartId: 0, engine: 'jit' });
  runFrom(stale, BASE, 10);
  assert.equal(stale.regs[A.a0], 1);
  // The code changes; `stale` has not fenced, so its decoding is the old one.
  code(2);
  const before = new Hart(mem, { hartId: 1, engine: 'jit' });
  runFrom(before, BASE, 10);
  assert.equal(before.adopted, 1, 'no fence yet: the (stale) decoding may be copied, as a hart that has not fenced may fetch old code');
  assert.equal(before.regs[A.a0], 1);
  // A hart executes fence.i: from now on no hart takes `stale`'s (or `before`'s) decodings.
  const fencing = new Hart(mem, { hartId: 2, engine: 'jit' });
  runFrom(fencing, BASE + 0x2000, 10);
  const after = new Hart(mem, { hartId: 3, engine: 'jit' });
  runFrom(after, BASE, 10);
  assert.equal(after.adopted, 0);
  assert.equal(after.regs[A.a0], 2, 'the new code');
  // Once `stale` has fenced too, its decodings are current again.
  stale.fenceI();
  runFrom(stale, BASE, 10);
  const later = new Hart(mem, { hartId: 4, engine: 'jit' });
  runFrom(later, BASE, 10);
  assert.equal(later.adopted, 1);
  assert.equal(later.regs[A.a0], 2);
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
