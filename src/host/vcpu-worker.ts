/**
 * Entry point of a vCPU worker thread. A worker is spawned warm (pool) with the VM's shared buffers, waits
 * for the one message that assigns it a vCPU id, then runs that vCPU until asked to exit. While it runs it
 * never returns to its event loop: all control comes through shared words (REQ, IRQ, WAKE) and Atomics.
 *
 * Loop states (RUN word): RUNNING --WFI--> HALTED --wake/timer--> RUNNING; --hart_stop--> STOPPED --start--> RUNNING.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { VcpuCore, Slice, VcpuEnv } from '../hv/vcpu-core.js';
import { Ctl, Req, RunState, Slot, VmState } from './layout.js';
import { MachineBuffers, MachineView, TIMEBASE_HZ, wallTicks } from './machine.js';

const SLICE = 1 << 14;
/** Pause-loop exiting, with KVM's defaults (ple_gap 128, ple_window 4096). */
const PLE_GAP = 128;
const PLE_WINDOW = 4096;
/** A spinning vCPU gives its host CPU away for this long (ms) unless woken: our sched_yield. */
const SPIN_YIELD_MS = 0.05;

interface Assign { id: number; destroyOnStop: boolean }

const port = parentPort!;
const buffers = (workerData as { buffers: MachineBuffers }).buffers;

port.once('message', (msg: Assign) => {
  try {
    runVcpu(msg);
  } catch (e) {
    port.postMessage({ type: 'error', message: `vCPU ${msg.id} thread failed: ${(e as Error).stack ?? e}` });
  }
  port.postMessage({ type: 'exited', id: msg.id });
  port.close();
});

function runVcpu({ id, destroyOnStop }: Assign): void {
  const view = new MachineView(buffers);
  const ctl = new Int32Array(buffers.ctl);
  const slots = new Int32Array(buffers.slots);
  const b = id * Slot.STRIDE;
  const origin = buffers.timeOriginMs;
  const env: VcpuEnv = {
    now: () => wallTicks(origin),
    console: view.consolePort(),
    mmio: view.mmio,
    requestStart: (target) => {
      // A present vCPU only needs a wake-up; an absent one is created by the owner.
      if ((Atomics.load(slots, target * Slot.STRIDE + Slot.GEN) & 1) === 1) wake(slots, target);
      port.postMessage({ type: 'start-request', id: target });
    },
    wake: (target) => wake(slots, target),
    waitAck: (target, ackBefore) => {
      const i = target * Slot.STRIDE + Slot.ACK;
      const deadline = performance.now() + 50;
      while (Atomics.load(slots, i) === ackBefore) {
        if (Atomics.load(slots, target * Slot.STRIDE + Slot.RUN) !== RunState.RUNNING) break;
        if (performance.now() > deadline) break;
        Atomics.wait(slots, i, ackBefore, 1);
      }
    },
    notifyOwner: () => { Atomics.add(ctl, Ctl.DOORBELL, 1); Atomics.notify(ctl, Ctl.DOORBELL); port.postMessage({ type: 'shutdown' }); },
    warn: (message) => port.postMessage({ type: 'warn', message }),
  };
  const core = new VcpuCore(view.mem, buffers.ctl, buffers.slots, buffers.stats, id, env);
  core.hart.pleGap = PLE_GAP;
  core.hart.pleWindow = PLE_WINDOW;
  let stopped = false;
  for (;;) {
    // ORDER: read WAKE before checking conditions, so a wake-up between the check and the wait is not lost.
    const w = Atomics.load(slots, b + Slot.WAKE);
    if (Atomics.load(slots, b + Slot.REQ) & Req.EXIT) break;
    if (Atomics.load(ctl, Ctl.STATE) === VmState.SHUTDOWN || stopped) {
      Atomics.store(slots, b + Slot.RUN, RunState.STOPPED);
      Atomics.wait(slots, b + Slot.WAKE, w, 200);
      continue;
    }
    Atomics.store(slots, b + Slot.RUN, RunState.RUNNING);
    const s = core.runSlice(SLICE);
    switch (s) {
      case Slice.CONTINUE:
        break;
      case Slice.SPIN:
        // The guest spins (e.g. on a lock whose holder is descheduled): let the host run someone else.
        Atomics.store(slots, b + Slot.RUN, RunState.PREEMPTED);
        Atomics.wait(slots, b + Slot.WAKE, w, SPIN_YIELD_MS);
        break;
      case Slice.IDLE: {
        Atomics.store(slots, b + Slot.RUN, RunState.HALTED);
        if (core.hasWakeup()) break;
        const dl = core.deadline();
        const ms = dl === Infinity ? 1000 : Math.max(0, (dl - wallTicks(origin)) / (TIMEBASE_HZ / 1000));
        if (ms > 0) Atomics.wait(slots, b + Slot.WAKE, w, Math.min(ms, 1000));
        break;
      }
      case Slice.PARKED:
        Atomics.store(slots, b + Slot.RUN, RunState.STOPPED);
        Atomics.wait(slots, b + Slot.WAKE, w, 1000);
        break;
      case Slice.STOPPED:
        core.completeStop();
        Atomics.store(slots, b + Slot.RUN, RunState.STOPPED);
        port.postMessage({ type: 'stopped', id });
        // With destroy-on-stop the owner ends this thread; otherwise the vCPU parks until started again.
        if (destroyOnStop) stopped = true;
        break;
      case Slice.SHUTDOWN:
        stopped = true;
        break;
    }
  }
  Atomics.store(slots, b + Slot.RUN, RunState.NONE);
}

function wake(slots: Int32Array, target: number): void {
  // ORDER: the bits posted before this call are visible to the woken thread.
  Atomics.add(slots, target * Slot.STRIDE + Slot.WAKE, 1);
  Atomics.notify(slots, target * Slot.STRIDE + Slot.WAKE);
}
