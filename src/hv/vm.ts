/**
 * Vm and Vcpu: the library API. The life cycle follows the seed design (KVM review, 2012): a vCPU holds a
 * reference on its VM; vCPUs are created and destroyed at any time while the VM runs; a destroyed vCPU's thread
 * ends and its state is freed at once (its id can be created again); the VM's resources (RAM, device state,
 * threads) are released exactly when the last reference (the owner's handle or any vCPU) is dropped.
 *
 *   const vm = await createVm({ memoryMiB: 64, maxVcpus: 4, image });
 *   const vcpu = await vm.createVcpu(1);  ...  await vcpu.destroy();  await vm.close();
 */
import { availableParallelism } from 'node:os';
import type { Engine } from '../cpu/jit.js';
import { GuestMemory } from '../cpu/memory.js';
import { buildMachineDtb } from '../boot/devicetree.js';
import { loadImage } from '../boot/image.js';
import { DeterministicExecutor } from '../host/deterministic.js';
import { Executor, ExecutorEvent } from '../host/executor.js';
import { Ctl, HsmState, OnUnsupported, Req, RunState, STAT_NAMES, STAT_STRIDE, Slot, SlotFlag, StatName, VmState } from '../host/layout.js';
import { MachineBuffers, MachineView, createMachineBuffers, wallTicks } from '../host/machine.js';
import { ThreadedExecutor } from '../host/threads.js';
import { HotplugEvent, HotplugQueue } from '../host/hotplug-queue.js';
import { HvError } from './errors.js';
import { TraceEvent, TraceKind, TraceRing } from '../host/trace.js';
import { DEFAULT_SCHED, DirectedYield, SchedConfig } from './scheduler.js';
import { VcpuRegistry } from './registry.js';

export const MAX_VCPUS_LIMIT = 1024;
/** Where the kernel image goes on RV32 virt (RAM + 4 MiB), as QEMU loads it. */
export const KERNEL_OFFSET = 0x400000;

export interface VmConfig {
  /** Guest RAM in MiB (default 128). */
  memoryMiB?: number;
  /** Possible vCPU ids are 0..maxVcpus-1 (default 1, at most 1024). */
  maxVcpus?: number;
  /** Kernel image (ELF or flat), booted in S-mode on vCPU 0 with a0 = 0, a1 = device tree. */
  image?: Uint8Array;
  /** Kernel command line (/chosen/bootargs). */
  bootargs?: string;
  executor?: 'threads' | 'deterministic';
  seed?: number;
  /** What HSM hart_stop does to the vCPU: 'destroy' (default) frees it, 'keep' parks it stopped. */
  onHartStop?: 'destroy' | 'keep';
  /**
   * CPU slots the vCPUs share. Default: as many as the host has CPUs with the threaded executor (at most one per
   * vCPU), one per possible vCPU with the deterministic one. Fewer slots than vCPUs is overcommit.
   */
  pcpus?: number;
  /** Directed yield policy on pause-loop exits: 'off', 'on' (kvm_vcpu_on_spin, default), 'pv' (also the guest's YIELD_TO). */
  directedYield?: DirectedYield;
  /** Pause-loop exiting: KVM's ple_gap (0 = off), ple_window, ple_window_grow, ple_window_shrink. */
  pleGap?: number;
  pleWindow?: number;
  pleGrow?: number;
  pleShrink?: number;
  /** Time slice of a vCPU on a CPU slot: milliseconds (threads), guest instructions (deterministic). */
  timesliceMs?: number;
  quantumInstr?: number;
  /**
   * Threads: how much lower (nice steps, 0..19) a vCPU thread running guest code runs than the hypervisor's own
   * work (default 0: same priority, no boosts). See host/thread-priority.ts.
   */
  vcpuNice?: number;
  /** Record scheduling and hotplug events for `drainTrace()` (hartvisor run --trace). */
  trace?: boolean;
  /**
   * A guest kernel (S-mode) that executes a standard instruction hartvisor lacks, or calls an SBI function it does
   * not offer: 'stop' (default) names it and ends the run as a fatal guest error; 'report' names it once and lets the
   * guest handle it (an illegal-instruction trap, SBI_ERR_NOT_SUPPORTED), as test suites that probe need.
   * User-mode instructions are always delivered (the guest kernel owns its processes) and named once.
   */
  onUnsupported?: 'stop' | 'report';
  /** Execution engine of the vCPUs: 'jit' (block translator, the default) or 'interp' (the reference interpreter). */
  engine?: Engine;
  /**
   * Threads: spare threads run the engine warm-up (cpu/warmup.ts) before they get a vCPU. Long runs are faster
   * (a 4-vCPU Linux boot by ~8%: fewer V8 deoptimizations), but a destroyed vCPU's thread then takes ~30 ms instead
   * of ~8 ms to exit (V8 finishes an optimization job first). Default false; `hartvisor run` turns it on. Without it
   * a spare only primes the engine (two tiny runs: bytecode compiled, nothing optimized). Deterministic executor:
   * its thread runs the warm-up once, before the first vCPU (a 1-vCPU Linux boot: 0.8-0.9 s instead of 1.05-1.25).
   */
  warmUp?: boolean;
  /** Console output (default: process.stdout). */
  onOutput?: (bytes: Uint8Array) => void;
  /** Warnings about unsupported guest actions (default: stderr). */
  onWarn?: (message: string) => void;
}

