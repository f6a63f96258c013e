/**
 * DeterministicExecutor: every vCPU runs on the owner's thread, interleaved by a seeded scheduler in virtual
 * time (instruction counts), so a run with the same seed and inputs is identical instruction for instruction.
 * Guest time advances by instructions executed; when every vCPU is idle it jumps to the next timer deadline.
 */
import { defaultEngine } from '../cpu/jit.js';
import type { Engine } from '../cpu/jit.js';
import { Hart } from '../cpu/hart.js';
import { warmUpOnce } from '../cpu/warmup.js';
import { VcpuCore, Slice, VcpuEnv } from '../hv/vcpu-core.js';
import { VcpuRegistry } from '../hv/registry.js';
import { SchedConfig, growPleWindow, onSpin, shrinkPleWindow } from '../hv/scheduler.js';
import { Executor, ExecutorListener } from './executor.js';
import { Ctl, Req, RunState, Slot, Stat, VmState } from './layout.js';
import { TraceKind, TraceRing } from './trace.js';
import { HotplugQueue } from './hotplug-queue.js';
import { MachineBuffers, MachineView } from './machine.js';

/** Virtual time: 10 guest instructions per 100 ns tick, i.e. a 100 MIPS virtual CPU on the 10 MHz timebase. */
const INSTR_PER_TICK = 10;
const MIN_SLICE = 2000;
const MAX_SLICE = 20000;

/** A small, fast, seedable PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Scheduling parameters of the deterministic executor: the time slice is counted in guest instructions.
 *  `warmUp`: warm the engine up (warmup.ts) before the first vCPU runs, as VmConfig.warmUp does for threads. */
export type DetSched = SchedConfig & { quantumInstr: number; engine?: Engine; warmUp?: boolean };

interface Entry { core: VcpuCore; state: Slice; stopped: boolean; onCpu: boolean; quantum: number; waitSince: number }

export class DeterministicExecutor implements Executor {
  readonly kind = 'deterministic' as const;
  private readonly ctl: Int32Array;
  private readonly slots: Int32Array;
  private readonly cores = new Map<number, Entry>();
  private readonly rand: () => number;
  /** Guest time in ticks. */
  vtime = 0;
  private instr = 0;
  private running = false;
  private closed = false;
  private readonly pending: (() => void)[] = [];
  private readonly registry: VcpuRegistry;
  private ticket = 0;
  private readonly timed: { ticks: number; seq: number; fn: () => void }[] = [];
  private timedSeq = 0;
  private readonly trace: TraceRing | null;
  private readonly hotplug: HotplugQueue;

  /** The VM's buffers and views, dropped at close so that a closed executor keeps no guest RAM alive. */
  private buffers: MachineBuffers | null;
  private view: MachineView | null;

  constructor(
    buffers: MachineBuffers,
    private readonly listener: ExecutorListener,
    private readonly opts: { destroyOnStop: boolean; seed: number; sched: DetSched },
  ) {
    this.buffers = buffers;
    this.view = new MachineView(buffers);
    this.ctl = new Int32Array(buffers.ctl);
    this.slots = new Int32Array(buffers.slots);
    this.rand = prng(opts.seed);
    this.registry = new VcpuRegistry(buffers.ctl, buffers.slots);
    this.trace = buffers.trace ? new TraceRing(buffers.trace) : null;
    this.hotplug = new HotplugQueue(buffers.hotplug);
  }

  private env(): VcpuEnv {
    return {
      now: () => this.vtime,
      timeScale: 1 / INSTR_PER_TICK,
      ...(this.opts.sched.engine ? { engine: this.opts.sched.engine } : {}),
      console: this.view!.consolePort(),
      mmio: this.view!.mmio,
      // Events are delivered between slices, in order, so the interleaving stays deterministic.
      requestStart: (id) => { this.pending.push(() => this.listener({ kind: 'start-request', id })); },
      wake: () => { /* every core is polled between slices */ },
      waitAck: () => { /* no other vCPU is inside a slice */ },
      notifyOwner: () => { this.pending.push(() => this.listener({ kind: 'shutdown' })); },
      warn: (message) => this.listener({ kind: 'warn', message }),
      hotplug: this.hotplug,
      yieldTo: (self, target) => (this.opts.sched.directedYield === 'pv' && this.yieldCpu(self, target) > 0 ? 1 : 0),
    };
  }

