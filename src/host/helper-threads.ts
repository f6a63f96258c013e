/**
 * The process's helper threads at the guests' priority while a threaded VM runs (thread-priority.ts).
 *
 * Why: each vCPU thread is an isolate of its own, and V8 compiles its hot code on the platform's worker threads
 * (~0.15 s of CPU per new vCPU thread with the demo guest, often four jobs at once), at the process's priority:
 * above the vCPUs, level with the hypervisor. Each hot-add set off a compile storm that took both cores from the
 * next thread the host waited on. Hotplug cycles, 300 in one run, helpers toggled every 10: hot-add p99 5.5 ms
 * against 16.5, hot-remove 8.9 against 14.4. A 4-vCPU Linux boot: 2.00 s against 1.99 (6 boots each, alternating).
 * Lowered only while a hotplug request was in flight: 7.5 / 10.6 (the storm begins as a request completes).
 *
 * Which threads: those that exist when this module is loaded on the main thread, before any vCPU thread: Node's
 * and V8's helpers (and any thread the embedding program started earlier). Only where they can be lifted back
 * (the privilege the vCPU boost needs): they are when the last such VM closes.
 */
import { readdirSync } from 'node:fs';
import { getPriority } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { setThreadNice } from './thread-priority.js';

/** Thread id -> nice value when first lowered. */
const helpers: Map<number, number> = (() => {
  const m = new Map<number, number>();
  if (!isMainThread) return m;
  try {
    for (const t of readdirSync('/proc/self/task').map(Number)) {
      if (t !== process.pid && Number.isInteger(t)) m.set(t, getPriority(t));
    }
  } catch { /* not Linux: nothing to do */ }
  return m;
})();

let lowered = 0, lifted = 0, loweredTo = 0, isLow = false;

function apply(): void {
  const low = lowered > 0 && lifted === 0;
  if (low === isLow) return;
  isLow = low;
  for (const [t, n] of helpers) setThreadNice(t, low ? loweredTo : n);
}

/** Lowers the helper threads to `nice` until every caller has called the returned release (which is idempotent). */
export function lowerHelperThreads(nice: number): () => void {
  if (helpers.size === 0) return () => {};
  if (lowered++ === 0) loweredTo = nice;
  apply();
  return once(() => { lowered--; apply(); });
}

/**
 * Gives the helper threads their own priority back until the release: a thread that exits waits for every
 * background task of the process (Node drains V8's task queue), so the host then waits on the helpers.
 */
export function liftHelperThreads(): () => void {
  if (helpers.size === 0) return () => {};
  lifted++;
  apply();
  return once(() => { lifted--; apply(); });
}

function once(f: () => void): () => void {
  let done = false;
  return () => { if (!done) { done = true; f(); } };
}

/** The helper threads' ids (for tests). */
export function helperThreadIds(): number[] {
  return [...helpers.keys()];
}