/** One step of a hotplug schedule (`hartvisor run --hotplug`). */
export interface HotplugStep {
  /** Milliseconds after the schedule starts (guest time with the deterministic executor). */
  atMs: number;
  op: 'add' | 'remove';
  id: number;
  /** For 'remove': unplug by force if the guest does not stop the hart within `timeoutMs`. */
  force?: boolean;
  timeoutMs?: number;
}

/**
 * vCPU threads running guest code run this many nice steps below the hypervisor's own threads. 0 since V8's helper
 * threads run at nice 19 (lowerNodeThreads): 10 then made a 4-vCPU Linux boot 5-7% slower (medians of 10-12
 * alternating boots) and hotplug and lifecycle latencies no better (p99 within the targets either way).
 */
const DEFAULT_VCPU_NICE = 0;

/** Guest timebase ticks per millisecond (10 MHz). */
const TICKS_PER_MS = 10_000;

export interface VcpuInfo {
  id: number;
  hsm: 'started' | 'stopped' | 'start_pending' | 'stop_pending' | 'suspended' | 'suspend_pending' | 'resume_pending';
  run: 'none' | 'running' | 'halted' | 'preempted' | 'stopped';
  stats: Record<StatName, number>;
}

export interface VmExit {
  /** 'shutdown' (SRST), 'fatal' (an unrecoverable guest error), 'closed', or 'stalled' (no vCPU can ever run). */
  reason: 'shutdown' | 'fatal' | 'closed' | 'stalled';
  exitCode: number;
}

const HSM_NAMES: VcpuInfo['hsm'][] = ['started', 'stopped', 'start_pending', 'stop_pending', 'suspended', 'suspend_pending', 'resume_pending'];
const RUN_NAMES: VcpuInfo['run'][] = ['none', 'running', 'halted', 'preempted', 'stopped'];

/** Creates a VM; with an image it is loaded and vCPU 0 is created and started at the kernel entry. */
export async function createVm(config: VmConfig = {}): Promise<Vm> {
  const vm = new Vm(config);
  if (config.image) {
    try {
      await vm.boot(config.image);
    } catch (e) {
      // The caller never gets the handle: release the threads and RAM the VM holds already.
      await vm.close();
      throw e;
    }
  }
  return vm;
}

export class Vm {
  readonly maxVcpus: number;
  readonly memoryBytes: number;
  readonly executor: Executor;
  readonly registry: VcpuRegistry;
  private buffers: MachineBuffers | undefined;
  private view: MachineView | undefined;
  private memory: GuestMemory | undefined;
  private readonly slots: Int32Array;
  private readonly ctl: Int32Array;
  private readonly stats: Float64Array;
  private readonly vcpus = new Map<number, Vcpu>();
  /** The owner's reference plus one per vCPU. */
  private refs = 1;
  private closed = false;
  private tornDown = false;
  private readonly ops = new Map<number, Promise<unknown>>();
  /** vCPUs the host asked to remove: their hart_stop destroys them whatever the policy. */
  private readonly removing = new Set<number>();
  private readonly hotplugEvents = { add: 0, remove: 0 };
  private forcedRemovals = 0;
  private readonly hotplugQueue: HotplugQueue;
  private readonly timers: NodeJS.Timeout[] = [];
  private closing: Promise<void> | undefined;
  private readonly traceRing: TraceRing | null;
  private readonly timeOriginMs: number;
  private readonly traceLog: TraceEvent[] = [];
  private readonly exitWaiters: ((e: VmExit) => void)[] = [];
  private exitValue: VmExit | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private readonly onOutput: (b: Uint8Array) => void;
  private readonly onWarn: (m: string) => void;
  readonly config: VmConfig;
  /** The scheduling policy in force. */
  readonly sched: SchedConfig;