  addVcpu(id: number): void {
    // Once per thread: without it V8 optimizes the interpreter over and over as the guest reaches new paths (a
    // 1-vCPU Linux boot: 18 optimizing compiles, 0.8-0.9 s instead of 1.05-1.25).
    if (this.opts.sched.warmUp) warmUpOnce((m, o) => new Hart(m, o), this.opts.sched.engine ?? defaultEngine());
    const b = this.buffers!;
    const core = new VcpuCore(this.view!.mem, b.ctl, b.slots, b.stats, id, this.env());
    this.cores.set(id, { core, state: Slice.CONTINUE, stopped: false, onCpu: false, quantum: 0, waitSince: this.ticket++ });
    core.hart.pleGap = this.opts.sched.pleGap;
    core.hart.pleWindow = this.opts.sched.pleWindow;
    this.kick();
  }

  async removeVcpu(id: number): Promise<void> {
    this.removeNow(id);
  }

  /** Removes vCPU `id` at once (there is no thread to wait for). */
  removeNow(id: number): void {
    this.cores.get(id)?.core.hart.dispose();
    this.cores.delete(id);
    this.setRun(id, RunState.NONE);
  }

  wake(): void { this.kick(); }

  threadCount(): number { return 0; }

  async close(): Promise<void> {
    this.closed = true;
    this.cores.clear();
    this.buffers = null;
    this.view = null;
  }

  /** Starts the scheduling loop if it is not running. */
  private kick(): void {
    if (this.running || this.closed) return;
    this.running = true;
    setImmediate(() => this.loop());
  }

  /** Runs slices for a bounded wall time, then yields to the event loop. */
  private loop(): void {
    const until = performance.now() + 20;
    while (!this.closed && performance.now() < until) {
      const st = Atomics.load(this.ctl, Ctl.STATE);
      if (st === VmState.SHUTDOWN) break;
      if (st === VmState.PAUSED) { this.running = false; return; } // resume() kicks the loop again
      if (!this.step()) { this.running = false; this.flushEvents(); return; }
      this.flushEvents();
    }
    if (this.closed || Atomics.load(this.ctl, Ctl.STATE) === VmState.SHUTDOWN) { this.running = false; this.flushEvents(); return; }
    setImmediate(() => this.loop());
  }

  private flushEvents(): void {
    while (this.pending.length) this.pending.shift()!();
  }

  /** Runnable now (whether on a CPU or waiting for one). */
  private runnable(e: Entry, id: number): boolean {
    if (e.stopped) return false;
    const req = Atomics.load(this.slots, id * Slot.STRIDE + Slot.REQ);
    if (req & Req.EXIT) return false;
    if (e.state === Slice.IDLE) return e.core.hasWakeup();
    if (e.state === Slice.PARKED) return (req & Req.START) !== 0;
    return true;
  }

  private setRun(id: number, r: RunState): void {
    const i = id * Slot.STRIDE + Slot.RUN;
    if (this.trace && Atomics.load(this.slots, i) !== r) this.trace.record(this.vtime / 10, id, TraceKind.RUN, r);
    Atomics.store(this.slots, i, r);
  }

  private traceEv(id: number, kind: TraceKind, arg: number): void {
    if (this.trace) this.trace.record(this.vtime / 10, id, kind, arg);
  }

  /** Puts waiter `id` on a CPU (schedule-in). */
  private scheduleIn(id: number, e: Entry): void {
    e.onCpu = true;
    e.quantum = this.opts.sched.quantumInstr;
    e.core.hart.pleWindow = shrinkPleWindow(e.core.hart.pleWindow, this.opts.sched);
    this.setRun(id, RunState.RUNNING);
  }

  /** Takes `id` off its CPU while runnable: it waits at the back of the queue. */
  private preempt(id: number, e: Entry): void {
    e.onCpu = false;
    e.waitSince = this.ticket++;
    this.setRun(id, RunState.PREEMPTED);
  }

  /** Directed yield in virtual time: `target` takes `from`'s CPU if it is waiting for one. */
  private yieldCpu(from: number, target: number): number {
    const t = this.cores.get(target), f = this.cores.get(from);
    if (!t || !f || !f.onCpu) return -1;
    if (t.onCpu) return 0;
    if (!this.runnable(t, target)) return -1;
    this.traceEv(from, TraceKind.YIELD_TO, target);
    this.preempt(from, f);
    this.scheduleIn(target, t);
    return 1;
  }

  /** Runs `fn` on this thread when guest time reaches `ticks` (host events that must stay reproducible). */
  at(ticks: number, fn: () => void): void {
    this.timed.push({ ticks, seq: this.timedSeq++, fn });
    this.timed.sort((a, b) => a.ticks - b.ticks || a.seq - b.seq);
    this.kick();
  }

