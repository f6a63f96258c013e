/**
 * Entry point of a vCPU worker thread. A worker is spawned warm (pool) with the VM's shared buffers, waits
 * for the one message that assigns it a vCPU id, then runs that vCPU until asked to exit. While it runs it
 * never returns to its event loop: all control comes through shared words (REQ, IRQ, WAKE) and Atomics.
 *
 * Loop states (RUN word): RUNNING --WFI--> HALTED --wake/timer--> RUNNING; --hart_stop--> STOPPED --start--> RUNNING.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { VcpuCore, Slice, VcpuEnv } from '../hv/vcpu-core.js';
import { VcpuRegistry } from '../hv/registry.js';
import { SchedConfig, growPleWindow, onSpin, shrinkPleWindow } from '../hv/scheduler.js';
import { CpuSlots, hostWaitsOn, wakeVcpu } from './cpu-slots.js';
import { TraceKind, TraceRing } from './trace.js';
import { Ctl, HsmState, Req, RunState, Slot, Spare, SpareState, Stat, VmState } from './layout.js';
import { HotplugQueue } from './hotplug-queue.js';
import { MachineBuffers, MachineView, TIMEBASE_HZ, createMachineBuffers, wallTicks } from './machine.js';
import { HostWait, VcpuThreadPriority, currentThreadId, hostWantsCore, releaseHostYield, setThreadNice } from './thread-priority.js';
import { defaultEngine, type Engine } from '../cpu/jit.js';
import { Hart } from '../cpu/hart.js';
import { runWarmUp, warmUpOnce } from '../cpu/warmup.js';
import { adoptWasmInterpreter } from '../cpu/interp-wasm.js';

const SLICE = 1 << 12;
/**
 * A new thread's first COLD_SLICES slices are COLD_SLICE instructions long: its interpreter still runs as bytecode
 * (~0.15-0.2 us per instruction), and requests (destroy, fences) are seen between slices. Lifecycle bench: destroy
 * of a vCPU started ~1 ms earlier, idle p50 0.3-0.4 ms instead of 1.0-2.5.
 */
const COLD_SLICE = 512;
const COLD_SLICES = 32;
/** Rounds of the warm-up program a spare runs without VmConfig.warmUp (priming, not warming). */
const PRIME_ROUNDS = 2;
/** A spinning vCPU gives its host CPU away for this long (ms) unless woken: our sched_yield. */
const SPIN_YIELD_MS = 0.05;
/**
 * A busy vCPU gives its host CPU away for this long (ms) after a slice while the owner waits on a thread (a WAKE
 * still wakes it at once). Lifecycle bench, same hour: 2 ms gave creation p99 5.5-5.8, destroy 4.9-7.9 and thread
 * exit 12.8-15.1 ms, against 7.3-11.1, 6.7-12.9 and 19.6-66.7 with 0.2 ms; Linux boot and hotplug bench unchanged.
 */
const HOST_YIELD_MS = 2;

interface Assign { id: number; destroyOnStop: boolean; sched: WorkerSched }

/**
 * Scheduling parameters a vCPU thread needs. `niceBase`: the nice value of the hypervisor's own threads;
 * `vcpuNice`: how much lower a thread running guest code goes (thread-priority.ts).
 */
export type WorkerSched = SchedConfig & { timesliceMs: number; niceBase: number; vcpuNice: number; engine?: Engine; warmUp?: boolean };

