/** Directed yield (onSpin, our kvm_vcpu_on_spin) and the pause-loop window policy, on a bare registry. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { Ctl, HsmState, RunState, Slot, SlotFlag, allocCtl, allocSlots } from '../src/host/layout.js';
import { VcpuRegistry } from '../src/hv/registry.js';
import { DEFAULT_SCHED, SchedConfig, growPleWindow, onSpin, shrinkPleWindow } from '../src/hv/scheduler.js';

function registry(n: number): VcpuRegistry {
  const r = new VcpuRegistry(allocCtl(), allocSlots(n));
  Atomics.store(r.ctl, Ctl.LAST_BOOSTED, -1);
  return r;
}

/** Adds vCPU `id` in the given scheduling state (started, in kernel mode unless told otherwise). */
function add(r: VcpuRegistry, id: number, run: RunState, opts: { user?: boolean; spinning?: boolean; irq?: boolean } = {}): void {
  const b = id * Slot.STRIDE;
  Atomics.store(r.slots, b + Slot.HSM, HsmState.STARTED);
  Atomics.store(r.slots, b + Slot.RUN, run);
  Atomics.store(r.slots, b + Slot.FLAGS, (opts.user ? 0 : SlotFlag.IN_KERNEL) | (opts.spinning ? SlotFlag.SPINNING : 0));
  Atomics.store(r.slots, b + Slot.IRQ, opts.irq ? 2 : 0);
  r.occupy(id);
}

test('onSpin: yields to the first ready vCPU after last_boosted and records its id', () => {
  const r = registry(6);
  add(r, 0, RunState.RUNNING);
  for (const id of [1, 2, 3, 4, 5]) add(r, id, RunState.PREEMPTED);
  Atomics.store(r.ctl, Ctl.LAST_BOOSTED, 2);
  const tried: number[] = [];
  const res = onSpin(r, 0, true, (t) => { tried.push(t); return 1; });
  assert.deepEqual(tried, [3]);
  assert.equal(res.yieldedTo, 3);
  assert.equal(Atomics.load(r.ctl, Ctl.LAST_BOOSTED), 3, 'the boosted vCPU id, not the loop counter');
  // Next time the scan starts after 3.
  const again: number[] = [];
  onSpin(r, 0, true, (t) => { again.push(t); return 1; });
  assert.deepEqual(again, [4]);
});

test('onSpin: a last_boosted that names a removed vCPU just moves the scan on', () => {
  const r = registry(8);
  add(r, 0, RunState.RUNNING);
  add(r, 5, RunState.PREEMPTED);
  add(r, 6, RunState.PREEMPTED);
  add(r, 2, RunState.PREEMPTED);
  Atomics.store(r.ctl, Ctl.LAST_BOOSTED, 5);
  r.vacate(5);
  const tried: number[] = [];
  onSpin(r, 0, true, (t) => { tried.push(t); return 1; });
  assert.deepEqual(tried, [6]);
  // last_boosted beyond any present vCPU and a stale value from a bigger VM both work too.
  Atomics.store(r.ctl, Ctl.LAST_BOOSTED, 7);
  const t2: number[] = [];
  onSpin(r, 0, true, (t) => { t2.push(t); return 1; });
  assert.deepEqual(t2, [2]);
});

test('onSpin: skips itself, running, stopped, halted-without-wakeup and user-mode preempted vCPUs', () => {
  const r = registry(8);
  add(r, 0, RunState.PREEMPTED); // the spinner itself (even if marked preempted)
  add(r, 1, RunState.RUNNING);
  add(r, 2, RunState.STOPPED);
  add(r, 3, RunState.HALTED);
  add(r, 4, RunState.PREEMPTED, { user: true });
  const b5 = 5 * Slot.STRIDE; // present but HSM stopped
  Atomics.store(r.slots, b5 + Slot.HSM, HsmState.STOPPED); Atomics.store(r.slots, b5 + Slot.RUN, RunState.PREEMPTED); r.occupy(5);
  const tried: number[] = [];
  const res = onSpin(r, 0, true, (t) => { tried.push(t); return 1; });
  assert.deepEqual(tried, [], 'all candidates ineligible');
  assert.equal(res.yieldedTo, -1);
  assert.equal(Atomics.load(r.ctl, Ctl.LAST_BOOSTED), -1);
  // A spinner in user mode may boost a user-mode preempted vCPU; a halted one with a pending interrupt is ready.
  assert.deepEqual((() => { const t: number[] = []; onSpin(r, 0, false, (x) => { t.push(x); return 1; }); return t; })(), [4]);
  Atomics.store(r.slots, 3 * Slot.STRIDE + Slot.IRQ, 2);
  Atomics.store(r.ctl, Ctl.LAST_BOOSTED, -1);
  assert.deepEqual((() => { const t: number[] = []; onSpin(r, 0, true, (x) => { t.push(x); return 1; }); return t; })(), [3]);
});

