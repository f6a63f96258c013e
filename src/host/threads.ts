/**
 * ThreadedExecutor: each vCPU runs on its own worker thread over the VM's shared memory. Starting a Node
 * worker takes tens of milliseconds, so the executor keeps warm spare threads (not tied to any vCPU; the first one
 * boots alone, see `refill`): creating a vCPU assigns a spare and starts a new spare in the background. A destroyed
 * vCPU's thread ends for real; nothing is parked.
 */
import { Worker } from 'node:worker_threads';
import { wakeVcpu } from './cpu-slots.js';
import { Executor, ExecutorListener } from './executor.js';
import { Boost, Ctl, Req, Slot, Spare, SpareState, VmState } from './layout.js';
import { MachineBuffers } from './machine.js';
import type { WorkerSched } from './vcpu-worker.js';
import { HostWait, canRaiseTo, lowerNodeThreads, processNice, releaseHostYield, requestHostYield, setThreadNice } from './thread-priority.js';

const WORKER_URL = new URL('./vcpu-worker.js', import.meta.url);
/** How long a vCPU thread gets to leave on its own before it is terminated. */
const EXIT_GRACE_MS = 2000;
const REFILL_DELAY_MS = 25;
/**
 * V8's young generation of a vCPU thread, at most (MB; V8's default grows it to 4 here). A vCPU thread allocates
 * little once it runs, and its exit unmaps its whole heap (~10 MB with the default): lifecycle bench, destroy ->
 * thread gone beside 8 busy vCPUs, p99 under 5 ms in 10 of 12 runs (3.6-4.8; 5.5 and 6.5 in the others) against none
 * of 8 with the default (5.1-6.7), p50 2.4-3.0 against 3.1-3.4; a 4-vCPU Linux boot unchanged (0.530 s both, 12
 * alternating).
 */
const YOUNG_GENERATION_MB = 2;
/** How long after its last vCPU creation a VM whose every id runs gets its one spare (see refill). */
const SETTLE_MS = 2000;
/** Longest that busy vCPU threads give way to one thread the owner waits on (thread-priority.ts). */
const HOST_YIELD_MAX_MS = 20;

/** `left`: the thread runs no more guest code (its 'exited' message); `exited`: the thread is gone, or is a spare
 *  again (`reuse`, which detaches the vCPU's listeners). */
interface Running { worker: Worker; ctl: Int32Array; left: Promise<void>; exited: Promise<void>; reuse: () => void }
interface SpareWorker { worker: Worker; ctl: Int32Array }

export class ThreadedExecutor implements Executor {
  readonly kind = 'threads' as const;
  private readonly slots: Int32Array;
  private readonly ctlWords: Int32Array;
  private readonly running = new Map<number, Running>();
  private readonly spares: SpareWorker[] = [];
  /** Most spare threads kept warm. */
  private readonly maxSpares: number;
  /** The first spare has booted (the others boot only then). */
  private firstReady = false;
  private live = 0;
  /** Hand-overs of a thread to a vCPU so far (Spare.TOKEN). */
  private handOvers = 0;
  /** The host has destroyed a vCPU (see refill). */
  private hostDestroyed = false;
  private refillTimer: NodeJS.Timeout | undefined;
  /** When the last vCPU was created (performance.now()), and the timer of the spare for a VM whose every id runs. */
  private lastCreate = -Infinity;
  private settleTimer: NodeJS.Timeout | undefined;
  private readonly exiting = new Set<Promise<void>>();
  private readonly gone = new Map<number, Promise<number>>();
  private closed = false;
  /** The nice value of the hypervisor's threads. */
  private readonly niceBase = processNice();
  /** Whether vCPU threads can be lifted back to `niceBase`; false once the kernel refused (no privilege). */
  private canBoost: boolean;

  /** The VM's buffers, dropped at close so that a closed executor keeps no guest RAM alive. */
  private buffers: MachineBuffers | null;

  constructor(
    buffers: MachineBuffers,
    private readonly listener: ExecutorListener,
    private readonly opts: { destroyOnStop: boolean; spares?: number; sched: Omit<WorkerSched, 'niceBase'> },
  ) {
    this.canBoost = opts.sched.vcpuNice > 0 && canRaiseTo(this.niceBase);
    this.buffers = buffers;
    this.slots = new Int32Array(buffers.slots);
    this.ctlWords = new Int32Array(buffers.ctl);
    this.maxSpares = opts.spares ?? 1;
    lowerNodeThreads();
    this.refill();
  }