// Parenthesized: V8 compiles it with the module, during the spare's boot, not at the hand-over (0.5-0.7 ms).
/** Runs vCPU `id` until it is destroyed; returns true when that was its guest stopping it (destroy-on-stop). */
const runVcpu = (function runVcpu({ id, destroyOnStop, sched }: Assign): boolean {
  const view = new MachineView(buffers);
  const ctl = new Int32Array(buffers.ctl);
  const slots = new Int32Array(buffers.slots);
  const b = id * Slot.STRIDE;
  const origin = buffers.timeOriginMs;
  const registry = new VcpuRegistry(buffers.ctl, buffers.slots);
  // With fewer CPU slots than possible vCPUs, a vCPU runs only while it holds a slot (cpu-slots.ts).
  const cpus = sched.pcpus < registry.maxVcpus ? new CpuSlots(buffers.cpus, slots, ctl) : null;
  let cpu = -1;
  let quantumEnd = 0;
  const trace = buffers.trace ? new TraceRing(buffers.trace) : null;
  const usNow = () => (performance.timeOrigin + performance.now() - origin) * 1000;
  let lastRun = -1;
  /** Publishes this vCPU's scheduling state (and traces the change). */
  const setRun = (r: RunState): void => {
    Atomics.store(slots, b + Slot.RUN, r);
    if (trace && r !== lastRun) trace.record(usNow(), id, TraceKind.RUN, r);
    lastRun = r;
  };
  const traceEv = (kind: TraceKind, arg: number): void => { if (trace) trace.record(usNow(), id, kind, arg); };
  /** Hands our slot to `target` if it waits for one (directed yield). */
  const giveCpu = (target: number): number => {
    if (!cpus || cpu < 0) return -1;
    if (cpus.grant(id, cpu, target)) { cpu = -1; traceEv(TraceKind.YIELD_TO, target); traceEv(TraceKind.CPU, -1); return 1; }
    return Atomics.load(slots, target * Slot.STRIDE + Slot.RUN) === RunState.RUNNING ? 0 : -1;
  };
  const env: VcpuEnv = {
    now: () => wallTicks(origin),
    console: view.consolePort(),
    mmio: view.mmio,
    requestStart: (target) => {
      // A present vCPU only needs a wake-up; an absent one is created by the owner.
      if ((Atomics.load(slots, target * Slot.STRIDE + Slot.GEN) & 1) === 1) wakeVcpu(slots, ctl, target);
      post({ type: 'start-request', id: target });
    },
    wake: (target) => wakeVcpu(slots, ctl, target),
    waitAck: (target, ackBefore) => {
      const i = target * Slot.STRIDE + Slot.ACK;
      const deadline = performance.now() + 50;
      while (Atomics.load(slots, i) === ackBefore) {
        if (Atomics.load(slots, target * Slot.STRIDE + Slot.RUN) !== RunState.RUNNING) break;
        if (performance.now() > deadline) break;
        Atomics.wait(slots, i, ackBefore, 1);
      }
    },
    notifyOwner: () => { Atomics.add(ctl, Ctl.DOORBELL, 1); Atomics.notify(ctl, Ctl.DOORBELL); post({ type: 'shutdown' }); },
    warn: (message) => post({ type: 'warn', message }),
    hotplug: new HotplugQueue(buffers.hotplug),
    ...(sched.engine ? { engine: sched.engine } : {}),
    yieldTo: (_self, target) => (sched.directedYield === 'pv' ? (giveCpu(target) > 0 ? 1 : 0) : 0),
  };
  const core = new VcpuCore(view.mem, buffers.ctl, buffers.slots, buffers.stats, id, env);
  core.hart.clock = env.now;
  core.hart.pleGap = sched.pleGap;
  core.hart.pleWindow = sched.pleWindow;

  /** Waits for a CPU slot; false if the vCPU must exit meanwhile. */
  const acquireCpu = (): boolean => {
    cpus!.becomeWaiter(id);
    setRun(RunState.PREEMPTED);
    for (;;) {
      const w = Atomics.load(slots, b + Slot.WAKE);
      const k = cpus!.tryTake(id);
      if (k >= 0) {
        cpu = k;
        traceEv(TraceKind.CPU, k);
        setRun(RunState.RUNNING);
        core.hart.pleWindow = shrinkPleWindow(core.hart.pleWindow, sched); // schedule-in
        quantumEnd = performance.now() + sched.timesliceMs;
        return true;
      }
      if (Atomics.load(slots, b + Slot.REQ) & Req.EXIT) {
        // Stop accepting grants; a grant that raced in is handed on, so no CPU slot is lost with this thread.
        const g = Atomics.exchange(slots, b + Slot.GRANT, -1);
        if (g > 0) cpus!.release(id, g - 1);
        return false;
      }
      Atomics.wait(slots, b + Slot.WAKE, w, 2);
    }
  };
  /** Our slot was handed to a waiter while we can run: we wait for one again (preempted). */
  const preempted = (): void => { cpu = -1; core.count(Stat.preempted); setRun(RunState.PREEMPTED); traceEv(TraceKind.CPU, -1); };
  /** After a slice: hands our slot to a waiter that became urgent, if any (cpu-slots.ts). */
  const toUrgent = (): boolean => cpus !== null && cpu >= 0 && cpus.yieldToUrgent(id, cpu, registry.maxVcpus);
  const releaseCpu = (): void => {
    if (cpus && cpu >= 0) { cpus.release(id, cpu); cpu = -1; traceEv(TraceKind.CPU, -1); }
  };

  // Lowered once it has run guest code; lifted by the owner when it has host work to act on (thread-priority.ts).
  const priority = new VcpuThreadPriority(spare, tid, sched.niceBase + sched.vcpuNice, sched.timesliceMs, sched.vcpuNice > 0);

  let stopped = false;
  let guestStopped = false;
  let coldSlices = COLD_SLICES;
  loop: for (;;) {
    // ORDER: read WAKE before checking conditions, so a wake-up between the check and the wait is not lost.
    const w = Atomics.load(slots, b + Slot.WAKE);
    if (Atomics.load(slots, b + Slot.REQ) & Req.EXIT) break;
    if (Atomics.load(ctl, Ctl.STATE) === VmState.SHUTDOWN || stopped) {
      releaseCpu();
      setRun(RunState.STOPPED);
      Atomics.wait(slots, b + Slot.WAKE, w, 200);
      continue;
    }
    if (Atomics.load(ctl, Ctl.STATE) === VmState.PAUSED) {
      // The VM is paused: give the CPU slot away and sleep until resumed.
      releaseCpu();
      Atomics.wait(slots, b + Slot.WAKE, w, 100);
      continue;
    }
    if (cpus && cpu < 0) {
      // A stopped hart with no start posted would only park: it waits without taking a CPU slot from a busy one.
      if (Atomics.load(slots, b + Slot.HSM) === HsmState.STOPPED && (Atomics.load(slots, b + Slot.REQ) & Req.START) === 0) {
        releaseHostYield(ctl, spare, HostWait.CREATE);
        setRun(RunState.STOPPED);
        Atomics.wait(slots, b + Slot.WAKE, w, 1000);
        continue;
      }
      if (!acquireCpu()) break;
    }
    setRun(RunState.RUNNING);
    const s = core.runSlice(coldSlices > 0 ? (coldSlices--, COLD_SLICE) : SLICE);
    // The owner waited for this new thread to run its first slice (creation): it has.
    if (coldSlices === COLD_SLICES - 1) releaseHostYield(ctl, spare, HostWait.CREATE);
    priority.afterSlice(s !== Slice.PARKED, s === Slice.IDLE);
    if (s === Slice.CONTINUE || s === Slice.SPIN) {
      // A waiter with an interrupt or a start posted to it takes our slot; we are preempted while runnable.
      let handed = toUrgent();
      if (!handed && hostWantsCore(ctl, spare)) {
        // The owner waits for another thread to run: give this core away for a moment (thread-priority.ts). An
        // urgent waiter wakes us (it needs our slot, not our sleep while we hold it).
        Atomics.wait(slots, b + Slot.WAKE, w, HOST_YIELD_MS);
        handed = toUrgent();
      }
      if (handed) { preempted(); continue; }
    }
    switch (s) {
      case Slice.CONTINUE:
        // (A vCPU the host waits on to stop keeps its slot past its time slice.)
        if (cpus && performance.now() >= quantumEnd && !hostWaitsOn(slots, id)) {
          // End of the time slice: the longest waiter gets our slot; we are preempted while runnable.
          const next = cpus.oldestWaiter(id, registry.maxVcpus);
          if (next >= 0 && cpus.grant(id, cpu, next)) preempted();
          else quantumEnd = performance.now() + sched.timesliceMs;
        }
        break;
      case Slice.YIELDED: // a paravirtual YIELD_TO gave our slot away
        break;
      case Slice.SPIN: {
        traceEv(TraceKind.SPIN, core.hart.pleWindow);
        core.hart.pleWindow = growPleWindow(core.hart.pleWindow, sched);
        if (cpus && sched.directedYield !== 'off') {
          onSpin(registry, id, core.hart.priv === 1, (t) => {
            core.count(Stat.directed_yield_attempted);
            const r = giveCpu(t);
            if (r > 0) core.count(Stat.directed_yield_successful);
            return r;
          });
        } else if (!cpus) {
          // No CPU budget: the host's own scheduler shares the cores; let it run someone else briefly.
          setRun(RunState.PREEMPTED);
          Atomics.wait(slots, b + Slot.WAKE, w, SPIN_YIELD_MS);
        }
        break;
      }
      case Slice.IDLE: {
        releaseCpu();
        setRun(RunState.HALTED);
        if (core.hasWakeup()) break;
        const dl = core.deadline();
        const ms = dl === Infinity ? 1000 : Math.max(0, (dl - wallTicks(origin)) / (TIMEBASE_HZ / 1000));
        if (ms > 0) Atomics.wait(slots, b + Slot.WAKE, w, Math.min(ms, 1000));
        break;
      }
      case Slice.PARKED:
        releaseCpu();
        setRun(RunState.STOPPED);
        Atomics.wait(slots, b + Slot.WAKE, w, 1000);
        break;
      case Slice.STOPPED:
        // The owner first, then the slot: handing the slot over wakes its next holder, which may take this core
        // from us for milliseconds, and the owner (a hot-remove) waits for the stop.
        setRun(RunState.STOPPED);
        core.completeStop();
        post({ type: 'stopped', id });
        releaseCpu();
        // With destroy-on-stop this vCPU is finished: the thread leaves now rather than sleep until the owner's EXIT
        // wakes it (one thread hand-off less on a hot-remove's path). Otherwise the vCPU parks until started again.
        if (destroyOnStop) { guestStopped = true; break loop; }
        break;
      case Slice.SHUTDOWN:
        stopped = true;
        break;
    }
  }
  releaseCpu();
  setRun(RunState.NONE);
  core.hart.dispose(); // its slot in guest memory is free for another hart
  return guestStopped;
});

