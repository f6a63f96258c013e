/**
 * Samples a running VM's per-vCPU statistics (`Vm.vcpuInfo(id).stats`, cumulative counters) at a fixed wall-clock
 * period, stamped with the VM's trace clock. It serves two ends:
 *  - per-vCPU totals for `--stats`, summed over the incarnations of each vCPU id: the counters of an id are
 *    zeroed when a vCPU with that id is created again, which the sampler sees as a counter going down (the counts
 *    of the old vCPU after its last sample and before the new one was created are lost; at a 10 ms period, few);
 *  - samples for the trace's "exits per ms" counter.
 */
import type { DeterministicExecutor } from '../host/deterministic.js';
import { STAT_NAMES } from '../host/layout.js';
import type { StatName } from '../host/layout.js';
import type { Vm } from '../hv/vm.js';
import type { StatSample, VcpuStatsRow } from './trace-json.js';

type Stats = Record<StatName, number>;

function zeroStats(): Stats {
  return Object.fromEntries(STAT_NAMES.map((n) => [n, 0])) as Stats;
}

/**
 * The VM's trace clock in microseconds: guest time of the deterministic executor, or the wall clock since
 * `originMs` (performance.timeOrigin + performance.now() taken just before the VM was created) for threads.
 */
export function traceClock(vm: Vm, originMs: number): () => number {
  if (vm.executor.kind === 'deterministic') {
    const det = vm.executor as DeterministicExecutor;
    return () => det.vtime / 10;
  }
  return () => (performance.timeOrigin + performance.now() - originMs) * 1000;
}

export class StatsSampler {
  readonly samples: StatSample[] = [];
  /** Totals of earlier incarnations, per id. */
  private readonly past = new Map<number, Stats>();
  /** Last values read, per id. */
  private readonly last = new Map<number, Stats>();
  /** Ids that had a vCPU at some sample. */
  private readonly seen = new Set<number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly vm: Vm, private readonly clock: () => number, private readonly keepSamples: boolean, private readonly periodMs = 10) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.periodMs);
    this.timer.unref();
  }

  /** Takes a last sample (call before the VM is closed) and stops. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
  }

  /** Reads every vCPU id's counters now. */
  sample(): void {
    if (this.vm.isTornDown) return;
    let present: number[];
    try { present = this.vm.vcpuIds(); } catch { return; }
    for (const id of present) this.seen.add(id);
    const snapshot = new Map<number, Stats>();
    for (let id = 0; id < this.vm.maxVcpus; id++) {
      let now: Stats;
      try { now = { ...this.vm.vcpuInfo(id).stats }; } catch { return; }
      const prev = this.last.get(id);
      if (prev && STAT_NAMES.some((n) => now[n] < prev[n])) {
        // Zeroed: a new vCPU with this id. Keep what the old one had counted.
        const past = this.past.get(id) ?? zeroStats();
        for (const n of STAT_NAMES) past[n] += prev[n];
        this.past.set(id, past);
      }
      this.last.set(id, now);
      if (STAT_NAMES.some((n) => now[n] !== 0)) this.seen.add(id);
      if (this.seen.has(id)) snapshot.set(id, this.total(id));
    }
    if (this.keepSamples) this.samples.push({ t: this.clock(), stats: snapshot });
  }

  private total(id: number): Stats {
    const out = zeroStats();
    const past = this.past.get(id), last = this.last.get(id);
    for (const n of STAT_NAMES) out[n] = (past?.[n] ?? 0) + (last?.[n] ?? 0);
    return out;
  }

  /**
   * One row per vCPU id that existed during the run, with its totals over all its incarnations and its state
   * now ("hsm/run", or "gone" once destroyed).
   */
  rows(): VcpuStatsRow[] {
    let present = new Set<number>();
    try { present = new Set(this.vm.vcpuIds()); } catch { /* closed */ }
    return [...this.seen].sort((a, b) => a - b).map((id) => {
      let state = 'gone';
      if (present.has(id)) {
        try { const i = this.vm.vcpuInfo(id); state = `${i.hsm}/${i.run}`; } catch { /* closed meanwhile */ }
      }
      return { id, state, stats: this.total(id) };
    });
  }
}

/** Columns of the statistics table: stat, header. */
const COLUMNS: readonly [StatName, string][] = [
  ['instructions', 'instructions'], ['exits', 'exits'], ['exits_ecall', 'ecall'], ['exits_wfi', 'wfi'], ['exits_budget', 'budget'],
  ['pause_loop_exits', 'PLE exits'], ['directed_yield_attempted', 'yield tried'], ['directed_yield_successful', 'yield ok'],
  ['preempted', 'preempted'], ['halt_wakeup', 'wakeups'], ['sbi_calls', 'SBI calls'], ['ipi_sent', 'IPIs sent'],
];

/** The per-vCPU statistics as a plain text table (first column left-aligned, numbers right-aligned), plus a total row. */
export function formatStatsTable(rows: readonly VcpuStatsRow[]): string {
  const header = ['vCPU', 'state', ...COLUMNS.map(([, h]) => h)];
  const body = rows.map((r) => [String(r.id), r.state, ...COLUMNS.map(([n]) => String(r.stats[n] ?? 0))]);
  if (rows.length > 1) body.push(['total', '', ...COLUMNS.map(([n]) => String(rows.reduce((a, r) => a + (r.stats[n] ?? 0), 0)))]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((r) => r[c].length)));
  const line = (cells: readonly string[]) => cells.map((s, c) => (c < 2 ? s.padEnd(widths[c]) : s.padStart(widths[c]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n') + '\n';
}