  private spawn(): SpareWorker {
    if (!this.buffers) throw new Error('executor closed');
    const sab = new SharedArrayBuffer(Spare.WORDS * 4);
    const w = new Worker(WORKER_URL, {
      workerData: {
        buffers: this.buffers, spare: sab, destroyOnStop: this.opts.destroyOnStop,
        sched: { ...this.opts.sched, niceBase: this.niceBase }, bootLow: this.canBoost,
      },
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    });
    this.live++;
    w.once('exit', () => { this.live--; });
    w.on('error', (e) => this.listener({ kind: 'error', message: `vCPU thread error: ${e.message}` }));
    w.unref();
    return { worker: w, ctl: new Int32Array(sab) };
  }

  /**
   * Boots spares, up to `maxSpares` (how many: below). The first one boots alone: isolates booting side by side on
   * few cores would delay the first vCPU (the boot vCPU of a 4-vCPU Linux guest started 110-150 ms later than
   * alone). Later ones boot side by side.
   */
  private refill(): void {
    // A VM that has shut down (its vCPUs are being destroyed on the way to close) needs no more threads.
    if (this.closed || Atomics.load(this.ctlWords, Ctl.STATE) === VmState.SHUTDOWN) return;
    if (!this.firstReady) {
      if (this.live > 0) return;
      const sp = this.spawn();
      this.spares.push(sp);
      // Its READY word in shared memory rather than a message: a 'message' listener would change what keeps the
      // event loop alive (a spare must not; a running vCPU's listener, added in addVcpu, does).
      const ready = Atomics.waitAsync(sp.ctl, Spare.READY, 0);
      const onReady = (): void => { this.firstReady = true; this.refill(); };
      if (ready.async) void ready.value.then(onReady); else onReady();
      return;
    }
    // How many: one per id that can still be created, up to the pool, since a spare booting behind busy vCPU
    // threads takes longer than a hotplug cycle (hotplug bench: hot-add p50 12-15 ms with 2 spares, 8-9 with 4);
    // more would never be used, and each costs an isolate: ~50 ms of CPU to boot, ~110 ms with VmConfig.warmUp (a
    // 4-vCPU Linux boot is CPU-bound on 2 cores). When every id runs, one, for an id destroyed and created again,
    // but only SETTLE_MS after the last creation: a guest that has just started its harts is booting, and the spare
    // it would never use cost a 4-vCPU Linux boot ~8% of its wall time (two spares: one then, one after its CPU 1
    // went offline and online). Once the host itself destroys a vCPU, the full pool for good: a hot-add follows a
    // hot-remove, and a pool refilled only while an id was free had one spare, still booting, for the next hot-add
    // (hotplug bench: 32 of 48 vCPU creations found no spare ready; 17 of 48 with the full pool; hot-add max
    // 129-138 ms against 228-257).
    const room = this.slots.length / Slot.STRIDE - this.running.size;
    let want = this.hostDestroyed ? this.maxSpares : Math.min(this.maxSpares, room);
    if (want === 0) {
      const wait = this.lastCreate + SETTLE_MS - performance.now();
      if (wait <= 0) want = 1;
      else if (this.settleTimer === undefined) {
        this.settleTimer = setTimeout(() => { this.settleTimer = undefined; this.refill(); }, wait);
        this.settleTimer.unref();
      }
    }
    while (this.spares.length < want) this.spares.push(this.spawn());
  }

  /** Boots spares in a moment (REFILL_DELAY_MS): booting a Node worker costs tens of ms of CPU, which should not
   *  slow a burst of vCPU creations (a guest starting all its harts at once). */
  private refillSoon(): void {
    if (this.refillTimer || this.closed) return;
    this.refillTimer = setTimeout(() => { this.refillTimer = undefined; this.refill(); }, REFILL_DELAY_MS);
    this.refillTimer.unref();
  }

