/**
 * Benchmark group `lifecycle`: vCPU hotplug on the threaded executor while 8 vCPUs run a busy guest.
 *
 *  - create+start: from `createVcpu` + `start` to the new vCPU's first guest instruction, which reads the guest
 *    clock (`time` CSR, the host's wall clock at 10 MHz) and stores it: the guest itself says when it ran, so the
 *    owner only polls now and then instead of spinning on a core the guests need;
 *  - destroy: from `destroy()` to its promise resolving (the thread runs no more guest code), and to the
 *    thread's exit event (the thread is gone);
 *  - registry scan: a full `VcpuRegistry.scanFrom` over 1024 present vCPUs, in ns per vCPU, timed on a worker
 *    thread attached to the VM's shared buffers (where a vCPU thread would scan it) and on the owner thread.
 *
 * The p99 target for both latencies is 5 ms. Latencies include the host's own scheduling: on a machine with
 * fewer cores than busy vCPUs the new thread waits for a core. The `-idle` rows repeat the hotplug
 * measurements with no busy vCPU, as a baseline for what the executor itself costs. `empty-worker-exit` times
 * the exit of an empty Node worker beside the busy vCPUs: the platform's floor under `destroy-thread-exit`.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { VcpuRegistry } from '../src/hv/registry.js';
import { createVm, type Vm } from '../src/hv/vm.js';
import type { ThreadedExecutor } from '../src/host/threads.js';
import { counterAddr, loadGuest, markerAddr } from '../test/helpers/guest.js';
import { metric, type BenchContext, type BenchGroup, type Row } from './types.js';

const BUSY_VCPUS = 8;
/** The id created and destroyed over and over. */
const HOTPLUG_ID = BUSY_VCPUS;
const CYCLES = Number(process.env.HARTVISOR_BENCH_LIFECYCLE_CYCLES ?? 200);
/** Pause between cycles, so a warm spare thread is ready again (the executor refills its pool in the background). */
const CYCLE_GAP_MS = 100;
/**
 * Cycles start this long after the busy vCPUs run: the running VM, not its start-up, when V8 compiles each new vCPU
 * thread's code (seventh session, two runs: create p99 over the first 200 cycles 9.0 and 5.2 ms, over 200 from 2 s
 * on 4.4 and 3.2; destroy and thread exit the same either way).
 */
const SETTLE_MS = 2000;
const TARGET_P99_MS = 5;
/** Give up on one cycle after this long. */
const CYCLE_TIMEOUT_MS = 10_000;
/** Guest clock ticks per millisecond (the `time` CSR runs at 10 MHz). */
const TICKS_PER_MS = 10_000;
const SCAN_VCPUS = 1024;
/** Full scans timed per measurement. */
const SCANS = 20_000;

/** Cycles of the baseline with no busy vCPU (the same VM shape, nothing else running). */
const IDLE_CYCLES = Math.max(1, Math.ceil(CYCLES / 4));

const HOTPLUG_ROWS = ['create-start', 'destroy', 'destroy-thread-exit'] as const;
/**
 * The floor under `destroy-thread-exit`: an empty Node worker (no module, no vCPU) told to exit, timed from the
 * message to its exit event, beside the same busy vCPUs (without the boost a vCPU thread's exit gets). A reference,
 * not a target.
 */
const FLOOR_ROW = 'empty-worker-exit';
const FLOOR_CYCLES = 100;
const ROWS = [...HOTPLUG_ROWS, ...HOTPLUG_ROWS.map((r) => `${r}-idle`), FLOOR_ROW, 'registry-scan-worker', 'registry-scan-owner'] as const;

interface ScanJob { ctl: SharedArrayBuffer; slots: SharedArrayBuffer; scans: number }
interface ScanResult { nsPerVcpu: number; seen: number }

/** Times `scans` full scans of the registry; every present vCPU is visited once per scan. */
function timeScans(reg: VcpuRegistry, scans: number, self: number): ScanResult {
  let seen = 0;
  const visit = (): boolean => { seen++; return false; };
  // Warm-up, so the scan loop is compiled before it is timed.
  for (let i = 0; i < 2000; i++) reg.scanFrom(i % reg.maxVcpus, visit);
  seen = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < scans; i++) {
    reg.readLock(self);
    reg.scanFrom(i % reg.maxVcpus, visit);
    reg.readUnlock(self);
  }
  const ns = Number(process.hrtime.bigint() - t0);
  return { nsPerVcpu: ns / (scans * reg.maxVcpus), seen };
}

// The scan worker runs this very module with a `lifecycleScan` job.
if (!isMainThread && (workerData as { lifecycleScan?: ScanJob } | null)?.lifecycleScan) {
  const job = (workerData as { lifecycleScan: ScanJob }).lifecycleScan;
  const reg = new VcpuRegistry(job.ctl, job.slots);
  parentPort!.postMessage(timeScans(reg, job.scans, 0));
}

