/**
 * Stress: vCPUs 0..3 keep running a guest (each increments its own counter in RAM) while the host creates and
 * destroys vCPU 7 of the same VM thousands of times, sometimes starting it first and sometimes waiting until
 * it has run. At the end the working vCPUs have advanced, nothing failed or warned, the reference count is
 * back to owner + 4, and after close no thread is left.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { createVm } from '../src/hv/vm.js';
import { counterAddr, loadGuest, tick, waitFor } from './helpers/guest.js';

const WORKERS = [0, 1, 2, 3];
const CYCLED = 7;

interface StressPlan {
  executor: 'deterministic' | 'threads';
  /** Cycles wanted; fewer are accepted down to `minCycles` when the time budget runs out first. */
  cycles: number;
  minCycles: number;
  budgetMs: number;
  /** Every n-th cycle, start vCPU 7 and wait until it has run guest code before destroying it. */
  runEvery: number;
  /** Every n-th cycle, yield to the event loop (the deterministic executor runs the guests there). */
  yieldEvery: number;
}

async function stress(plan: StressPlan): Promise<{ cycles: number; ms: number; maxThreads: number; settled: number }> {
  const warnings: string[] = [];
  const vm = await createVm({
    memoryMiB: 1, maxVcpus: 8, executor: plan.executor, onOutput: () => {}, onWarn: (m) => warnings.push(m),
  });
  const g = loadGuest(vm.mem);
  let exit: unknown;
  void vm.wait().then((e) => { if (e.reason !== 'closed') exit = e; });
  let cycles = 0;
  let maxThreads = 0;
  const t0 = performance.now();
  try {
    for (const id of WORKERS) (await vm.createVcpu(id)).start(g.counter, counterAddr(id));
    await waitFor(() => WORKERS.every((id) => vm.mem.readU32(counterAddr(id)) > 0), 20_000, 'the working vCPUs to run');
    const before = WORKERS.map((id) => vm.mem.readU32(counterAddr(id)));
    let ranCycled = 0;

    while (cycles < plan.cycles && (performance.now() - t0 < plan.budgetMs || cycles < plan.minCycles)) {
      const v = await vm.createVcpu(CYCLED);
      assert.equal(vm.references, 6);
      if (cycles % plan.runEvery === 0) {
        const c0 = vm.mem.readU32(counterAddr(CYCLED));
        v.start(g.counter, counterAddr(CYCLED));
        await waitFor(() => vm.mem.readU32(counterAddr(CYCLED)) !== c0, 20_000, `vCPU ${CYCLED} to run (cycle ${cycles})`);
        ranCycled++;
      } else if (cycles % 3 === 0) {
        v.start(g.counter, counterAddr(CYCLED)); // destroyed at once, whether or not it has begun
      }
      await v.destroy();
      assert.equal(v.isDestroyed, true);
      cycles++;
      if (cycles % plan.yieldEvery === 0) await tick();
      maxThreads = Math.max(maxThreads, vm.threads);
      assert.equal(exit, undefined, `the VM stopped: ${JSON.stringify(exit)}`);
    }
    const ms = performance.now() - t0;

    // The working vCPUs are unharmed and still running.
    const mid = WORKERS.map((id) => vm.mem.readU32(counterAddr(id)));
    await waitFor(() => WORKERS.every((id, i) => vm.mem.readU32(counterAddr(id)) > mid[i]!), 20_000, 'the working vCPUs to go on');
    WORKERS.forEach((id, i) => assert.ok(mid[i]! > before[i]!, `vCPU ${id} advanced (${before[i]} -> ${mid[i]})`));
    assert.ok(ranCycled > 0);
    assert.deepEqual(vm.vcpuIds(), WORKERS);
    assert.equal(vm.references, 5);
    assert.equal(vm.onlineVcpus, 4);
    for (const id of WORKERS) assert.equal(vm.vcpuInfo(id).hsm, 'started');
    assert.equal(vm.vcpuInfo(CYCLED).hsm, 'stopped');
    assert.deepEqual(warnings, []);
    assert.equal(exit, undefined);
    // No leak: once the destroyed vCPUs' threads have finished exiting, what is left is one thread per working
    // vCPU and the warm spares (4).
    let settled = vm.threads;
    if (plan.executor === 'threads') {
      await waitFor(() => (settled = vm.threads) <= WORKERS.length + 4, 10_000, `the exiting threads to be gone (${settled} left)`);
    }
    return { cycles, ms, maxThreads, settled };
  } finally {
    await vm.close();
    assert.equal(vm.threads, 0, 'threads after close');
    assert.equal(vm.isTornDown, true);
    assert.equal(vm.references, 0);
  }
}

describe('create/destroy a vCPU thousands of times while others work', () => {
  it('deterministic executor: 3000 cycles', async (t) => {
    const r = await stress({ executor: 'deterministic', cycles: 3000, minCycles: 3000, budgetMs: 40_000, runEvery: 50, yieldEvery: 25 });
    t.diagnostic(`${r.cycles} cycles in ${r.ms.toFixed(0)} ms`);
  });

  it('threaded executor: up to 1000 cycles within ~30 s (at least 100)', async (t) => {
    const r = await stress({ executor: 'threads', cycles: 1000, minCycles: 100, budgetMs: 30_000, runEvery: 25, yieldEvery: 1 });
    t.diagnostic(`${r.cycles} cycles in ${r.ms.toFixed(0)} ms (${(r.ms / r.cycles).toFixed(1)} ms/cycle), at most ${r.maxThreads} threads, ${r.settled} after`);
    // One thread per working vCPU, the cycled one, the warm spares (4) and a few still exiting (an isolate takes
    // milliseconds to tear down beside 4 busy threads, more on a loaded host: 14 seen once in ~800 cycles); a leak
    // would grow with the cycles. stress() also checks that the count comes back down.
    assert.ok(r.maxThreads <= 4 + 1 + 4 + 8, `threads peaked at ${r.maxThreads}`);
  });
});
