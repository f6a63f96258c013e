/**
 * Hotplug latency (issue 6): while the demo guest keeps 8 vCPUs busy, the host hot-adds a 9th vCPU and hot-removes
 * it again, many times. Measured: from the hot-add request to the new vCPU running guest code (the guest started
 * it: HSM STARTED), and from the unplug request to its resources freed (vCPU destroyed, slot vacated). Threaded
 * executor, the default; target p99 under 10 ms.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ThreadedExecutor } from '../src/host/threads.js';
import { createVm } from '../src/hv/vm.js';
import { BenchContext, BenchGroup, Row, metric } from './types.js';

/** Cycles spaced so that each finds the spare-thread pool refilled, as an operator's requests would. */
const SPACED = { cycles: 200, pauseMs: 150 };
/** Cycles back to back: each hot-add pays for a thread boot (~40 ms of CPU) on the same 2 cores. */
const CHURN = { cycles: 100, pauseMs: 20 };
/**
 * Measuring starts this long after the 8 harts started: the running VM, not its start-up, when V8 compiles each new
 * vCPU thread's code (seventh session: every request slower than 20 ms came in the first 0.6 s; hot-remove p99 over
 * the first 200 cycles 37-42 ms, over 200 from 2 s on 15-17).
 */
const SETTLE_MS = 2000;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

export const hotplugGroup: BenchGroup = {
  name: 'hotplug',
  title: `vCPU hot-add and hot-remove latency beside 8 busy vCPUs of the demo guest (threads; ${SPACED.cycles} cycles ` +
    `${SPACED.pauseMs} ms apart, then ${CHURN.cycles} back to back)`,
  rows: ['hot-add', 'hot-remove', 'hot-remove-thread-exit', 'hot-add-churn', 'hot-remove-churn'],
  async run(ctx: BenchContext): Promise<Row[]> {
    const file = path.join(ctx.imagesDir, 'demo.bin');
    if (!existsSync(file)) { ctx.note(`skipped: no ${file}`); return []; }
    const vm = await createVm({
      image: readFileSync(file), maxVcpus: 9, memoryMiB: 32, onWarn: () => {}, onOutput: () => {},
      // 8 harts busy for the whole measurement; the demo hands hotplug events to hart 0.
      bootargs: 'demo.harts=8 demo.ops=4000000000 demo.lock=tas demo.poll_ms=1',
    });
    const errors: string[] = [];
    // Hot-remove to the thread's exit event: the vCPU is gone earlier (its thread left the run loop); the isolate's
    // own teardown takes ~3 ms of CPU more (issue 3's floor, bench/README). Reported for the spaced phase only.
    const threadExit: number[] = [];
    const phase = async (name: string, cfg: { cycles: number; pauseMs: number }): Promise<[number[], number[]]> => {
      const add: number[] = [], remove: number[] = [];
      if (!ctx.wants(`hot-add${name}`) && !ctx.wants(`hot-remove${name}`) && !(name === '' && ctx.wants('hot-remove-thread-exit'))) return [add, remove];
      for (let i = 0; i < cfg.cycles && errors.length === 0; i++) {
        if (i % 50 === 0) ctx.log(`hotplug${name}: ${i}/${cfg.cycles}`);
        await new Promise((r) => setTimeout(r, cfg.pauseMs));
        let t = performance.now();
        await vm.hotAdd(8, { timeoutMs: 5000 });
        add.push(performance.now() - t);
        t = performance.now();
        await vm.hotRemove(8, { timeoutMs: 5000 });
        remove.push(performance.now() - t);
        const gone = name === '' ? (vm.executor as ThreadedExecutor).threadGone(8) : undefined;
        if (gone) threadExit.push((await gone) - t);
      }
      return [add, remove];
    };
    let spaced: [number[], number[]] = [[], []], churn: [number[], number[]] = [[], []];
    try {
      const t0 = performance.now();
      while (vm.startedCount() < 8 && performance.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      spaced = await phase('', SPACED);
      churn = await phase('-churn', CHURN);
    } catch (e) {
      errors.push((e as Error).message);
    } finally {
      await vm.close();
    }
    const row = (name: string, xs: number[], cycles: number): Row => ({
      name, ok: errors.length === 0 && xs.length === cycles, errors,
      metrics: {
        n: metric('cycles', 'count', xs.length, 0),
        p50: metric('p50 ms', 'ms', xs.length ? pct(xs, 50) : null),
        p90: metric('p90 ms', 'ms', xs.length ? pct(xs, 90) : null),
        p99: metric('p99 ms', 'ms', xs.length ? pct(xs, 99) : null),
        max: metric('max ms', 'ms', xs.length ? Math.max(...xs) : null),
        target: metric('p99 < 10 ms', 'bool', xs.length ? (pct(xs, 99) < 10 ? 1 : 0) : null, 0),
      },
    });
    return [
      row('hot-add', spaced[0], SPACED.cycles), row('hot-remove', spaced[1], SPACED.cycles),
      row('hot-remove-thread-exit', threadExit, SPACED.cycles),
      row('hot-add-churn', churn[0], CHURN.cycles), row('hot-remove-churn', churn[1], CHURN.cycles),
    ].filter((r) => ctx.wants(r.name));
  },
};