  constructor(config: VmConfig) {
    this.config = config;
    const maxVcpus = config.maxVcpus ?? 1;
    if (!Number.isInteger(maxVcpus) || maxVcpus < 1 || maxVcpus > MAX_VCPUS_LIMIT) {
      throw new HvError('EINVAL', `max vCPUs must be an integer from 1 to ${MAX_VCPUS_LIMIT}, got ${maxVcpus}`);
    }
    const mib = config.memoryMiB ?? 128;
    if (!Number.isInteger(mib) || mib < 1 || mib > 2047) throw new HvError('EINVAL', `memory must be 1..2047 MiB, got ${mib}`);
    this.maxVcpus = maxVcpus;
    this.memoryBytes = mib * 1024 * 1024;
    // Threads: one CPU slot per host CPU, so that the hypervisor, not the host's scheduler, picks which vCPUs run
    // when there are more (urgent ones first: cpu-slots.ts). Deterministic: one per vCPU, the same on every host.
    const pcpus = config.pcpus ?? (config.executor === 'deterministic' ? maxVcpus : Math.min(maxVcpus, availableParallelism()));
    if (!Number.isInteger(pcpus) || pcpus < 1 || pcpus > MAX_VCPUS_LIMIT) throw new HvError('EINVAL', `CPU slots must be an integer from 1 to ${MAX_VCPUS_LIMIT}, got ${pcpus}`);
    const sched: SchedConfig = {
      pcpus: Math.min(pcpus, maxVcpus),
      directedYield: config.directedYield ?? DEFAULT_SCHED.directedYield,
      pleGap: config.pleGap ?? DEFAULT_SCHED.pleGap,
      pleWindow: config.pleWindow ?? DEFAULT_SCHED.pleWindow,
      pleGrow: config.pleGrow ?? DEFAULT_SCHED.pleGrow,
      pleShrink: config.pleShrink ?? DEFAULT_SCHED.pleShrink,
      pleWindowMax: DEFAULT_SCHED.pleWindowMax,
    };
    for (const [k, v] of Object.entries(sched)) {
      if (typeof v === 'number' && (!Number.isFinite(v) || v < 0)) throw new HvError('EINVAL', `${k} must be a non-negative number, got ${v}`);
    }
    if (!['off', 'on', 'pv'].includes(sched.directedYield)) throw new HvError('EINVAL', `directed yield must be off, on or pv, got ${sched.directedYield}`);
    const engine = config.engine;
    if (engine !== undefined && engine !== 'jit' && engine !== 'interp') throw new HvError('EINVAL', `engine must be 'jit' or 'interp', got ${String(engine)}`);
    const onUnsupported = config.onUnsupported ?? 'stop';
    if (onUnsupported !== 'stop' && onUnsupported !== 'report') throw new HvError('EINVAL', `onUnsupported must be 'stop' or 'report', got ${String(onUnsupported)}`);
    const vcpuNice = config.vcpuNice ?? DEFAULT_VCPU_NICE;
    if (!Number.isInteger(vcpuNice) || vcpuNice < 0 || vcpuNice > 19) throw new HvError('EINVAL', `vCPU nice must be an integer from 0 to 19, got ${vcpuNice}`);
    this.sched = sched;
    this.buffers = createMachineBuffers(this.memoryBytes, maxVcpus, sched.pcpus, config.trace ?? false);
    this.traceRing = this.buffers.trace ? new TraceRing(this.buffers.trace) : null;
    this.view = new MachineView(this.buffers);
    this.memory = this.view.mem;
    this.slots = new Int32Array(this.buffers.slots);
    this.ctl = new Int32Array(this.buffers.ctl);
    Atomics.store(this.ctl, Ctl.ON_UNSUPPORTED, onUnsupported === 'stop' ? OnUnsupported.STOP : OnUnsupported.REPORT);
    this.stats = new Float64Array(this.buffers.stats);
    Atomics.store(this.ctl, Ctl.MAX_VCPUS, maxVcpus);
    Atomics.store(this.ctl, Ctl.LAST_BOOSTED, -1);
    for (let id = 0; id < maxVcpus; id++) Atomics.store(this.slots, id * Slot.STRIDE + Slot.HSM, HsmState.STOPPED);
    this.registry = new VcpuRegistry(this.buffers.ctl, this.buffers.slots);
    this.hotplugQueue = new HotplugQueue(this.buffers.hotplug);
    this.timeOriginMs = this.buffers.timeOriginMs;
    this.onOutput = config.onOutput ?? ((b) => process.stdout.write(b));
    this.onWarn = config.onWarn ?? ((m) => process.stderr.write(`hartvisor: warning: ${m}\n`));
    const listener = (ev: ExecutorEvent) => this.onEvent(ev);
    const destroyOnStop = (config.onHartStop ?? 'destroy') === 'destroy';
    this.executor = config.executor === 'deterministic'
      ? new DeterministicExecutor(this.buffers, listener, { destroyOnStop, seed: config.seed ?? 1, sched: { ...sched, quantumInstr: config.quantumInstr ?? 200_000, engine, warmUp: config.warmUp ?? false } })
      // Warm spare threads make vCPU creation fast (a Node worker takes tens of ms to boot); a guest that starts
      // all its harts at once should not wait for thread start-up.
      : new ThreadedExecutor(this.buffers, listener, {
        destroyOnStop, spares: Math.min(this.maxVcpus - 1, 4) || 1, sched: { ...sched, timesliceMs: config.timesliceMs ?? 4, vcpuNice, engine, warmUp: config.warmUp ?? false },
      });
    this.drainTimer = setInterval(() => {
      this.drainConsole();
      if (this.traceRing) this.traceLog.push(...this.traceRing.drain());
    }, 5);
    this.drainTimer.unref();
  }

  /** Guest RAM. EBADF once the VM is torn down: its RAM is released with its last reference. */
  get mem(): GuestMemory {
    if (!this.memory) throw new HvError('EBADF', 'the VM is torn down: its guest RAM is released');
    return this.memory;
  }

  /** The number of references held on this VM (owner + vCPUs); 0 once torn down. */
  get references(): number { return this.refs; }
  /** True once the VM's resources are released. */
  get isTornDown(): boolean { return this.tornDown; }
  /** vCPUs present (registry online count). */
  get onlineVcpus(): number { return this.registry.online; }
  /** Executor threads alive now. */
  get threads(): number { return this.executor.threadCount(); }
  /** The shared console input (host → guest). */
  pushInput(bytes: Uint8Array): void { this.view?.in.push(bytes); }

  /** Loads the image at RAM + 4 MiB (ELF: at its addresses), writes the device tree, starts vCPU 0 at the entry. */
  async boot(image: Uint8Array): Promise<void> {
    const base = this.mem.base;
    const loaded = loadImage(this.mem, image, { flatAddress: base + KERNEL_OFFSET });
    const dtb = buildMachineDtb({
      memBase: base, memSize: this.memoryBytes, possibleVcpus: this.maxVcpus, bootargs: this.config.bootargs ?? '',
    });
    // The device tree goes at the top of RAM, 2 MiB-aligned below the end, as QEMU places it.
    const dtbAddr = (base + this.memoryBytes - Math.max(0x200000, align(dtb.length, 0x1000))) >>> 0;
    const imageEnd = Math.max(0, ...loaded.regions.map((r) => r.end));
    if (dtbAddr < imageEnd) throw new HvError('EINVAL', 'guest RAM is too small for the image and its device tree');
    this.mem.write(dtbAddr, dtb);
    Atomics.store(this.ctl, Ctl.STATE, VmState.RUNNING);
    const v = await this.createVcpu(0);
    v.start(loaded.entry >>> 0, dtbAddr);
  }