/**
 * Runs a throwaway vCPU on a machine of its own (64 KiB, one hart) for one slice of 8 instructions: HSM start,
 * guest code, an SBI call, the time CSR. V8 then has compiled the vCPU's run path to bytecode before a real vCPU
 * needs it: the first slice of a new vCPU took 1.6-3.5 ms, and a vCPU destroyed meanwhile waited for it
 * (lifecycle bench: creation p50 1.3-1.6 ms instead of 3.1-4.2, destroy 0.9-2.0 instead of 1.7-3.6).
 */
function primeVcpuPath(engine: Engine): void {
  const b = createMachineBuffers(64 * 1024, 1);
  const view = new MachineView(b);
  const nop = (): void => {};
  const core = new VcpuCore(view.mem, b.ctl, b.slots, b.stats, 0, {
    now: () => 0, console: view.consolePort(), mmio: view.mmio, requestStart: nop, wake: nop, waitAck: nop,
    notifyOwner: nop, warn: nop, hotplug: new HotplugQueue(b.hotplug), yieldTo: () => 0, engine,
  });
  // li a7, 0x10 (SBI base); li a6, 0 (get_spec_version); ecall; csrr t0, time; j (back to the start)
  const code = [0x01000893, 0x00000813, 0x00000073, 0xc01022f3, 0xff1ff06f];
  code.forEach((w, k) => view.mem.writeU32(view.mem.base + 4 * k, w));
  const slots = new Int32Array(b.slots);
  Atomics.store(slots, Slot.HSM, HsmState.START_PENDING);
  Atomics.store(slots, Slot.START_ADDR, view.mem.base | 0);
  Atomics.store(slots, Slot.REQ, Req.START);
  core.runSlice(8); // (3 slices of 64 made code hot: V8 optimized it, and thread exit waited for that, 13-21 ms)
}

