/**
 * Hart slots in guest memory (memory.ts): each hart claims one for the state its WebAssembly translations work on;
 * a hart that finds none keeps its state in its own arrays and translates to JavaScript, and a disposed hart's slot
 * serves the next one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory, HART_SLOTS } from '../src/cpu/memory.js';
import { Hart } from '../src/cpu/hart.js';
import { createVm } from '../src/hv/vm.js';
import { counterAddr, loadGuest } from './helpers/guest.js';
import * as A from './helpers/asm.js';
import { Asm } from './helpers/asm.js';

const BASE = 0x80000000;

/** A loop summing 1..n into a0, then a spin. */
function sumLoop(mem: GuestMemory, n: number): void {
  const p = new Asm(BASE);
  p.li(A.s1, n);
  p.label('loop').w(A.add(A.a0, A.a0, A.s1), A.addi(A.s1, A.s1, -1), (pc, L) => A.bne(A.s1, 0, L('loop') - pc));
  p.w(A.jal(0, 0));
  mem.write(BASE, p.bytes());
}

test('guest memory is a shared WebAssembly memory with RAM at offset 0', () => {
  const mem = new GuestMemory(64 * 1024);
  assert.ok(mem.wasm !== null);
  assert.ok(mem.sab instanceof SharedArrayBuffer);
  assert.equal(mem.u8.length, 64 * 1024, 'the RAM views cover RAM only');
  mem.writeU32(BASE + 8, 0x12345678);
  assert.equal(new DataView(mem.wasm.buffer).getUint32(8, true), 0x12345678);
});

test('harts claim distinct slots; past the last one a hart runs on its own arrays with JavaScript regions', () => {
  const mem = new GuestMemory(64 * 1024);
  sumLoop(mem, 3000);
  const harts: Hart[] = [];
  for (let k = 0; k <= HART_SLOTS; k++) harts.push(new Hart(mem, { hartId: k, engine: 'jit', jitThreshold: 16 }));
  const slots = harts.map((h) => h.slot);
  assert.equal(new Set(slots.slice(0, HART_SLOTS)).size, HART_SLOTS, 'distinct slots');
  assert.ok(slots.slice(0, HART_SLOTS).every((s) => s >= mem.size), 'slots lie after RAM');
  assert.equal(slots[HART_SLOTS], -1, 'no slot left');
  assert.equal(harts[0].translator!.wasm, true);
  assert.equal(harts[HART_SLOTS].translator!.wasm, false);
  // Both kinds run the same loop to the same result, each on its own registers.
  for (const h of [harts[1], harts[HART_SLOTS]]) {
    h.reset(BASE, 3);
    h.run(20000);
    assert.equal(h.regs[A.a0], (3000 * 3001) / 2);
    assert.ok(h.jitStats!.regions >= 1, 'the loop was translated');
  }
  assert.equal(harts[2].regs[A.a0], 0, 'another hart\'s registers are untouched');
  // A disposed hart's slot is free again.
  harts[5].dispose();
  const again = new Hart(mem, { hartId: 77, engine: 'jit' });
  assert.equal(again.slot, slots[5]);
});

for (const executor of ['threads', 'deterministic'] as const) {
  test(`${executor}: a destroyed vCPU gives its hart slot back (more vCPUs over time than there are slots)`, async () => {
    const vm = await createVm({ memoryMiB: 1, maxVcpus: 4, executor, onOutput: () => {}, onWarn: () => {} });
    const g = loadGuest(vm.mem);
    try {
      const keep = await vm.createVcpu(0);
      keep.start(g.counter, counterAddr(0));
      for (let k = 0; k < HART_SLOTS + 8; k++) {
        const v = await vm.createVcpu(1);
        v.start(g.counter, counterAddr(1));
        await v.destroy();
      }
      // vCPU 0's hart, and none left over from the destroyed ones (a thread gives its slot back as it leaves).
      const deadline = Date.now() + 5000;
      while (vm.mem.claimedHartSlots() > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(vm.mem.claimedHartSlots(), 1);
    } finally {
      await vm.close();
    }
  });
}
