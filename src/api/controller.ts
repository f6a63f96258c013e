/**
 * ApiController: executes VmmActions against the library (hv/vm.ts), one VM per controller (Firecracker style).
 * It never sees HTTP: the server parses requests into actions and maps what this returns or throws to statuses
 * (errors.ts). The CLI or a test can call `execute` directly.
 *
 * The VM's life cycle, as the API sees it:
 *
 *   not_configured ──PUT /vm──▶ running ◀──PATCH──▶ paused
 *                                  │ guest shutdown / DELETE /vm │
 *                                  ▼                             ▼
 *                               shutdown ──PUT /vm──▶ running (a new VM)
 *
 * Actions that need a VM answer 409 before the first PUT /vm; PUT /vm answers 409 while a VM is running or
 * paused. A VM that ends on its own (SRST shutdown, fatal error, stall) is closed at once, so its threads
 * end; GET /vm keeps reporting it, with its exit, until the next PUT /vm replaces it.
 */
import { readFile, stat } from 'node:fs/promises';
import { HvError } from '../hv/errors.js';
import { createVm, type Vm, type VmExit } from '../hv/vm.js';
import type { BootConfig, VcpuDescription, VmDescription, VmNotConfigured, VmmAction, VmmData } from './actions.js';
import { ApiError, badRequest, conflict } from './errors.js';
import { METRICS_CONTENT_TYPE, renderMetrics, type MetricsSnapshot } from './metrics.js';

/** Where the guests' console output and the library's warnings go. */
export interface ControllerOptions {
  /** Guest console output (default: discarded; `hartvisor serve` writes it to stdout). */
  readonly onOutput?: (bytes: Uint8Array) => void;
  /** Warnings about unsupported guest actions and failed background work (default: stderr). */
  readonly onWarn?: (message: string) => void;
}

/** The VM a controller runs, with what the API reports about it. */
interface VmRecord {
  readonly vm: Vm;
  readonly config: BootConfig;
  /** How the VM ended, once it has. */
  exit: VmExit | null;
  /** The close in progress or done (a VM is closed when it ends, or by DELETE /vm). */
  closing: Promise<void> | undefined;
}

const MIB = 1024 * 1024;
const EMPTY: VmmData = { kind: 'empty' };

/** Runs one VM on behalf of the API: `execute` an action, get data back or a typed error. */
export class ApiController {
  private current: VmRecord | undefined;
  /** A PUT /vm is reading the image and booting: other life-cycle actions wait their turn (409). */
  private booting = false;
  private closed = false;
  /** Hotplug counters of the VMs replaced so far, so that the metrics' counters never go back. */
  private readonly retired = { add: 0, remove: 0, forced: 0 };
  private readonly onOutput: (bytes: Uint8Array) => void;
  private readonly onWarn: (message: string) => void;

  constructor(opts: ControllerOptions = {}) {
    this.onOutput = opts.onOutput ?? (() => {});
    this.onWarn = opts.onWarn ?? ((m) => process.stderr.write(`hartvisor: warning: ${m}\n`));
  }

  /** The current VM (running, paused or shut down), or undefined before the first PUT /vm. */
  get vm(): Vm | undefined { return this.current?.vm; }

  /** Executes one action. @throws ApiError, HvError or ImageError, which errors.ts maps to HTTP statuses */
  async execute(action: VmmAction): Promise<VmmData> {
    if (this.closed) throw conflict('the API server is shutting down');
    switch (action.kind) {
      case 'boot-vm': await this.boot(action.config); return EMPTY;
      case 'describe-vm': return { kind: 'json', value: this.describeVm() };
      case 'set-vm-state': this.setState(action.state); return EMPTY;
      case 'shutdown-vm': await this.shutdown(); return EMPTY;
      case 'add-vcpu': await this.addVcpu(action.id, action.timeoutMs); return EMPTY;
      case 'remove-vcpu': await this.removeVcpu(action.id, action.force, action.timeoutMs); return EMPTY;
      case 'describe-vcpu': return { kind: 'json', value: this.describeVcpu(action.id) };
      case 'metrics': return { kind: 'text', contentType: METRICS_CONTENT_TYPE, text: renderMetrics(this.metricsSnapshot()) };
      default: {
        const never: never = action;
        throw new Error(`unknown action ${JSON.stringify(never)}`);
      }
    }
  }