  private checkOpen(): void {
    if (this.closed) throw new HvError('EBADF', 'the VM is closed');
  }

  /** Creates vCPU `id` (stopped, as a hart the guest has not started). Allowed before or while the VM runs. */
  createVcpu(id: number): Promise<Vcpu> {
    return this.serial(id, () => this.createNow(id));
  }

  private async createNow(id: number): Promise<Vcpu> {
    this.checkCreate(id);
    if (!this.registry.canOccupy(id)) await this.registry.whenReusable(id);
    const vcpu = this.attach(id);
    await this.executor.addVcpu(id);
    return vcpu;
  }

  private checkCreate(id: number): void {
    this.checkOpen();
    if (!Number.isInteger(id) || id < 0 || id >= this.maxVcpus) {
      throw new HvError('EINVAL', `vCPU id ${id} is out of range: this VM has ids 0..${this.maxVcpus - 1} (max vCPUs ${this.maxVcpus})`);
    }
    if (this.vcpus.has(id) || this.registry.present(id)) throw new HvError('EEXIST', `vCPU ${id} exists already`);
  }

  /** Initialises slot `id` and occupies it; the caller hands the vCPU to the executor. */
  private attach(id: number): Vcpu {
    this.checkOpen();
    const b = id * Slot.STRIDE;
    for (const f of [Slot.RUN, Slot.IRQ, Slot.FLAGS, Slot.READER_EPOCH, Slot.WAIT_SINCE]) Atomics.store(this.slots, b + f, 0);
    Atomics.store(this.slots, b + Slot.GRANT, -1);
    // Keep a posted START (a guest's hart_start waiting for this vCPU to exist); drop everything else.
    Atomics.and(this.slots, b + Slot.REQ, Req.START);
    this.stats.fill(0, id * STAT_STRIDE, (id + 1) * STAT_STRIDE);
    const gen = this.registry.occupy(id);
    this.traceOwner(id, TraceKind.LIFE, 1);
    const vcpu = new Vcpu(this, id, gen);
    this.vcpus.set(id, vcpu);
    this.refs++;
    return vcpu;
  }

  /** Destroys vCPU `id` (see Vcpu.destroy). */
  destroyVcpu(id: number): Promise<void> {
    if (this.closed) return Promise.reject(new HvError('EBADF', 'the VM is closed'));
    // A start the destroyed vCPU never took is cancelled: a vCPU created again with this id starts stopped.
    return this.serial(id, () => this.destroyNow(id, true));
  }

  private async destroyNow(id: number, cancelStart = false, byGuest = false): Promise<void> {
    const v = this.vcpus.get(id);
    if (!v) throw new HvError('ENODEV', `no vCPU ${id}`);
    this.vcpus.delete(id);
    await this.executor.removeVcpu(id, byGuest);
    this.detach(id, v, cancelStart);
  }

  /** Frees slot `id` after its vCPU stopped running, and drops the vCPU's reference. */
  private detach(id: number, v: Vcpu, cancelStart = false): void {
    const b = id * Slot.STRIDE;
    if (cancelStart) {
      // ORDER: the START bit goes first; while HSM is still START_PENDING nobody else can post a new start.
      Atomics.and(this.slots, b + Slot.REQ, ~Req.START);
      Atomics.compareExchange(this.slots, b + Slot.HSM, HsmState.START_PENDING, HsmState.STOPPED);
    }
    this.registry.vacate(id);
    // A hart whose vCPU is gone is STOPPED for the guest, unless a start is already pending for it.
    Atomics.compareExchange(this.slots, b + Slot.HSM, HsmState.STARTED, HsmState.STOPPED);
    Atomics.compareExchange(this.slots, b + Slot.HSM, HsmState.STOP_PENDING, HsmState.STOPPED);
    Atomics.compareExchange(this.slots, b + Slot.HSM, HsmState.SUSPENDED, HsmState.STOPPED);
    Atomics.store(this.slots, b + Slot.RUN, RunState.NONE);
    v.markDestroyed();
    this.traceOwner(id, TraceKind.LIFE, 0);
    this.release();
    // A hotRemove waiting in until() sees the vCPU gone now, not at its next 5 ms poll.
    Atomics.add(this.ctl, Ctl.DOORBELL, 1);
    Atomics.notify(this.ctl, Ctl.DOORBELL);
  }

  /**
   * The deterministic executor delivers guest events between slices and needs them carried out at once, so
   * the run stays identical from one execution to the next (its executor calls are synchronous).
   */
  private handleSync(ev: ExecutorEvent): boolean {
    if (this.executor.kind !== 'deterministic' || this.closed) return false;
    const det = this.executor as DeterministicExecutor;
    if (ev.kind === 'start-request') {
      if (!this.vcpus.has(ev.id) && this.registry.canOccupy(ev.id)) { this.attach(ev.id); det.addVcpu(ev.id); }
      return true;
    }
    if (ev.kind === 'stopped') {
      const v = this.vcpus.get(ev.id);
      if (this.destroysOnStop(ev.id) && v) {
        this.removing.delete(ev.id);
        this.vcpus.delete(ev.id);
        det.removeNow(ev.id);
        this.detach(ev.id, v);
        if (Atomics.load(this.slots, ev.id * Slot.STRIDE + Slot.HSM) === HsmState.START_PENDING) { this.attach(ev.id); det.addVcpu(ev.id); }
      }
      this.checkStalled();
      return true;
    }
    return false;
  }