  addVcpu(id: number): void {
    if (this.closed) throw new Error('executor closed');
    // A spare that has booted if there is one (spares boot side by side, and not always in order).
    const k = this.spares.findIndex((s) => Atomics.load(s.ctl, Spare.READY) === 1);
    const sp = (k >= 0 ? this.spares.splice(k, 1)[0] : this.spares.shift()) ?? this.spawn();
    const w = sp.worker;
    // A spare boots and waits at the guests' priority (it is background work) and is lifted when it gets a vCPU;
    // busy vCPU threads give way until it runs its first slice.
    this.lift(sp);
    this.hostWaitsFor(sp, HostWait.CREATE);
    // ORDER: the id is stored before the state that hands it over; the notify wakes the sleeping spare at once.
    const token = ++this.handOvers;
    Atomics.store(sp.ctl, Spare.ID, id);
    Atomics.store(sp.ctl, Spare.TOKEN, token);
    Atomics.store(sp.ctl, Spare.STATE, SpareState.ASSIGNED);
    Atomics.notify(sp.ctl, Spare.STATE);
    this.lastCreate = performance.now();
    this.refillSoon();
    let exitedResolve!: () => void;
    const exited = new Promise<void>((resolve) => { exitedResolve = resolve; });
    const onExit = (): void => exitedResolve();
    w.once('exit', onExit);
    let leftResolve!: () => void;
    const left = new Promise<void>((resolve) => { leftResolve = resolve; });
    void exited.then(() => leftResolve());
    // The thread reports LEFT in shared memory when it runs no more guest code (faster than a message).
    const waitLeft = Atomics.waitAsync(sp.ctl, Spare.STATE, SpareState.ASSIGNED);
    if (waitLeft.async) void waitLeft.value.then(() => leftResolve()); else leftResolve();
    this.exiting.add(exited);
    void exited.then(() => this.exiting.delete(exited));
    const onMessage = (m: { type: string; id?: number; message?: string; token: number }): void => {
      // A thread reused for this vCPU (unpark) may deliver messages about its previous vCPU only now.
      if (m.token !== token) return;
      switch (m.type) {
        case 'start-request': this.listener({ kind: 'start-request', id: m.id! }); break;
        // Only while this thread still runs the vCPU: once removed (the owner may destroy a stopped vCPU before this
        // message arrives), a late 'stopped' must not reach a vCPU created again with the same id.
        case 'stopped': if (this.running.get(id)?.worker === w) this.listener({ kind: 'stopped', id: m.id! }); break;
        case 'shutdown': this.listener({ kind: 'shutdown' }); break;
        case 'warn': this.listener({ kind: 'warn', message: m.message! }); break;
        case 'error': this.listener({ kind: 'error', message: m.message! }); break;
      }
    };
    w.on('message', onMessage);
    const reuse = (): void => { w.off('exit', onExit); w.off('message', onMessage); exitedResolve(); };
    this.running.set(id, { worker: w, ctl: sp.ctl, left, exited, reuse });
  }

  async removeVcpu(id: number, byGuest = false): Promise<void> {
    const r = this.running.get(id);
    if (!r) return;
    this.running.delete(id);
    this.gone.set(id, r.exited.then(() => performance.now()));
    // An id is free again: spares for it (see refill).
    if (!byGuest) this.hostDestroyed = true;
    this.refillSoon();
    // The thread tears itself down at the hypervisor's priority, not behind the guests' threads, and they give
    // way until it is gone (its exit event also needs the owner thread to run).
    this.lift(r);
    this.hostWaitsFor(r, HostWait.EXIT, r.exited);
    // ORDER: the EXIT bit is visible before the wake-up that makes the thread look at it.
    Atomics.or(this.slots, id * Slot.STRIDE + Slot.REQ, Req.EXIT);
    this.wake(id);
    const timer = setTimeout(() => { void r.worker.terminate(); }, EXIT_GRACE_MS);
    // The vCPU is gone once its thread has left the run loop; the thread's own teardown finishes in the
    // background (close() waits for it), so re-creating the same id does not wait for thread exit.
    await r.left;
    void r.exited.then(() => clearTimeout(timer));
    if (Atomics.load(r.ctl, Spare.STATE) === SpareState.PARKED) this.unpark(r);
  }