  /** Guest time of the next timed host event (Infinity if none). */
  private nextTimed(): number { return this.timed.length ? this.timed[0].ticks : Infinity; }

  private runTimed(): void {
    while (this.timed.length && this.timed[0].ticks <= this.vtime) this.timed.shift()!.fn();
  }

  /** One scheduling decision. Returns false when nothing can run now or later (every vCPU stopped). */
  step(): boolean {
    this.runTimed();
    const ids = [...this.cores.keys()].sort((a, b) => a - b);
    const k = this.opts.sched.pcpus;
    // Fill free CPUs with the longest-waiting runnable vCPUs.
    let onCpu = ids.filter((id) => this.cores.get(id)!.onCpu);
    if (onCpu.length < k) {
      const waiting = ids.filter((id) => { const e = this.cores.get(id)!; return !e.onCpu && this.runnable(e, id); })
        .sort((a, b) => this.cores.get(a)!.waitSince - this.cores.get(b)!.waitSince);
      for (const id of waiting.slice(0, k - onCpu.length)) this.scheduleIn(id, this.cores.get(id)!);
      onCpu = ids.filter((id) => this.cores.get(id)!.onCpu);
    }
    if (onCpu.length === 0) {
      // Everyone idle: jump to the earliest timer deadline, if any.
      let next = this.nextTimed();
      for (const id of ids) {
        const e = this.cores.get(id)!;
        if (!e.stopped && e.state === Slice.IDLE) next = Math.min(next, e.core.deadline());
      }
      if (next === Infinity) return false;
      // Idle until the deadline: virtual time jumps there (the instruction clock follows, so time never goes back).
      if (next > this.vtime) { this.vtime = next; this.instr = next * INSTR_PER_TICK; }
      return true;
    }
    // The CPUs run in parallel; interleave them in random chunks. Guest time advances by a chunk's share.
    const id = onCpu[Math.floor(this.rand() * onCpu.length)];
    const e = this.cores.get(id)!;
    const budget = Math.min(e.quantum, MIN_SLICE + Math.floor(this.rand() * (MAX_SLICE - MIN_SLICE)));
    const before = e.core.hart.instret;
    const s = e.core.runSlice(Math.max(1, budget));
    const done = e.core.hart.instret - before;
    this.instr += done / onCpu.length;
    this.vtime = Math.floor(this.instr / INSTR_PER_TICK);
    e.quantum -= Math.max(done, 1);
    e.state = s;
    switch (s) {
      case Slice.CONTINUE:
        break;
      case Slice.YIELDED: // a paravirtual YIELD_TO already moved the CPU
        break;
      case Slice.SPIN: {
        const sc = this.opts.sched;
        this.traceEv(id, TraceKind.SPIN, e.core.hart.pleWindow);
        e.core.hart.pleWindow = growPleWindow(e.core.hart.pleWindow, sc);
        if (sc.directedYield !== 'off' && k < this.registry.maxVcpus) {
          onSpin(this.registry, id, e.core.hart.priv === 1, (t) => {
            e.core.count(Stat.directed_yield_attempted);
            const r = this.yieldCpu(id, t);
            if (r > 0) e.core.count(Stat.directed_yield_successful);
            return r;
          });
        }
        e.state = Slice.CONTINUE;
        break;
      }
      case Slice.IDLE: e.onCpu = false; this.setRun(id, RunState.HALTED); break;
      case Slice.PARKED: e.onCpu = false; this.setRun(id, RunState.STOPPED); break;
      case Slice.STOPPED:
        e.onCpu = false;
        e.core.completeStop();
        this.setRun(id, RunState.STOPPED);
        if (this.opts.destroyOnStop) e.stopped = true;
        e.state = Slice.PARKED;
        this.pending.push(() => this.listener({ kind: 'stopped', id }));
        break;
      case Slice.SHUTDOWN: e.onCpu = false; e.stopped = true; break;
    }
    if (e.onCpu && e.quantum <= 0) {
      // End of the time slice: preempted if someone waits for a CPU, else a new slice.
      const waiter = ids.some((w) => { const x = this.cores.get(w)!; return w !== id && !x.onCpu && this.runnable(x, w); });
      if (waiter) { this.preempt(id, e); e.core.count(Stat.preempted); } else e.quantum = this.opts.sched.quantumInstr;
    }
    return true;
  }
}