  /** Whether a hart_stop of `id` destroys its vCPU: the VM's policy, or a host removal request in flight. */
  private destroysOnStop(id: number): boolean {
    return (this.config.onHartStop ?? 'destroy') === 'destroy' || this.removing.has(id);
  }

  // ---------------------------------------------------------------------------------------------
  // Hotplug (docs/sbi-hartvisor-extension.md): the host asks, the guest consents through SBI.

  private hsm(id: number): number { return Atomics.load(this.slots, id * Slot.STRIDE + Slot.HSM); }

  private startedHarts(): number[] {
    const out: number[] = [];
    for (let id = 0; id < this.maxVcpus; id++) if (this.hsm(id) === HsmState.STARTED) out.push(id);
    return out;
  }

  /** Number of harts the guest has started (HSM STARTED). */
  startedCount(): number { return this.startedHarts().length; }

  /** Posts a hotplug event and raises a supervisor software interrupt on the guest's notification hart. */
  private postHotplug(kind: number, id: number): void {
    const q = this.hotplugQueue;
    if (!q.post(kind, id)) throw new HvError('EBUSY', 'the guest is not consuming hotplug events (queue full)');
    this.hotplugEvents[kind === HotplugEvent.ADD ? 'add' : 'remove']++;
    this.traceOwner(id, TraceKind.HOTPLUG, kind);
    const started = this.startedHarts();
    const chosen = q.notifyHart;
    const target = started.includes(chosen) ? chosen : started[0];
    if (target === undefined) return;
    // ORDER: the event is queued before the interrupt that announces it.
    Atomics.or(this.slots, target * Slot.STRIDE + Slot.IRQ, 1 << 1);
    // The hart that must act on it runs at the hypervisor's priority for a while (thread-priority.ts).
    this.executor.boost?.(target);
    this.executor.wake(target);
  }

  private checkHotplugId(id: number): void {
    this.checkOpen();
    if (this.state === 'paused') throw new HvError('EBUSY', 'the VM is paused: hotplug needs the guest running');
    if (!Number.isInteger(id) || id < 0 || id >= this.maxVcpus) {
      throw new HvError('EINVAL', `vCPU id ${id} is out of range: this VM has ids 0..${this.maxVcpus - 1} (max vCPUs ${this.maxVcpus})`);
    }
  }

  /** Polls `cond` until it holds (resolves), the VM closes (EBADF) or `timeoutMs` passes (false). */
  private async until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      // ORDER: read the doorbell before the condition, so a change between the two wakes the wait below.
      const bell = Atomics.load(this.ctl, Ctl.DOORBELL);
      if (cond()) return true;
      if (this.closed) throw new HvError('EBADF', 'the VM was closed while the request was in flight');
      const left = deadline - performance.now();
      if (left <= 0) return false;
      // vCPUs ring the doorbell on HSM transitions and when their thread leaves, the owner when it detached a vCPU;
      // poll too, for other owner-side changes.
      const w = Atomics.waitAsync(this.ctl, Ctl.DOORBELL, bell, Math.min(left, 5));
      if (w.async) await w.value; else await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Hot-adds vCPU `id`: creates it (a STOPPED hart whose device-tree node exists from boot), tells the guest
   * (ADD event + software interrupt), and resolves when the guest has started it. On timeout the new vCPU is
   * destroyed again and ETIMEDOUT is thrown.
   */
  async hotAdd(id: number, opts: { timeoutMs?: number } = {}): Promise<void> {
    this.checkHotplugId(id);
    if (this.vcpus.has(id) || this.registry.present(id)) throw new HvError('EEXIST', `vCPU ${id} exists already`);
    await this.createVcpu(id);
    this.postHotplug(HotplugEvent.ADD, id);
    const ok = await this.until(() => this.hsm(id) === HsmState.STARTED, opts.timeoutMs ?? 5000);
    if (!ok) {
      this.hotplugQueue.cancel(id);
      if (this.vcpus.has(id) && this.hsm(id) === HsmState.STOPPED) await this.destroyUnstarted(id).catch(() => undefined);
      throw new HvError('ETIMEDOUT', `the guest did not start hart ${id} within ${opts.timeoutMs ?? 5000} ms`);
    }
  }