  /** Shuts the VM down and refuses further actions (server shutdown). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.current) await this.closeVm(this.current);
  }

  // ---- /vm ------------------------------------------------------------------------------------------

  private async boot(config: BootConfig): Promise<void> {
    if (this.booting) throw conflict('a VM is being configured by another request');
    const old = this.current;
    if (old && old.vm.state !== 'shutdown') throw conflict(`a VM exists and is ${old.vm.state}: DELETE /vm first`);
    this.booting = true;
    try {
      const image = await readImage(config.imagePath, config.memoryMiB);
      // The old VM is shut down; wait until its threads are gone before the new one starts its own.
      if (old) await this.closeVm(old);
      const vm = await createVm({
        image,
        memoryMiB: config.memoryMiB,
        maxVcpus: config.maxVcpus,
        pcpus: config.cpuSlots,
        bootargs: config.bootArgs,
        executor: config.executor,
        seed: config.seed,
        directedYield: config.directedYield,
        onHartStop: config.onHartStop,
        onUnsupported: config.onUnsupported,
        ...(config.engine ? { engine: config.engine } : {}),
        onOutput: (bytes) => this.onOutput(bytes),
        onWarn: (message) => this.onWarn(message),
      });
      if (old) {
        const s = old.vm.hotplugStats();
        this.retired.add += s.add; this.retired.remove += s.remove; this.retired.forced += s.forced;
      }
      const rec: VmRecord = { vm, config, exit: null, closing: undefined };
      this.current = rec;
      // A VM that ends on its own is closed at once: its vCPU threads end, and GET /vm reports the exit.
      void vm.wait().then((exit) => { rec.exit = exit; void this.closeVm(rec); });
    } finally {
      this.booting = false;
    }
  }

  private describeVm(): VmDescription | VmNotConfigured {
    const rec = this.current;
    if (!rec) return { state: 'not_configured' };
    const { vm } = rec;
    const state = vm.state;
    return {
      // 'created' (no image booted) never shows: PUT /vm boots before the VM becomes current.
      state: state === 'created' ? 'running' : state,
      exit: rec.exit ? { reason: rec.exit.reason, exit_code: rec.exit.exitCode } : null,
      max_vcpus: vm.maxVcpus,
      cpu_slots: vm.sched.pcpus,
      online_vcpus: vm.onlineVcpus,
      vcpus: vm.vcpuIds().map((id) => { const i = vm.vcpuInfo(id); return { id, hsm: i.hsm, run: i.run }; }),
    };
  }

  private setState(state: 'paused' | 'running'): void {
    const { vm } = this.need(`PATCH /vm`);
    if (vm.state === 'shutdown') throw conflict('the VM is shut down');
    if (state === 'paused') vm.pause(); else vm.resume();
  }

  private async shutdown(): Promise<void> {
    const rec = this.need('DELETE /vm');
    await this.closeVm(rec);
  }

  /** Closes a VM once (whoever asks first), and records its exit. */
  private async closeVm(rec: VmRecord): Promise<void> {
    rec.closing ??= rec.vm.close().catch((e: unknown) => this.onWarn(`closing the VM failed: ${e instanceof Error ? e.message : String(e)}`));
    await rec.closing;
    rec.exit ??= await rec.vm.wait();
  }

  // ---- /vm/vcpus/{id} ---------------------------------------------------------------------------------