const port = parentPort!;
/** The current hand-over (Spare.TOKEN), which every message carries. */
let token = 0;
function post(m: { type: string; id?: number; message?: string }): void {
  port.postMessage({ ...m, token });
}
const data = workerData as { buffers: MachineBuffers; spare: SharedArrayBuffer; destroyOnStop: boolean; sched: WorkerSched; bootLow: boolean };
const buffers = data.buffers;
const spare = new Int32Array(data.spare);
const tid = currentThreadId();
// A spare is background work until it gets a vCPU (the owner lifts it then, which it may do: `bootLow`).
if (data.bootLow) setThreadNice(tid, data.sched.niceBase + data.sched.vcpuNice);
Atomics.store(spare, Spare.TID, tid);

// VmConfig.warmUp: warm the engine up now, in the background, rather than never (see warmup.ts and vm.ts). It
// runs to the end (~10 ms) even when a vCPU is handed over meanwhile: a thread whose interpreter V8 optimized
// without it deoptimizes and recompiles it over and over (~50 ms of CPU each time) once the guest runs.
// Without it, the spare still primes the engine: two tiny runs on a throwaway hart, so that V8 has compiled the
// interpreter to bytecode before the vCPU's first instruction, and nothing is hot enough for an optimization job
// (which an exiting thread waits for). Lifecycle bench: creation p50 3.1-3.2 ms instead of 4.4-5.3 when idle.
adoptWasmInterpreter(buffers.interp); // compiled by the owner: this thread only instantiates it
const engine = data.sched.engine ?? defaultEngine();
if (data.sched.warmUp) warmUpOnce((m, o) => new Hart(m, o), engine);
else runWarmUp((m, o) => new Hart(m, o), engine, PRIME_ROUNDS);
primeVcpuPath(engine);
// Warm spare: modules are loaded and compiled (the owner boots the next spare only now); sleep until assigned a
// vCPU (or told to quit).
Atomics.store(spare, Spare.READY, 1);
Atomics.notify(spare, Spare.READY);
// A thread whose guest stopped its vCPU's hart (Linux taking a CPU offline) parks instead of leaving: the owner makes
// it a spare again, warm for the next vCPU (Linux bringing the CPU back online had waited ~80 ms for a new thread).
for (;;) {
  while (Atomics.load(spare, Spare.STATE) === SpareState.IDLE) Atomics.wait(spare, Spare.STATE, SpareState.IDLE, 1000);
  if (Atomics.load(spare, Spare.STATE) !== SpareState.ASSIGNED) break;
  const id = Atomics.load(spare, Spare.ID);
  token = Atomics.load(spare, Spare.TOKEN);
  // The owner lifts us before the hand-over when it knows our thread id; this covers a hand-over during boot.
  if (data.bootLow) setThreadNice(tid, data.sched.niceBase);
  let parks = false;
  try {
    parks = runVcpu({ id, destroyOnStop: data.destroyOnStop, sched: data.sched });
  } catch (e) {
    post({ type: 'error', message: `vCPU ${id} thread failed: ${(e as Error).stack ?? e}` });
  }
  // The thread tears itself down at the hypervisor's priority, not behind the guests' threads. The owner lifts a
  // thread it destroys, but one whose hart stopped (destroy-on-stop) leaves before the owner hears of it. A parked
  // thread is background work again, as a spare.
  if (data.bootLow) setThreadNice(tid, parks ? data.sched.niceBase + data.sched.vcpuNice : data.sched.niceBase);
  // ORDER: every store of the run loop happens before LEFT (PARKED), which lets the owner reuse the vCPU's slot.
  Atomics.store(spare, Spare.STATE, parks ? SpareState.PARKED : SpareState.LEFT);
  Atomics.notify(spare, Spare.STATE);
  const ctlWords = new Int32Array(buffers.ctl);
  Atomics.add(ctlWords, Ctl.DOORBELL, 1);
  Atomics.notify(ctlWords, Ctl.DOORBELL);
  if (!parks) break;
  while (Atomics.load(spare, Spare.STATE) === SpareState.PARKED) Atomics.wait(spare, Spare.STATE, SpareState.PARKED, 1000);
}
// Not port.close(): the thread would wait for its event loop to wind down first (1.4-1.7 ms from LEFT to the exit
// handler, idle host; 0.1 ms this way). Messages already posted still reach the owner.
process.exit(0);