  /**
   * A thread that left its vCPU because the guest stopped the hart (PARKED) becomes a spare again, warm, while the
   * pool has room (a 4-vCPU Linux boot brought CPU 1 back online in ~20 ms instead of ~80 with a new thread), even
   * beside a spare already there: it is the warmest; else it goes.
   */
  private unpark(r: Running): void {
    const keep = !this.closed && this.spares.length < this.maxSpares;
    if (keep) {
      r.reuse();
      this.spares.unshift({ worker: r.worker, ctl: r.ctl }); // first: the next vCPU gets the warmest thread
    }
    Atomics.store(r.ctl, Spare.STATE, keep ? SpareState.IDLE : SpareState.QUIT);
    Atomics.notify(r.ctl, Spare.STATE);
  }

  /** The kernel thread id running vCPU `id` (0: unknown or none). */
  threadId(id: number): number {
    const r = this.running.get(id);
    return r ? Atomics.load(r.ctl, Spare.TID) : 0;
  }

  /**
   * Lifts vCPU `id`'s thread to the hypervisor's priority for a while (it has host work to act on); `held`: until
   * the owner lets go with another call, and busy vCPU threads give way meanwhile (at most HOST_YIELD_MAX_MS).
   */
  boost(id: number, held = false): void {
    const r = this.running.get(id);
    if (!r) return;
    this.lift(r, held ? Boost.HELD : Boost.SLICE);
    // While the host holds a vCPU (a hot-remove waits for it to stop), busy vCPU threads also give way: the leaving
    // hart and the one notified need cores at once. Hotplug bench, six runs of each build alternating: hot-remove p99
    // 5.4-9.4 ms instead of 7.5-17.2, p90 3.7-4.4 instead of 4.7-5.4.
    if (held) this.hostWaitsFor(r, HostWait.LEAVE);
    else releaseHostYield(this.ctlWords, r.ctl, HostWait.LEAVE);
  }

  /**
   * Busy vCPU threads give way until this thread releases its count (a new vCPU, after its first slice), `until`
   * settles (a leaving one: until it is gone, which also needs the owner thread to run), or HOST_YIELD_MAX_MS.
   */
  private hostWaitsFor(r: { ctl: Int32Array }, why: HostWait, until?: Promise<void>): void {
    requestHostYield(this.ctlWords, r.ctl, why);
    const release = (): void => releaseHostYield(this.ctlWords, r.ctl, why);
    setTimeout(release, HOST_YIELD_MAX_MS).unref();
    void until?.then(release);
  }

  private lift(r: { ctl: Int32Array }, how = Boost.SLICE): void {
    if (!this.canBoost) return;
    const tid = Atomics.load(r.ctl, Spare.TID);
    // A vCPU stopped with destroy-on-stop leaves by itself; its thread id may soon belong to another thread.
    if (tid === 0 || Atomics.load(r.ctl, Spare.STATE) === SpareState.LEFT) return;
    // ORDER: the priority is lifted before BOOST says so; the thread clears BOOST before it lowers itself again.
    if (setThreadNice(tid, this.niceBase)) Atomics.store(r.ctl, Spare.BOOST, how);
    else this.canBoost = false;
  }

  wake(id: number): void {
    wakeVcpu(this.slots, this.ctlWords, id);
  }

  /**
   * The moment (performance.now()) the most recently removed thread of vCPU `id` exited, once it has; for the
   * life-cycle benchmark, which times "destroy -> thread gone".
   */
  threadGone(id: number): Promise<number> | undefined {
    return this.gone.get(id);
  }

  threadCount(): number {
    return this.live;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.refillTimer) clearTimeout(this.refillTimer);
    if (this.settleTimer) clearTimeout(this.settleTimer);
    await Promise.all([...this.running.keys()].map((id) => this.removeVcpu(id)));
    await Promise.all([...this.exiting]);
    await Promise.all(this.spares.splice(0).map(async (s) => {
      const gone = new Promise<void>((resolve) => s.worker.once('exit', () => resolve()));
      // A spare that was never assigned just quits.
      Atomics.store(s.ctl, Spare.STATE, SpareState.QUIT);
      Atomics.notify(s.ctl, Spare.STATE);
      const t = setTimeout(() => void s.worker.terminate(), EXIT_GRACE_MS);
      await gone;
      clearTimeout(t);
    }));
    this.buffers = null;
  }
}
