/**
 * DeterministicExecutor: every vCPU runs on the owner's thread, interleaved by a seeded scheduler in virtual
 * time (instruction counts), so a run with the same seed and inputs is identical instruction for instruction.
 * Guest time advances by instructions executed; when every vCPU is idle it jumps to the next timer deadline.
 */
import { VcpuCore, Slice, VcpuEnv } from '../hv/vcpu-core.js';
import { Executor, ExecutorListener } from './executor.js';
import { Ctl, Req, RunState, Slot, VmState } from './layout.js';
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

interface Entry { core: VcpuCore; state: Slice; stopped: boolean }

export class DeterministicExecutor implements Executor {
  readonly kind = 'deterministic' as const;
  private readonly view: MachineView;
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

  constructor(
    private readonly buffers: MachineBuffers,
    private readonly listener: ExecutorListener,
    private readonly opts: { destroyOnStop: boolean; seed: number },
  ) {
    this.view = new MachineView(buffers);
    this.ctl = new Int32Array(buffers.ctl);
    this.slots = new Int32Array(buffers.slots);
    this.rand = prng(opts.seed);
  }

  private env(): VcpuEnv {
    return {
      now: () => this.vtime,
      timeScale: 1 / INSTR_PER_TICK,
      console: this.view.consolePort(),
      mmio: this.view.mmio,
      // Events are delivered between slices, in order, so the interleaving stays deterministic.
      requestStart: (id) => { this.pending.push(() => this.listener({ kind: 'start-request', id })); },
      wake: () => { /* every core is polled between slices */ },
      waitAck: () => { /* no other vCPU is inside a slice */ },
      notifyOwner: () => { this.pending.push(() => this.listener({ kind: 'shutdown' })); },
      warn: (message) => this.listener({ kind: 'warn', message }),
    };
  }

  addVcpu(id: number): void {
    const core = new VcpuCore(this.view.mem, this.buffers.ctl, this.buffers.slots, this.buffers.stats, id, this.env());
    this.cores.set(id, { core, state: Slice.CONTINUE, stopped: false });
    this.kick();
  }

  async removeVcpu(id: number): Promise<void> {
    this.removeNow(id);
  }

  /** Removes vCPU `id` at once (there is no thread to wait for). */
  removeNow(id: number): void {
    this.cores.delete(id);
    Atomics.store(this.slots, id * Slot.STRIDE + Slot.RUN, RunState.NONE);
  }

  wake(): void { this.kick(); }

  threadCount(): number { return 0; }

  async close(): Promise<void> {
    this.closed = true;
    this.cores.clear();
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
      if (Atomics.load(this.ctl, Ctl.STATE) === VmState.SHUTDOWN) break;
      if (!this.step()) { this.running = false; this.flushEvents(); return; }
      this.flushEvents();
    }
    if (this.closed || Atomics.load(this.ctl, Ctl.STATE) === VmState.SHUTDOWN) { this.running = false; this.flushEvents(); return; }
    setImmediate(() => this.loop());
  }

  private flushEvents(): void {
    while (this.pending.length) this.pending.shift()!();
  }

  private runnable(e: Entry, id: number): boolean {
    if (e.stopped) return false;
    const req = Atomics.load(this.slots, id * Slot.STRIDE + Slot.REQ);
    if (req & Req.EXIT) return false;
    if (e.state === Slice.IDLE) return e.core.hasWakeup();
    if (e.state === Slice.PARKED) return (req & Req.START) !== 0;
    return true;
  }

  /** One scheduling decision. Returns false when nothing can run now or later (every vCPU stopped). */
  step(): boolean {
    const ids = [...this.cores.keys()].sort((a, b) => a - b);
    const ready = ids.filter((id) => this.runnable(this.cores.get(id)!, id));
    if (ready.length === 0) {
      // Everyone idle: jump to the earliest timer deadline, if any.
      let next = Infinity;
      for (const id of ids) {
        const e = this.cores.get(id)!;
        if (!e.stopped && e.state === Slice.IDLE) next = Math.min(next, e.core.deadline());
      }
      if (next === Infinity) return false;
      // Idle until the deadline: virtual time jumps there (the instruction clock follows, so time never goes back).
      if (next > this.vtime) { this.vtime = next; this.instr = next * INSTR_PER_TICK; }
      return true;
    }
    const id = ready[Math.floor(this.rand() * ready.length)];
    const e = this.cores.get(id)!;
    const budget = MIN_SLICE + Math.floor(this.rand() * (MAX_SLICE - MIN_SLICE));
    const before = e.core.hart.instret;
    Atomics.store(this.slots, id * Slot.STRIDE + Slot.RUN, RunState.RUNNING);
    const s = e.core.runSlice(budget);
    const done = e.core.hart.instret - before;
    this.instr += done;
    this.vtime = Math.floor(this.instr / INSTR_PER_TICK);
    e.state = s;
    const b = id * Slot.STRIDE + Slot.RUN;
    switch (s) {
      case Slice.IDLE: Atomics.store(this.slots, b, RunState.HALTED); break;
      case Slice.PARKED: Atomics.store(this.slots, b, RunState.STOPPED); break;
      case Slice.STOPPED:
        e.core.completeStop();
        Atomics.store(this.slots, b, RunState.STOPPED);
        if (this.opts.destroyOnStop) e.stopped = true;
        e.state = Slice.PARKED;
        this.pending.push(() => this.listener({ kind: 'stopped', id }));
        break;
      case Slice.SHUTDOWN: e.stopped = true; break;
    }
    return true;
  }
}