function scanOnWorker(job: ScanJob): Promise<ScanResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { lifecycleScan: job } });
    w.once('message', (r: ScanResult) => { resolve(r); void w.terminate(); });
    w.once('error', reject);
    w.once('exit', (code) => { if (code !== 0) reject(new Error(`scan worker exited with code ${code}`)); });
  });
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function latencyRow(name: string, samples: number[], failures: string[], target = true): Row {
  const s = [...samples].sort((a, b) => a - b);
  const p99 = percentile(s, 0.99);
  return {
    name,
    ok: failures.length === 0 && s.length > 0,
    errors: failures.length > 0 ? [`${failures.length} cycle(s) failed, first: ${failures[0]}`] : s.length === 0 ? ['no samples'] : [],
    metrics: {
      n: metric('cycles', 'count', s.length, 0),
      p50: metric('p50 ms', 'ms', percentile(s, 0.5), 3),
      p99: metric('p99 ms', 'ms', p99, 3),
      max: metric('max ms', 'ms', s.length ? s[s.length - 1]! : null, 3),
      ...(target ? { target: metric('p99 < 5 ms', 'bool', p99 === null ? null : p99 < TARGET_P99_MS ? 1 : 0, 0) } : {}),
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every millisecond (the owner does not spin: a spinning owner would take a core from the guests). */
async function waitUntil(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) return false;
    await sleep(1);
  }
  return true;
}

interface HotplugResult { create: number[]; destroy: number[]; threadExit: number[]; emptyExit: number[]; failures: { create: string[]; destroy: string[]; threadExit: string[]; emptyExit: string[] } }

const EMPTY_WORKER = "require('node:worker_threads').parentPort.once('message', () => process.exit(0));";

/** Exits of empty Node workers, message to exit event, each booted and idle for CYCLE_GAP_MS first. */
async function measureEmptyExits(n: number, out: HotplugResult): Promise<void> {
  for (let c = 0; c < n; c++) {
    const w = new Worker(EMPTY_WORKER, { eval: true });
    await new Promise((resolve) => w.once('online', resolve));
    await sleep(CYCLE_GAP_MS);
    const exited = new Promise<number>((resolve) => w.once('exit', () => resolve(performance.now())));
    const t0 = performance.now();
    w.postMessage(0);
    const at = await Promise.race([exited, sleep(CYCLE_TIMEOUT_MS).then(() => -1)]);
    if (at >= 0) out.emptyExit.push(at - t0);
    else { out.failures.emptyExit.push(`cycle ${c}: an empty worker did not exit within ${CYCLE_TIMEOUT_MS} ms`); void w.terminate(); }
  }
}

async function measureHotplug(ctx: BenchContext, busy: number, cycles: number, floor = 0): Promise<HotplugResult> {
  const out: HotplugResult = { create: [], destroy: [], threadExit: [], emptyExit: [], failures: { create: [], destroy: [], threadExit: [], emptyExit: [] } };
  const warnings: string[] = [];
  const vm: Vm = await createVm({
    memoryMiB: 4, maxVcpus: BUSY_VCPUS + 1, executor: 'threads', onOutput: () => {}, onWarn: (m) => warnings.push(m),
  });
  try {
    const g = loadGuest(vm.mem);
    for (let id = 0; id < busy; id++) (await vm.createVcpu(id)).start(g.counter, counterAddr(id));
    if (!(await waitUntil(() => [...Array(busy).keys()].every((id) => vm.mem.readU32(counterAddr(id)) > 0), 30_000))) {
      throw new Error('the busy vCPUs did not all start');
    }
    if (busy > 0) await sleep(SETTLE_MS);
    const i32 = vm.mem.i32;
    const stampIndex = (markerAddr(0) - vm.mem.base) >> 2;
    const executor = vm.executor as ThreadedExecutor;
    ctx.log(`lifecycle: ${cycles} hotplug cycles of vCPU ${HOTPLUG_ID} beside ${busy} busy vCPUs`);
    for (let c = 0; c < cycles; c++) {
      await sleep(CYCLE_GAP_MS);
      Atomics.store(i32, stampIndex + 1, 0);
      // (a) create + start -> first guest instruction, which reads the guest clock (`time`, 10 MHz) and stores it.
      const t0 = vm.guestTicks();
      const v = await vm.createVcpu(HOTPLUG_ID);
      v.start(g.stamp, markerAddr(0));
      if (await waitUntil(() => Atomics.load(i32, stampIndex + 1) !== 0, CYCLE_TIMEOUT_MS)) {
        // Low 32 bits of the guest clock: the difference is exact modulo 2^32 ticks (7 minutes).
        out.create.push((((Atomics.load(i32, stampIndex) - (t0 | 0)) >>> 0) / TICKS_PER_MS));
      } else out.failures.create.push(`cycle ${c}: no first instruction within ${CYCLE_TIMEOUT_MS} ms`);

      // (b) destroy -> promise resolved (no more guest code), and -> the thread's exit event.
      const d0 = performance.now();
      await v.destroy();
      out.destroy.push(performance.now() - d0);
      const gone = executor.threadGone(HOTPLUG_ID);
      const exitAt = gone ? await Promise.race([gone, sleep(CYCLE_TIMEOUT_MS).then(() => -1)]) : -1;
      if (exitAt >= 0) out.threadExit.push(exitAt - d0);
      else out.failures.threadExit.push(`cycle ${c}: the thread of vCPU ${HOTPLUG_ID} did not exit within ${CYCLE_TIMEOUT_MS} ms`);
      if ((c + 1) % 50 === 0) ctx.log(`lifecycle: ${c + 1}/${cycles} cycles`);
    }
    if (floor > 0) {
      ctx.log(`lifecycle: ${floor} empty Node workers exiting beside ${busy} busy vCPUs`);
      await measureEmptyExits(floor, out);
    }
    if (warnings.length > 0) out.failures.destroy.push(`guest warnings: ${warnings.join('; ')}`);
  } finally {
    await vm.close();
  }
  return out;
}

async function measureScan(ctx: BenchContext): Promise<{ worker: ScanResult; owner: ScanResult }> {
  ctx.log(`lifecycle: registry scan over ${SCAN_VCPUS} present vCPUs`);
  const vm = await createVm({ memoryMiB: 1, maxVcpus: SCAN_VCPUS, executor: 'deterministic', onOutput: () => {} });
  try {
    for (let id = 0; id < SCAN_VCPUS; id++) await vm.createVcpu(id);
    const job: ScanJob = {
      ctl: vm.registry.ctl.buffer as SharedArrayBuffer,
      slots: vm.registry.slots.buffer as SharedArrayBuffer,
      scans: SCANS,
    };
    const worker = await scanOnWorker(job);
    const owner = timeScans(new VcpuRegistry(job.ctl, job.slots), SCANS, 0);
    return { worker, owner };
  } finally {
    await vm.close();
  }
}

function scanRow(name: string, r: ScanResult | null, error?: string): Row {
  const expected = SCANS * SCAN_VCPUS;
  const errors = error !== undefined ? [error] : r !== null && r.seen !== expected ? [`visited ${r.seen} vCPUs, expected ${expected}`] : [];
  return {
    name,
    ok: errors.length === 0 && r !== null,
    errors,
    metrics: {
      scans: metric('scans', 'count', r === null ? null : SCANS, 0),
      ns: metric('ns/vCPU', 'ns', r?.nsPerVcpu ?? null, 2),
      scanUs: metric('us/scan', 'us', r === null ? null : (r.nsPerVcpu * SCAN_VCPUS) / 1000, 2),
    },
  };
}

export const lifecycleGroup: BenchGroup = {
  name: 'lifecycle',
  title: `vCPU hotplug beside ${BUSY_VCPUS} busy vCPUs (threaded executor) and registry scan of ${SCAN_VCPUS} vCPUs`,
  rows: ROWS,

  async run(ctx: BenchContext): Promise<Row[]> {
    const rows: Row[] = [];
    for (const [suffix, busy, cycles] of [['', BUSY_VCPUS, CYCLES], ['-idle', 0, IDLE_CYCLES]] as const) {
      const wanted = HOTPLUG_ROWS.filter((r) => ctx.wants(`${r}${suffix}`));
      const floor = suffix === '' && ctx.wants(FLOOR_ROW) ? FLOOR_CYCLES : 0;
      if (wanted.length === 0 && floor === 0) continue;
      const h = await measureHotplug(ctx, busy, wanted.length > 0 ? cycles : 0, floor);
      const made: Row[] = [];
      if (wanted.includes('create-start')) made.push(latencyRow(`create-start${suffix}`, h.create, h.failures.create));
      if (wanted.includes('destroy')) made.push(latencyRow(`destroy${suffix}`, h.destroy, h.failures.destroy));
      if (wanted.includes('destroy-thread-exit')) made.push(latencyRow(`destroy-thread-exit${suffix}`, h.threadExit, h.failures.threadExit));
      for (const r of made) {
        const p99 = r.metrics.p99?.value;
        if (p99 !== null && p99 !== undefined && p99 >= TARGET_P99_MS) ctx.note(`${r.name}: p99 ${p99.toFixed(2)} ms misses the ${TARGET_P99_MS} ms target`);
      }
      rows.push(...made);
      if (floor > 0) rows.push(latencyRow(FLOOR_ROW, h.emptyExit, h.failures.emptyExit, false));
    }
    if (rows.length > 0) {
      ctx.note(`hotplug rows: vCPU ${HOTPLUG_ID} beside ${BUSY_VCPUS} busy vCPUs; '-idle' rows: beside none (baseline). ` +
        `${CYCLE_GAP_MS} ms pause between cycles; creation is timed by the guest's own clock read at its first instruction`);
    }
    if (ctx.wants('registry-scan-worker') || ctx.wants('registry-scan-owner')) {
      try {
        const s = await measureScan(ctx);
        if (ctx.wants('registry-scan-worker')) rows.push(scanRow('registry-scan-worker', s.worker));
        if (ctx.wants('registry-scan-owner')) rows.push(scanRow('registry-scan-owner', s.owner));
      } catch (e) {
        const msg = (e as Error).message;
        if (ctx.wants('registry-scan-worker')) rows.push(scanRow('registry-scan-worker', null, msg));
        if (ctx.wants('registry-scan-owner')) rows.push(scanRow('registry-scan-owner', null, msg));
      }
    }
    return rows;
  },
};