test('onSpin: at most 3 failed attempts; "already running" answers do not count', () => {
  const r = registry(10);
  add(r, 0, RunState.RUNNING);
  for (let id = 1; id < 10; id++) add(r, id, RunState.PREEMPTED);
  const failed: number[] = [];
  onSpin(r, 0, true, (t) => { failed.push(t); return -1; });
  assert.deepEqual(failed, [1, 2, 3]);
  const zero: number[] = [];
  onSpin(r, 0, true, (t) => { zero.push(t); return 0; });
  assert.equal(zero.length, 9);
});

test('onSpin: dy_eligible alternates for candidates that are spinning themselves', () => {
  const r = registry(3);
  add(r, 0, RunState.RUNNING);
  add(r, 1, RunState.PREEMPTED, { spinning: true });
  const seen: boolean[] = [];
  for (let i = 0; i < 6; i++) {
    let got = false;
    onSpin(r, 0, true, () => { got = true; return 0; });
    seen.push(got);
  }
  assert.deepEqual(seen, [false, true, false, true, false, true]);
  // The spinner's own flags are cleared when it leaves onSpin.
  assert.equal(Atomics.load(r.slots, Slot.FLAGS) & (SlotFlag.SPINNING | SlotFlag.DY_ELIGIBLE), 0);
});

test('onSpin: a VM with one vCPU has nobody to yield to', () => {
  const r = registry(1);
  add(r, 0, RunState.RUNNING);
  let calls = 0;
  const res = onSpin(r, 0, true, () => { calls++; return 1; });
  assert.equal(calls, 0);
  assert.equal(res.yieldedTo, -1);
});

test('onSpin: vCPUs removed and re-created on another thread during scans never break it', async () => {
  const n = 64;
  const ctl = allocCtl(), slots = allocSlots(n);
  const r = new VcpuRegistry(ctl, slots);
  Atomics.store(r.ctl, Ctl.LAST_BOOSTED, -1);
  add(r, 0, RunState.RUNNING);
  for (let id = 1; id < n; id++) add(r, id, RunState.PREEMPTED);
  // A writer thread removes and re-adds vCPUs 1..n-1 as fast as it can (waiting out each grace period).
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { ctl, slots, n, stride, gen, epoch, readerEpoch, online } = workerData;
    const c = new Int32Array(ctl), s = new Int32Array(slots);
    const stop = new Int32Array(workerData.stop);
    let cycles = 0;
    while (Atomics.load(stop, 0) === 0) {
      const id = 1 + (cycles % (n - 1));
      Atomics.add(s, id * stride + gen, 1); Atomics.sub(c, online, 1);          // vacate
      const e = Atomics.add(c, epoch, 2) + 2;
      for (;;) { let ok = true; for (let k = 0; k < n; k++) { const v = Atomics.load(s, k * stride + readerEpoch); if (v !== 0 && v < (e | 1)) ok = false; } if (ok) break; }
      Atomics.add(s, id * stride + gen, 1); Atomics.add(c, online, 1);          // occupy again
      cycles++;
    }
    parentPort.postMessage(cycles);`;
  const stop = new SharedArrayBuffer(4);
  const w = new Worker(src, { eval: true, workerData: { ctl, slots, n, stride: Slot.STRIDE, gen: Slot.GEN, epoch: Ctl.EPOCH, readerEpoch: Slot.READER_EPOCH, online: Ctl.ONLINE, stop } });
  const cycles = new Promise<number>((resolve) => w.once('message', resolve));
  let yields = 0, scans = 0;
  const until = performance.now() + 1500;
  while (performance.now() < until) {
    const res = onSpin(r, 0, true, (t) => {
      assert.ok(t > 0 && t < n);
      return (t + scans) % 3 === 0 ? 1 : -1;
    });
    scans++;
    if (res.yieldedTo >= 0) yields++;
    const last = Atomics.load(r.ctl, Ctl.LAST_BOOSTED);
    assert.ok(last === -1 || (last > 0 && last < n), `last_boosted ${last}`);
  }
  Atomics.store(new Int32Array(stop), 0, 1);
  const removed = await cycles;
  await w.terminate();
  assert.ok(scans > 1000 && removed > 100, `scans ${scans}, removals ${removed}`);
  assert.ok(yields > 0);
  assert.equal(Atomics.load(r.slots, Slot.READER_EPOCH), 0, 'the reader left its read-side section');
});

test('PLE window: grows on exits up to the max, shrinks on schedule-in (KVM defaults: grow x2, shrink 0 = reset)', () => {
  const cfg: SchedConfig = { pcpus: 1, ...DEFAULT_SCHED, pleWindowMax: 20000 };
  let w = cfg.pleWindow;
  const seen: number[] = [];
  for (let i = 0; i < 5; i++) { w = growPleWindow(w, cfg); seen.push(w); }
  assert.deepEqual(seen, [8192, 16384, 20000, 20000, 20000]);
  assert.equal(shrinkPleWindow(w, cfg), 4096);
  const div = { ...cfg, pleShrink: 2 };
  assert.equal(shrinkPleWindow(16384, div), 8192);
  assert.equal(shrinkPleWindow(4096, div), 4096, 'never below the base window');
  const add8k = { ...cfg, pleGrow: 5000, pleWindowMax: 1e9 };
  assert.equal(growPleWindow(4096, add8k), 9096, 'a modifier above the base window adds');
});