  /**
   * Hot-removes vCPU `id`: asks the guest (REMOVE event + software interrupt) to move its work away and stop the
   * hart, then destroys the vCPU (thread ended, memory freed). If the guest does not stop it within `timeoutMs`:
   * with `force` the vCPU is destroyed wherever it is (forced unplug, see the extension's spec), otherwise the
   * request is withdrawn and ETIMEDOUT is thrown. The last started hart cannot be removed (EBUSY).
   */
  async hotRemove(id: number, opts: { force?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.checkHotplugId(id);
    if (!this.vcpus.has(id)) throw new HvError('ENODEV', `no vCPU ${id}`);
    const timeoutMs = opts.timeoutMs ?? 5000;
    // A start in flight (the guest's hart_start) completes first: the guest then sees an ordinary removal.
    if (this.hsm(id) === HsmState.START_PENDING) await this.until(() => this.hsm(id) !== HsmState.START_PENDING, timeoutMs);
    if (this.hsm(id) === HsmState.STOPPED) { await this.destroyUnstarted(id); return; } // never started: nothing to ask
    const started = this.startedHarts();
    if (started.length <= 1) throw new HvError('EBUSY', `vCPU ${id} is the last running vCPU and cannot be removed`);
    if (this.removing.has(id)) throw new HvError('EBUSY', `a removal of vCPU ${id} is already in flight`);
    this.removing.add(id);
    try {
      this.postHotplug(HotplugEvent.REMOVE, id);
      // The hart asked to leave runs at the hypervisor's priority until it has stopped (or the request ends), and
      // goes first for a CPU slot.
      this.executor.boost?.(id, true);
      Atomics.or(this.slots, id * Slot.STRIDE + Slot.FLAGS, SlotFlag.HOST_WAITS);
      const ok = await this.until(() => {
        // The hart has stopped (its doorbell woke us): destroy it now; the thread's message comes later.
        if (this.executor.kind === 'threads' && this.removing.has(id) && this.vcpus.has(id) && this.hsm(id) === HsmState.STOPPED) {
          this.onEvent({ kind: 'stopped', id });
        }
        return !this.vcpus.has(id) && !this.registry.present(id);
      }, timeoutMs);
      if (ok) return;
      this.hotplugQueue.cancel(id);
      if (!opts.force) throw new HvError('ETIMEDOUT', `the guest did not stop hart ${id} within ${timeoutMs} ms (use force to unplug it anyway)`);
      this.forcedRemovals++;
      this.traceOwner(id, TraceKind.HOTPLUG, 3);
      if (this.vcpus.has(id)) await this.destroyVcpu(id);
    } finally {
      this.removing.delete(id);
      this.executor.boost?.(id, false);
      Atomics.and(this.slots, id * Slot.STRIDE + Slot.FLAGS, ~SlotFlag.HOST_WAITS);
    }
  }

  /**
   * Runs a hotplug schedule: each step at `atMs` after this call, in wall time with the threaded executor and in
   * guest (virtual) time with the deterministic one, where the whole run stays reproducible by seed.
   * `onResult` hears each step's outcome (an error is reported, not thrown: the schedule goes on).
   */
  scheduleHotplug(steps: readonly HotplugStep[], onResult: (step: HotplugStep, error?: Error) => void = () => {}): void {
    this.checkOpen();
    if (this.executor.kind === 'deterministic') {
      const det = this.executor as DeterministicExecutor;
      const t0 = det.vtime;
      for (const step of steps) det.at(t0 + step.atMs * TICKS_PER_MS, () => this.hotplugStepSync(det, step, onResult));
      return;
    }
    for (const step of steps) {
      const t = setTimeout(() => {
        if (this.closed) return;
        const p = step.op === 'add' ? this.hotAdd(step.id, { timeoutMs: step.timeoutMs })
          : this.hotRemove(step.id, { force: step.force, timeoutMs: step.timeoutMs });
        p.then(() => onResult(step), (e: Error) => onResult(step, e));
      }, step.atMs);
      t.unref();
      this.timers.push(t);
    }
  }

  /** A hotplug step carried out at once, on the deterministic executor's thread (timeouts in guest time). */
  private hotplugStepSync(det: DeterministicExecutor, step: HotplugStep, onResult: (step: HotplugStep, error?: Error) => void): void {
    const id = step.id;
    const timeoutTicks = (step.timeoutMs ?? 5000) * TICKS_PER_MS;
    try {
      if (this.closed) return;
      this.checkHotplugId(id);
      if (step.op === 'add') {
        if (this.vcpus.has(id) || this.registry.present(id) || !this.registry.canOccupy(id)) throw new HvError('EEXIST', `vCPU ${id} exists already`);
        this.attach(id);
        det.addVcpu(id);
        this.postHotplug(HotplugEvent.ADD, id);
        det.at(det.vtime + timeoutTicks, () => {
          if (this.hsm(id) === HsmState.STARTED || !this.vcpus.has(id)) { onResult(step); return; }
          this.hotplugQueue.cancel(id);
          this.destroySync(det, id);
          onResult(step, new HvError('ETIMEDOUT', `the guest did not start hart ${id} in time`));
        });
        return;
      }
      if (!this.vcpus.has(id)) throw new HvError('ENODEV', `no vCPU ${id}`);
      if (this.hsm(id) !== HsmState.STARTED) { this.destroySync(det, id); onResult(step); return; }
      if (this.startedHarts().length <= 1) throw new HvError('EBUSY', `vCPU ${id} is the last running vCPU and cannot be removed`);
      if (this.removing.has(id)) throw new HvError('EBUSY', `a removal of vCPU ${id} is already in flight`);
      this.removing.add(id);
      this.postHotplug(HotplugEvent.REMOVE, id);
      det.at(det.vtime + timeoutTicks, () => {
        this.removing.delete(id);
        if (!this.vcpus.has(id)) { onResult(step); return; }
        this.hotplugQueue.cancel(id);
        if (!step.force) { onResult(step, new HvError('ETIMEDOUT', `the guest did not stop hart ${id} in time`)); return; }
        this.forcedRemovals++;
        this.traceOwner(id, TraceKind.HOTPLUG, 3);
        this.destroySync(det, id);
        onResult(step);
      });
    } catch (e) {
      onResult(step, e as Error);
    }
  }

  private destroySync(det: DeterministicExecutor, id: number): void {
    const v = this.vcpus.get(id);
    if (!v) return;
    this.vcpus.delete(id);
    det.removeNow(id);
    this.detach(id, v, true);
  }

  /** What the guest's `time` CSR reads now: 10 MHz ticks (threads: of the wall clock since the VM started). */
  guestTicks(): number {
    if (this.executor.kind === 'deterministic') return (this.executor as DeterministicExecutor).vtime;
    return wallTicks(this.timeOriginMs);
  }

  /** Guest-time-consistent trace timestamp in microseconds (threads: wall clock since the VM started). */
  private traceNow(): number {
    if (this.executor.kind === 'deterministic') return (this.executor as DeterministicExecutor).vtime / 10;
    return (performance.timeOrigin + performance.now() - this.timeOriginMs) * 1000;
  }

  /** Records an event of the owner thread (hotplug, vCPU life) when tracing. */
  private traceOwner(vcpu: number, kind: TraceKind, arg: number): void {
    if (this.traceRing) this.traceRing.record(this.traceNow(), vcpu, kind, arg);
  }

  /**
   * The trace events recorded so far (and not yet drained), in time order: per vCPU scheduling states, CPU slot
   * changes, spins, directed yields, hotplug and life-cycle events. Empty unless the VM was created with `trace`.
   */
  drainTrace(): TraceEvent[] {
    if (this.traceRing) this.traceLog.push(...this.traceRing.drain());
    const out = this.traceLog.splice(0);
    return out.sort((a, b) => a.t - b.t);
  }

  /**
   * Destroys a vCPU the guest has not started. If the guest starts it meanwhile (hart_start racing with this), the
   * start is honoured: the vCPU is created again and takes it, as for any hart_start of an absent vCPU.
   */
  private destroyUnstarted(id: number): Promise<void> {
    return this.serial(id, async () => {
      if (!this.vcpus.has(id)) return;
      await this.destroyNow(id, false);
      if (!this.closed && this.hsm(id) === HsmState.START_PENDING) await this.createNow(id);
    });
  }

  /** Hotplug counters, for metrics. */
  hotplugStats(): { add: number; remove: number; forced: number } {
    return { add: this.hotplugEvents.add, remove: this.hotplugEvents.remove, forced: this.forcedRemovals };
  }

  /** Runs `fn` after every earlier operation on the same vCPU id (create/destroy never interleave per id). */
  private serial<T>(id: number, fn: () => Promise<T>): Promise<T> {
    const prev = this.ops.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.ops.set(id, tail);
    void tail.then(() => { if (this.ops.get(id) === tail) this.ops.delete(id); });
    return next;
  }

  /** Host-side HSM start of a present, stopped vCPU at `pc` with a1 = opaque. */
  startVcpu(id: number, pc: number, opaque: number): void {
    this.checkOpen();
    if (!this.vcpus.has(id)) throw new HvError('ENODEV', `no vCPU ${id}`);
    const b = id * Slot.STRIDE;
    if (Atomics.compareExchange(this.slots, b + Slot.HSM, HsmState.STOPPED, HsmState.START_PENDING) !== HsmState.STOPPED) {
      throw new HvError('EBUSY', `vCPU ${id} is not stopped`);
    }
    Atomics.store(this.slots, b + Slot.START_ADDR, pc | 0);
    Atomics.store(this.slots, b + Slot.START_OPAQUE, opaque | 0);
    Atomics.or(this.slots, b + Slot.REQ, Req.START);
    this.executor.wake(id);
  }

  /** The VM's state: 'created' (no image booted), 'running', 'paused' or 'shutdown'. */
  get state(): 'created' | 'running' | 'paused' | 'shutdown' {
    return (['created', 'running', 'paused', 'shutdown'] as const)[Atomics.load(this.ctl, Ctl.STATE)] ?? 'shutdown';
  }

  /**
   * Pauses every vCPU: each finishes its current slice (at most a few thousand instructions), gives up its CPU
   * slot and sleeps until `resume()`. Guest time (the wall clock, with the threaded executor) keeps running.
   */
  pause(): void {
    this.checkOpen();
    if (Atomics.compareExchange(this.ctl, Ctl.STATE, VmState.RUNNING, VmState.PAUSED) !== VmState.RUNNING) {
      throw new HvError('EBUSY', `the VM is ${this.state}, not running`);
    }
  }

  resume(): void {
    this.checkOpen();
    if (Atomics.compareExchange(this.ctl, Ctl.STATE, VmState.PAUSED, VmState.RUNNING) !== VmState.PAUSED) {
      throw new HvError('EBUSY', `the VM is ${this.state}, not paused`);
    }
    for (const id of this.vcpus.keys()) this.executor.wake(id);
  }

  /** State and statistics of vCPU `id`. */
  vcpuInfo(id: number): VcpuInfo {
    if (!Number.isInteger(id) || id < 0 || id >= this.maxVcpus) throw new HvError('EINVAL', `vCPU id ${id} is out of range`);
    const b = id * Slot.STRIDE;
    const stats = {} as Record<StatName, number>;
    STAT_NAMES.forEach((n, i) => { stats[n] = this.stats[id * STAT_STRIDE + i]; });
    return {
      id,
      hsm: HSM_NAMES[Atomics.load(this.slots, b + Slot.HSM)] ?? 'stopped',
      run: RUN_NAMES[Atomics.load(this.slots, b + Slot.RUN)] ?? 'none',
      stats,
    };
  }

  /** Ids of the vCPUs present. */
  vcpuIds(): number[] { return [...this.vcpus.keys()].sort((a, b) => a - b); }

  getVcpu(id: number): Vcpu | undefined { return this.vcpus.get(id); }

  /** Resolves when the guest shuts down (SRST), fails fatally, stalls, or the VM is closed. */
  wait(): Promise<VmExit> {
    if (this.exitValue) return Promise.resolve(this.exitValue);
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  private finish(e: VmExit): void {
    if (this.exitValue) return;
    this.exitValue = e;
    Atomics.store(this.ctl, Ctl.STATE, VmState.SHUTDOWN);
    this.drainConsole();
    for (const w of this.exitWaiters.splice(0)) w(e);
  }

  private onEvent(ev: ExecutorEvent): void {
    if (this.handleSync(ev)) return;
    switch (ev.kind) {
      case 'start-request': {
        const id = ev.id;
        if (this.closed) return;
        if (this.vcpus.has(id)) { this.executor.wake(id); return; }
        // The guest started a hart whose vCPU does not exist: create it on demand (it takes the pending start).
        void this.serial(id, async () => {
          if (this.closed || this.vcpus.has(id)) { this.executor.wake(id); return; }
          // The start may have been cancelled meanwhile (its vCPU destroyed by the host): nothing to create.
          if (Atomics.load(this.slots, id * Slot.STRIDE + Slot.HSM) !== HsmState.START_PENDING) return;
          await this.createNow(id);
        }).catch((e) => this.onWarn(`could not create vCPU ${id} for hart_start: ${(e as Error).message}`));
        return;
      }
      case 'stopped': {
        const id = ev.id;
        if (!this.destroysOnStop(id)) { this.checkStalled(); return; }
        // The guest stopped the hart on its own, or because the host asked (hotRemove).
        const byGuest = !this.removing.has(id);
        this.removing.delete(id);
        void this.serial(id, async () => {
          if (!this.vcpus.has(id)) return;
          await this.destroyNow(id, false, byGuest);
          // A start posted while the vCPU was being destroyed: create it again.
          const b = id * Slot.STRIDE;
          if (!this.closed && Atomics.load(this.slots, b + Slot.HSM) === HsmState.START_PENDING) await this.createNow(id);
          this.checkStalled();
        }).catch((e) => this.onWarn(`could not destroy stopped vCPU ${id}: ${(e as Error).message}`));
        return;
      }
      case 'shutdown': {
        const fatal = Atomics.load(this.ctl, Ctl.FATAL) !== 0;
        this.finish({ reason: fatal ? 'fatal' : 'shutdown', exitCode: Atomics.load(this.ctl, Ctl.EXIT_CODE) });
        return;
      }
      case 'warn': this.onWarn(ev.message); return;
      case 'error':
        this.onWarn(ev.message);
        Atomics.store(this.ctl, Ctl.FATAL, 1);
        this.finish({ reason: 'fatal', exitCode: 1 });
        return;
    }
  }

  /** A VM whose harts are all stopped with no start pending can never run again. */
  private checkStalled(): void {
    for (let id = 0; id < this.maxVcpus; id++) {
      const h = Atomics.load(this.slots, id * Slot.STRIDE + Slot.HSM);
      if (h !== HsmState.STOPPED) return;
    }
    if (Atomics.load(this.ctl, Ctl.STATE) === VmState.RUNNING) this.finish({ reason: 'stalled', exitCode: 1 });
  }

  private drainConsole(): void {
    const v = this.view;
    if (!v) return;
    const bytes = v.out.drain();
    if (bytes.length) this.onOutput(bytes);
  }

  /** Drops one reference; the last one tears the VM down. */
  private release(): void {
    this.refs--;
    if (this.refs === 0) this.teardown();
  }

  private teardown(): void {
    this.tornDown = true;
    this.drainConsole();
    if (this.drainTimer) clearInterval(this.drainTimer);
    this.drainTimer = undefined;
    // Dropping the views and buffers lets the RAM go (the executor threads are gone by now).
    this.view = undefined;
    this.buffers = undefined;
    this.memory = undefined;
  }

  /**
   * Closes the owner's handle: destroys every vCPU (their threads end), then drops the owner's reference; the VM
   * is torn down with the last one. Idempotent.
   */
  close(): Promise<void> {
    // A second caller waits for the same teardown.
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.splice(0)) clearTimeout(t);
    this.finish({ reason: 'closed', exitCode: Atomics.load(this.ctl, Ctl.EXIT_CODE) });
    await Promise.all(this.vcpuIds().map((id) => this.serial(id, async () => { if (this.vcpus.has(id)) await this.destroyNow(id); })));
    await Promise.all([...this.ops.values()]);
    await this.executor.close();
    this.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A handle on one vCPU. It holds a reference on its VM until destroyed. */
export class Vcpu {
  private destroyed = false;
  constructor(readonly vm: Vm, readonly id: number, readonly generation: number) {}

  get isDestroyed(): boolean { return this.destroyed; }

  /** @internal */
  markDestroyed(): void { this.destroyed = true; }

  private check(): void {
    if (this.destroyed) throw new HvError('EBADF', `vCPU ${this.id} was destroyed`);
  }

  /** Starts the (stopped) vCPU at `pc` in S-mode with a0 = id, a1 = opaque, as HSM hart_start does. */
  start(pc: number, opaque = 0): void {
    this.check();
    this.vm.startVcpu(this.id, pc, opaque);
  }

  info(): VcpuInfo {
    this.check();
    return this.vm.vcpuInfo(this.id);
  }

  /** Destroys the vCPU now, wherever it is: its thread ends and its state is freed; the id can be created again. */
  async destroy(): Promise<void> {
    this.check();
    await this.vm.destroyVcpu(this.id);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.destroyed) await this.destroy();
  }
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