  private async addVcpu(id: number, timeoutMs: number): Promise<void> {
    const { vm } = this.need('PUT /vm/vcpus/{id}');
    checkId(vm, id);
    if (vm.vcpuIds().includes(id)) throw conflict(`vCPU ${id} exists already`);
    this.needRunning(vm, 'hot-add');
    await vm.hotAdd(id, { timeoutMs });
  }

  private async removeVcpu(id: number, force: boolean, timeoutMs: number): Promise<void> {
    const { vm } = this.need('DELETE /vm/vcpus/{id}');
    checkId(vm, id);
    if (!vm.vcpuIds().includes(id)) throw new ApiError('not-found', `no vCPU ${id}`);
    this.needRunning(vm, 'hot-remove');
    await vm.hotRemove(id, { force, timeoutMs });
  }

  private describeVcpu(id: number): VcpuDescription {
    const { vm } = this.need('GET /vm/vcpus/{id}');
    checkId(vm, id);
    if (!vm.vcpuIds().includes(id)) throw new ApiError('not-found', `no vCPU ${id}`);
    const i = vm.vcpuInfo(id);
    return { id, hsm: i.hsm, run: i.run, stats: { ...i.stats } };
  }

  // ---- /metrics ---------------------------------------------------------------------------------------

  /** The numbers behind GET /metrics. */
  metricsSnapshot(): MetricsSnapshot {
    const rec = this.current;
    const hp = { ...this.retired };
    if (!rec) return { state: 'not_configured', maxVcpus: 0, onlineVcpus: 0, threads: 0, hotplug: hp, vcpus: [] };
    const { vm } = rec;
    const s = vm.hotplugStats();
    hp.add += s.add; hp.remove += s.remove; hp.forced += s.forced;
    const state = vm.state;
    return {
      state: state === 'created' ? 'running' : state,
      maxVcpus: vm.maxVcpus,
      onlineVcpus: vm.onlineVcpus,
      threads: vm.threads,
      hotplug: hp,
      vcpus: vm.vcpuIds().map((id) => vm.vcpuInfo(id)),
    };
  }

  // ---- helpers ----------------------------------------------------------------------------------------

  /** The VM record, or a 409 for an action that needs a VM (Firecracker's "not supported pre-boot"). */
  private need(what: string): VmRecord {
    if (this.booting && !this.current) throw conflict(`${what}: the VM is being configured`);
    if (!this.current) throw conflict(`${what} needs a VM: configure one with PUT /vm first`);
    return this.current;
  }

  private needRunning(vm: Vm, what: string): void {
    const state = vm.state;
    if (state !== 'running') throw conflict(`${what} needs a running VM, and the VM is ${state === 'created' ? 'booting' : state}`);
  }
}

/** A vCPU id must be one of the VM's possible ids. @throws ApiError bad-request */
function checkId(vm: Vm, id: number): void {
  if (id >= vm.maxVcpus) throw badRequest(`vCPU id ${id} is out of range: this VM has ids 0..${vm.maxVcpus - 1} (max_vcpus ${vm.maxVcpus})`);
}

/**
 * Reads a guest image for PUT /vm. Every failure is a 400 naming the path: a missing, unreadable or
 * non-regular file, or one larger than guest RAM (refused before it is read).
 */
async function readImage(path: string, memoryMiB: number): Promise<Uint8Array> {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw badRequest(`image '${path}' is not a regular file`);
    if (st.size > memoryMiB * MIB) {
      throw badRequest(`image '${path}' is too big: ${st.size} bytes do not fit in ${memoryMiB} MiB of guest RAM`);
    }
    return new Uint8Array(await readFile(path));
  } catch (err) {
    if (err instanceof ApiError || err instanceof HvError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file'
      : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
      : code === 'ENOTDIR' ? 'a component of the path is not a directory'
      : code ?? (err instanceof Error ? err.message : String(err));
    throw badRequest(`image '${path}' cannot be read: ${why}`);
  }
}
