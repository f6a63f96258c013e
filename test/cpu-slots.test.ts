/** CPU slots (cpu-slots.ts): urgent waiters, on bare shared words without threads. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuSlots, allocCpuSlots, hasUrgentWork, wakeVcpu } from '../src/host/cpu-slots.js';
import { Ctl, Req, RunState, Slot, SlotFlag, allocCtl, allocSlots } from '../src/host/layout.js';

const N = 4;

/** vCPU 0 holds slot 0 of 1; vCPUs 1..3 wait for it, 1 the longest. */
function setup(): { cs: CpuSlots; slots: Int32Array; ctl: Int32Array } {
  const slots = new Int32Array(allocSlots(N));
  const ctl = new Int32Array(allocCtl());
  const cs = new CpuSlots(allocCpuSlots(1), slots, ctl);
  assert.equal(cs.tryFree(0), 0);
  Atomics.store(slots, Slot.RUN, RunState.RUNNING);
  for (const id of [1, 2, 3]) cs.becomeWaiter(id);
  return { cs, slots, ctl };
}

test('cpu slots: with nothing urgent, a holder keeps its slot until its time slice ends', () => {
  const { cs, slots, ctl } = setup();
  assert.equal(cs.yieldToUrgent(0, 0, N), false);
  assert.equal(Atomics.load(ctl, Ctl.URGENT), 0);
  assert.equal(cs.owner[0], 0);
  // At the end of the time slice the longest waiter is next.
  assert.equal(cs.oldestWaiter(0, N), 1);
  assert.equal(Atomics.load(slots, 1 * Slot.STRIDE + Slot.GRANT), 0);
});

test('cpu slots: an IPI posted to a waiter makes the holder hand it the slot after its current slice', () => {
  const { cs, slots, ctl } = setup();
  Atomics.or(slots, 3 * Slot.STRIDE + Slot.IRQ, 2);
  wakeVcpu(slots, ctl, 3);
  assert.equal(Atomics.load(ctl, Ctl.URGENT), 1, 'waking a preempted vCPU with an interrupt flags it urgent');
  assert.equal(cs.oldestWaiter(0, N), 3, 'the urgent waiter goes before the longest one');
  assert.equal(cs.yieldToUrgent(0, 0, N), true);
  assert.equal(cs.owner[0], 3);
  assert.equal(Atomics.load(slots, 3 * Slot.STRIDE + Slot.GRANT), 1, 'slot 0 granted (plus one)');
  assert.equal(Atomics.load(ctl, Ctl.URGENT), 1, 'set again so that other holders look for a second urgent waiter');
});

test('cpu slots: the urgent flag with no urgent waiter left is cleared and changes nothing', () => {
  const { cs, ctl } = setup();
  Atomics.store(ctl, Ctl.URGENT, 1);
  assert.equal(cs.yieldToUrgent(0, 0, N), false);
  assert.equal(Atomics.load(ctl, Ctl.URGENT), 0);
  assert.equal(cs.owner[0], 0);
});

test('cpu slots: a posted hart start and a removal in flight are urgent; a wake-up of a running vCPU is not', () => {
  const { slots, ctl } = setup();
  assert.equal(hasUrgentWork(slots, 2), false);
  Atomics.or(slots, 2 * Slot.STRIDE + Slot.REQ, Req.START);
  assert.equal(hasUrgentWork(slots, 2), true);
  Atomics.or(slots, 1 * Slot.STRIDE + Slot.FLAGS, SlotFlag.HOST_WAITS);
  assert.equal(hasUrgentWork(slots, 1), true);
  // vCPU 0 runs: waking it raises no flag (it takes its interrupt at its next slice anyway).
  Atomics.or(slots, 0 * Slot.STRIDE + Slot.IRQ, 2);
  wakeVcpu(slots, ctl, 0);
  assert.equal(Atomics.load(ctl, Ctl.URGENT), 0);
});

test('cpu slots: a waiter that becomes one with an interrupt pending raises the urgent flag itself', () => {
  const { cs, slots, ctl } = setup();
  Atomics.or(slots, 1 * Slot.STRIDE + Slot.IRQ, 2);
  Atomics.store(slots, 1 * Slot.STRIDE + Slot.RUN, RunState.HALTED); // woken from WFI, not a waiter yet
  wakeVcpu(slots, ctl, 1);
  assert.equal(Atomics.load(ctl, Ctl.URGENT), 0);
  const holderWake = Atomics.load(slots, 0 * Slot.STRIDE + Slot.WAKE);
  cs.becomeWaiter(1);
  assert.equal(Atomics.load(ctl, Ctl.URGENT), 1);
  assert.equal(Atomics.load(slots, 0 * Slot.STRIDE + Slot.WAKE), holderWake + 1, 'the holder is woken (it may sleep with its slot)');
  assert.equal(cs.yieldToUrgent(0, 0, N), true);
  assert.equal(cs.owner[0], 1);
});

test('cpu slots: a holder the host waits on (leaving) keeps its slot and leaves the urgent flag to others', () => {
  const { cs, slots, ctl } = setup();
  Atomics.or(slots, 0 * Slot.STRIDE + Slot.FLAGS, SlotFlag.HOST_WAITS);
  Atomics.or(slots, 2 * Slot.STRIDE + Slot.IRQ, 2);
  wakeVcpu(slots, ctl, 2);
  assert.equal(cs.yieldToUrgent(0, 0, N), false);
  assert.equal(cs.owner[0], 0);
  assert.equal(Atomics.load(ctl, Ctl.URGENT), 1);
});
