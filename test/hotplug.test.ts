/**
 * Live hotplug against the demo guest (guests/images/demo.bin): random schedules of hundreds of add/remove
 * requests while the guest's harts count under a shared lock. The guest's own check (shared counter equals the
 * sum of per-hart counts equals the target) must hold, every vCPU thread must be gone after close, and the
 * shared memory must be released.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createVm, HotplugStep } from '../src/hv/vm.js';
import { prng } from '../src/host/deterministic.js';
import { counterAddr, loadGuest, waitFor } from './helpers/guest.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEMO = readFileSync(path.join(repo, 'guests/images/demo.bin'));
const MAX = 8;

/** A random schedule over ids 1..MAX-1 (hart 0 boots and coordinates): each step adds an absent id or removes a present one. */
function schedule(seed: number, n: number, everyMs: number, startMs: number): HotplugStep[] {
  const rand = prng(seed);
  const present = new Set<number>([1]);
  const steps: HotplugStep[] = [];
  for (let i = 0; i < n; i++) {
    const absent = [...Array(MAX - 1).keys()].map((k) => k + 1).filter((k) => !present.has(k));
    const remove = present.size > 0 && (absent.length === 0 || rand() < 0.5);
    const pool = remove ? [...present] : absent;
    const id = pool[Math.floor(rand() * pool.length)];
    if (remove) present.delete(id); else present.add(id);
    steps.push({ atMs: startMs + i * everyMs, op: remove ? 'remove' : 'add', id, timeoutMs: 2000 });
  }
  return steps;
}

async function run(executor: 'deterministic' | 'threads', seed: number, steps: HotplugStep[], ops: number, pcpus?: number) {
  let out = '';
  const v = await createVm({
    image: DEMO, maxVcpus: MAX, memoryMiB: 16, executor, seed, pcpus, onWarn: () => {},
    bootargs: `demo.harts=2 demo.ops=${ops} demo.lock=tas demo.poll_ms=1`,
    onOutput: (b) => { out += Buffer.from(b).toString('latin1'); },
  });
  const results: { step: HotplugStep; error?: string }[] = [];
  v.scheduleHotplug(steps, (step, e) => results.push({ step, error: e?.message }));
  const timer = setTimeout(() => void v.close(), 120_000);
  const exit = await v.wait();
  clearTimeout(timer);
  const stats = v.hotplugStats();
  await v.close();
  return { out, exit, results, stats, threads: v.threads };
}

function guestCounts(out: string): { adds: number; removes: number } {
  const m = /hotplug adds=(\d+) removes=(\d+)/.exec(out);
  assert.ok(m, 'the demo prints its hotplug counts');
  return { adds: Number(m[1]), removes: Number(m[2]) };
}

test('hotplug: 200 random add/remove requests in the deterministic executor; result correct; identical by seed', { timeout: 300_000 }, async () => {
  const steps = schedule(11, 200, 2, 5);
  const a = await run('deterministic', 5, steps, 1_200_000);
  assert.match(a.out, /demo: result OK total=1200000/);
  assert.equal(a.exit.reason, 'shutdown');
  assert.equal(a.exit.exitCode, 0);
  assert.equal(a.threads, 0);
  const g = guestCounts(a.out);
  // The guest handled every event the host posted while it ran.
  assert.ok(a.stats.add + a.stats.remove >= 150, `host posted ${a.stats.add + a.stats.remove} events`);
  assert.ok(g.adds + g.removes >= 150, `guest handled ${g.adds} adds and ${g.removes} removes`);
  assert.equal(a.stats.forced, 0);
  const b = await run('deterministic', 5, steps, 1_200_000);
  assert.equal(b.out, a.out, 'same seed and schedule, same run');
});

test('hotplug: random add/remove requests with the threaded executor; result correct; no thread left', { timeout: 300_000 }, async () => {
  // A step every 24 ms: requests still overlap now and then (a removal in flight, an add of an id not yet gone),
  // but many find the state the schedule expects: 41-49 of 100 succeeded here, 33-45 beside a CPU-bound process.
  // Every 8 ms it was 20-27 (14 beside that process, and in one CI run) against the 20 this test asks for.
  const steps = schedule(23, 100, 24, 50);
  // Two CPU slots (this machine's cores): vCPU threads beyond them wait instead of fighting the host scheduler.
  // The guest should count on past the last step (2.45 s): 900,000 operations took 1.8-2.4 s, then 0.5-1.7 s once
  // PAUSE ran in WebAssembly (a run of 21 steps failed this test); 6,000,000 take 2.6-2.8 s (all 100 steps).
  const r = await run('threads', 1, steps, 6_000_000, 2);
  assert.match(r.out, /demo: result OK/);
  assert.equal(r.exit.exitCode, 0);
  assert.equal(r.threads, 0);
  const ok = r.results.filter((x) => !x.error).length;
  assert.ok(ok >= 20, `${ok} of ${r.results.length} steps succeeded: ${r.results.filter((x) => x.error).slice(0, 3).map((x) => x.error).join('; ')}`);
});

test('hotplug: the same id added and removed back to back: each new vCPU runs on the thread of the last one, undisturbed', { timeout: 120_000 }, async () => {
  // The removed vCPU's thread parks and is handed the next vCPU of that id; its message that the guest stopped the
  // old hart may arrive only then, and once destroyed the new vCPU (about 1 run in 2 of 80 cycles, before messages
  // carried their hand-over).
  const v = await createVm({ image: DEMO, maxVcpus: 5, memoryMiB: 16, executor: 'threads', onOutput: () => {}, onWarn: () => {},
    bootargs: 'demo.harts=4 demo.ops=4000000000 demo.lock=tas demo.poll_ms=1' });
  try {
    await waitFor(() => v.startedCount() === 4, 10_000, 'the 4 harts started');
    for (let i = 0; i < 120; i++) {
      await v.hotAdd(4, { timeoutMs: 5000 });
      assert.equal(v.vcpuInfo(4).hsm, 'started', `cycle ${i}`);
      await v.hotRemove(4, { timeoutMs: 5000 });
      assert.deepEqual(v.vcpuIds(), [0, 1, 2, 3]);
    }
  } finally {
    await v.close();
  }
  assert.equal(v.threads, 0);
});

test('hotplug: rules: the last running vCPU cannot be removed; a guest that ignores requests is unplugged by force', async () => {
  // The counter guest never reads hotplug events.
  const v = await createVm({ maxVcpus: 4, memoryMiB: 16, executor: 'threads', onOutput: () => {}, onWarn: () => {} });
  const prog = loadGuest(v.mem);
  const c0 = await v.createVcpu(0); c0.start(prog.counter, counterAddr(0));
  await waitFor(() => v.vcpuInfo(0).hsm === 'started', 2000);
  await assert.rejects(v.hotRemove(0), (e: Error & { code?: string }) => e.code === 'EBUSY', 'last running vCPU');
  const c1 = await v.createVcpu(1); c1.start(prog.counter, counterAddr(1));
  await waitFor(() => v.vcpuInfo(1).hsm === 'started', 2000);
  await assert.rejects(v.hotRemove(1, { timeoutMs: 100 }), (e: Error & { code?: string }) => e.code === 'ETIMEDOUT');
  assert.deepEqual(v.vcpuIds(), [0, 1], 'a refused graceful removal changes nothing');
  await v.hotRemove(1, { timeoutMs: 100, force: true });
  assert.deepEqual(v.vcpuIds(), [0]);
  assert.equal(v.vcpuInfo(1).hsm, 'stopped');
  assert.equal(v.hotplugStats().forced, 1);
  // The VM runs on: hart 0 keeps counting, and the id can be added again.
  const before = v.mem.readU32(counterAddr(0));
  await new Promise((r) => setTimeout(r, 30));
  assert.ok(v.mem.readU32(counterAddr(0)) > before);
  const again = await v.createVcpu(1);
  assert.equal(again.id, 1);
  await v.close();
  assert.equal(v.threads, 0);
  await assert.rejects(v.hotAdd(1), (e: Error & { code?: string }) => e.code === 'EBADF');
});

test('hotplug: memory returns to its baseline after VMs with hotplug are closed', { timeout: 120_000 }, async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  const base = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 3; i++) await run('deterministic', i, schedule(i, 20, 2, 5), 20_000);
  // Buffers go with their last holder; worker threads release theirs as they finish, so collect a few times.
  let after = Infinity;
  for (let i = 0; i < 20 && after - base >= 8 * 1024 * 1024; i++) {
    await new Promise((r) => setTimeout(r, 50));
    gc();
    after = process.memoryUsage().arrayBuffers;
  }
  // Each VM held 16 MiB of guest RAM; three of them must not stay behind.
  assert.ok(after - base < 8 * 1024 * 1024, `array buffers grew by ${((after - base) / 1048576).toFixed(1)} MiB`);
});
