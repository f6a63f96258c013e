/**
 * The trace writer: a VM's scheduling trace (`Vm.drainTrace()`, host/trace.ts) as a Chrome trace-event JSON
 * document, the format that Perfetto's UI (ui.perfetto.dev) and chrome://tracing open.
 *
 * Layout of the document:
 *  - process "CPU slots" (pid 1): one thread track per CPU slot, with a span "vCPU n" while vCPU n holds it;
 *  - process "vCPUs" (pid 2): one thread track per vCPU, with its scheduling state as back-to-back spans named
 *    running / preempted / halted / stopped / spinning, instants for its creation and destruction, and flow
 *    arrows (directed yield) from the spinner's span to the span where the vCPU it yielded to runs;
 *  - hotplug requests as global instants;
 *  - process "Rates" (pid 3): counters of PLE exits, directed yields and (with stat samples) exits per ms.
 * Every track is named by `M` metadata events. Thread ids are unique across the processes (Perfetto files
 * threads by tid), and no pid equals a tid.
 *
 * Spans are complete events (`ph: "X"`), so a begin can never lack its end. A PLE exit is recorded when the spin
 * has lasted a PLE window, so the `spinning` span covers the window before the exit (at the nominal speed of the
 * virtual CPU, `NOMINAL_INSTR_PER_US`), clipped to the running span it interrupts. Without CPU events (the
 * deterministic executor, or no overcommit) CPU slot tracks are derived from the running spans: a vCPU that
 * starts running takes the lowest free slot.
 *
 * Timestamps are microseconds on the trace clock (`TraceInfo.clock`), rounded to nanoseconds; the strings are
 * printable ASCII (Perfetto's tokenizer takes no \u escapes), and no event holds an array.
 */
import { TraceKind } from '../host/trace.js';
import type { TraceEvent } from '../host/trace.js';
import { RunState } from '../host/layout.js';
import type { StatName } from '../host/layout.js';

/** Scheduling states (host/layout.ts `RunState`) by number, as span names; NONE has no span. */
export const RUN_STATE_NAMES: readonly (string | null)[] = [null, 'running', 'halted', 'preempted', 'stopped'];
/** Every span name of a vCPU track. */
export const VCPU_STATES = ['running', 'spinning', 'preempted', 'halted', 'stopped'] as const;
export type VcpuStateName = (typeof VCPU_STATES)[number];

/** Process ids of the three track groups. */
export const PID = { CPU_SLOTS: 1, VCPUS: 2, RATES: 3 } as const;
/** Thread id of CPU slot `k`. */
export const cpuSlotTid = (k: number): number => 10_000 + k;
/** Thread id of vCPU `id`. */
export const vcpuTid = (id: number): number => 20_000 + id;
/** Thread id of the (empty) thread that owns the rate counters. */
export const RATES_TID = 30_000;

/** Counter names (process "Rates"); each counter's value is in its one arg, `per ms`. */
export const COUNTER = { PLE_EXITS: 'PLE exits', YIELDS: 'directed yields', EXITS: 'exits' } as const;
export const COUNTER_ARG = 'per ms';

/** Nominal guest instructions per microsecond (the deterministic executor's 100 MIPS virtual CPU). */
export const NOMINAL_INSTR_PER_US = 100;

/** What the trace is of: shown in the document (`otherData`) and by the report. */
export interface TraceInfo {
  executor: 'threads' | 'deterministic';
  /** CPU slots. */
  pcpus: number;
  /** Possible vCPUs. */
  maxVcpus: number;
  directedYield: string;
  pleGap?: number;
  pleWindow?: number;
  seed?: number;
  /** The guest image (a path or a name). */
  image?: string;
  bootargs?: string;
  /** 'guest': virtual time of the deterministic executor; 'wall': wall clock since the VM was created. */
  clock: 'guest' | 'wall';
  /** End of the run on the trace clock (µs): open spans end here. Default: the last event. */
  endUs?: number;
  /** How the run ended (e.g. "shutdown, exit code 0"). */
  outcome?: string;
}

/** Cumulative statistics of each vCPU id at time `t` (µs, trace clock). */
export interface StatSample {
  t: number;
  stats: ReadonlyMap<number, Readonly<Record<StatName, number>>>;
}

/** One row of the final per-vCPU statistics, kept in the document for the report. */
export interface VcpuStatsRow {
  id: number;
  /** e.g. "started/running", or "gone" for a vCPU that was destroyed. */
  state: string;
  stats: Readonly<Record<StatName, number>>;
}

export interface TraceOptions {
  samples?: readonly StatSample[];
  finalStats?: readonly VcpuStatsRow[];
  /** Trace events dropped because the ring was full (shown in `otherData`). */
  dropped?: number;
}

/** One event of the Chrome trace-event format (the fields we use). */
export interface ChromeEvent {
  name: string;
  ph: 'X' | 'i' | 's' | 'f' | 'M' | 'C';
  ts: number;
  pid: number;
  tid: number;
  cat?: string;
  dur?: number;
  s?: 'g' | 'p' | 't';
  id?: number;
  bp?: 'e';
  args?: Record<string, string | number>;
}

/** The JSON object format of a Chrome trace. */
export interface ChromeTrace {
  displayTimeUnit: 'ms' | 'ns';
  otherData: Record<string, string>;
  traceEvents: ChromeEvent[];
}

/** The schema tag in `otherData.schema`, so the report recognises our traces. */
export const TRACE_SCHEMA = 'hartvisor-trace/1';

interface Span { start: number; end: number; name: string; args?: Record<string, string | number> }

/** Microseconds rounded to whole nanoseconds (3 decimals), the resolution Perfetto keeps. */
function ns(us: number): number {
  return Math.round(us * 1000) / 1000;
}

/** Printable ASCII only (Perfetto's JSON tokenizer rejects control characters and \u escapes). */
export function asciiOnly(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}

/** Index of the first of `spans` (sorted, back to back) that ends at or after `t`; spans.length if none. */
function firstEndingAtOrAfter(spans: readonly Span[], t: number): number {
  let lo = 0, hi = spans.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (spans[mid].end < t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/**
 * A timestamp strictly inside `span`, as close to `want` as allowed, so that a flow event binds to the span;
 * null when the span is too short to hold one (under 2 ns).
 */
function inside(span: Span, want: number): number | null {
  const lo = ns(span.start), hi = ns(span.end);
  if (hi - lo < 0.002) return null;
  const t = ns(Math.min(Math.max(want, lo + 0.001), hi - 0.001));
  return t > lo && t < hi ? t : null;
}

/** The scheduling history of one vCPU, built event by event. */
class VcpuTrack {
  readonly spans: Span[] = [];
  state: string | null = null;
  since = 0;
  constructor(readonly id: number) {}

  close(t: number): void {
    if (this.state !== null && t > this.since) this.spans.push({ start: this.since, end: t, name: this.state });
    this.state = null;
  }

  open(name: string | null, t: number): void {
    this.close(t);
    this.state = name;
    this.since = t;
  }

  /** A PLE exit at `t` after a spin of `window` instructions: the tail of the running span becomes `spinning`. */
  spin(t: number, window: number): void {
    if (this.state !== 'running') return;
    const from = Math.max(this.since, t - window / NOMINAL_INSTR_PER_US);
    if (from > this.since) this.spans.push({ start: this.since, end: from, name: 'running' });
    this.spans.push({ start: from, end: t, name: 'spinning', args: { ple_window: window } });
    this.since = t;
  }
}

/** CPU slot occupancy from CPU events: robust to a grant seen before the giver's release (threads race). */
class SlotTracker {
  readonly spans = new Map<number, Span[]>();
  private readonly holder = new Map<number, { vcpu: number; since: number }>();
  private readonly held = new Map<number, number>();

  take(slot: number, vcpu: number, t: number): void {
    this.release(vcpu, t);
    const h = this.holder.get(slot);
    if (h) this.release(h.vcpu, t);
    this.holder.set(slot, { vcpu, since: t });
    this.held.set(vcpu, slot);
  }

  release(vcpu: number, t: number): void {
    const slot = this.held.get(vcpu);
    if (slot === undefined) return;
    const h = this.holder.get(slot)!;
    this.push(slot, h.vcpu, h.since, t);
    this.holder.delete(slot);
    this.held.delete(vcpu);
  }

  push(slot: number, vcpu: number, start: number, end: number): void {
    if (!this.spans.has(slot)) this.spans.set(slot, []);
    if (end > start) this.spans.get(slot)!.push({ start, end, name: `vCPU ${vcpu}`, args: { vcpu } });
  }

  finish(t: number): void {
    for (const vcpu of [...this.held.keys()]) this.release(vcpu, t);
  }
}

/** Derives CPU slot occupancy from the vCPUs' on-CPU spans (running, spinning): lowest free slot first. */
function deriveSlots(tracks: Iterable<VcpuTrack>, pcpus: number): Map<number, Span[]> {
  const all: { start: number; end: number; vcpu: number }[] = [];
  for (const tr of tracks) {
    let cur: { start: number; end: number; vcpu: number } | null = null;
    for (const s of tr.spans) {
      const on = s.name === 'running' || s.name === 'spinning';
      if (on && cur && s.start <= cur.end) { cur.end = Math.max(cur.end, s.end); continue; }
      if (cur) all.push(cur);
      cur = on ? { start: s.start, end: s.end, vcpu: tr.id } : null;
    }
    if (cur) all.push(cur);
  }
  // A zero-length stay on a CPU (a yield at the instant the vCPU was scheduled in) holds no slot.
  const intervals = all.filter((iv) => iv.end > iv.start);
  // Sweep in time order; at equal times, ends come before starts so a slot freed at t can be taken at t.
  const points = intervals.flatMap((iv, i) => [{ t: iv.start, start: true, i }, { t: iv.end, start: false, i }]);
  points.sort((a, b) => a.t - b.t || Number(a.start) - Number(b.start));
  const slotOf = new Map<number, number>();
  const free: boolean[] = Array.from({ length: pcpus }, () => true);
  const out = new Map<number, Span[]>();
  for (const p of points) {
    const iv = intervals[p.i];
    if (!p.start) {
      const k = slotOf.get(p.i);
      if (k !== undefined) { free[k] = true; out.get(k)!.push({ start: iv.start, end: iv.end, name: `vCPU ${iv.vcpu}`, args: { vcpu: iv.vcpu } }); }
      continue;
    }
    let k = free.indexOf(true);
    if (k < 0) { k = free.length; free.push(true); } // more on CPU than slots: an inconsistent trace, shown anyway
    free[k] = false;
    slotOf.set(p.i, k);
    if (!out.has(k)) out.set(k, []);
  }
  for (const spans of out.values()) spans.sort((a, b) => a.start - b.start);
  return out;
}

/** Bin width (µs) giving about `target` bins over `durationUs`: 1, 2 or 5 times a power of ten. */
export function niceBinUs(durationUs: number, target = 100): number {
  const raw = Math.max(durationUs / target, 1);
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

/** Counter events: `times` counted into bins from 0 to `endUs`, as a rate per millisecond. */
function rateCounter(name: string, times: readonly number[], endUs: number): ChromeEvent[] {
  const bin = niceBinUs(endUs);
  const n = Math.max(1, Math.ceil(endUs / bin));
  const counts = new Array<number>(n).fill(0);
  for (const t of times) counts[Math.min(n - 1, Math.max(0, Math.floor(t / bin)))]++;
  const perMs = 1000 / bin;
  const out = counts.map((c, i): ChromeEvent => ({ name, ph: 'C', ts: ns(i * bin), pid: PID.RATES, tid: RATES_TID, args: { [COUNTER_ARG]: c * perMs } }));
  out.push({ name, ph: 'C', ts: ns(n * bin), pid: PID.RATES, tid: RATES_TID, args: { [COUNTER_ARG]: 0 } });
  return out;
}

/** Exits per ms between consecutive stat samples (summed over vCPUs). */
function exitCounter(samples: readonly StatSample[]): ChromeEvent[] {
  const out: ChromeEvent[] = [];
  const total = (s: StatSample) => [...s.stats.values()].reduce((a, st) => a + (st.exits ?? 0), 0);
  const sorted = [...samples].filter((s) => Number.isFinite(s.t)).sort((a, b) => a.t - b.t);
  for (let i = 1; i < sorted.length; i++) {
    const dt = sorted[i].t - sorted[i - 1].t;
    if (dt <= 0) continue;
    const rate = Math.max(0, total(sorted[i]) - total(sorted[i - 1])) / (dt / 1000);
    out.push({ name: COUNTER.EXITS, ph: 'C', ts: ns(sorted[i - 1].t), pid: PID.RATES, tid: RATES_TID, args: { [COUNTER_ARG]: rate } });
  }
  if (out.length) out.push({ name: COUNTER.EXITS, ph: 'C', ts: ns(sorted[sorted.length - 1].t), pid: PID.RATES, tid: RATES_TID, args: { [COUNTER_ARG]: 0 } });
  return out;
}

const HOTPLUG_NAMES: Record<number, string> = { 1: 'add', 2: 'remove', 3: 'forced removal' };

/**
 * Builds the Chrome trace document of a run.
 * @param events the VM's trace (any order; sorted here by time, stably)
 */
export function buildChromeTrace(events: readonly TraceEvent[], info: TraceInfo, opts: TraceOptions = {}): ChromeTrace {
  const evs = events.filter((e) => Number.isFinite(e.t)).slice().sort((a, b) => a.t - b.t);
  const lastT = evs.length ? evs[evs.length - 1].t : 0;
  const endUs = Math.max(info.endUs ?? lastT, lastT, 0);
  const tracks = new Map<number, VcpuTrack>();
  const track = (id: number) => { let t = tracks.get(id); if (!t) { t = new VcpuTrack(id); tracks.set(id, t); } return t; };
  const hasCpuEvents = evs.some((e) => e.kind === TraceKind.CPU);
  const slots = new SlotTracker();
  const yields: { t: number; from: number; to: number }[] = [];
  const spinTimes: number[] = [];
  const out: ChromeEvent[] = [];

  for (const e of evs) {
    const tr = track(e.vcpu);
    switch (e.kind) {
      case TraceKind.RUN:
        tr.open(RUN_STATE_NAMES[e.arg] ?? null, e.t);
        if (e.arg === RunState.NONE) slots.release(e.vcpu, e.t);
        break;
      case TraceKind.SPIN:
        tr.spin(e.t, e.arg);
        spinTimes.push(e.t);
        break;
      case TraceKind.YIELD_TO:
        yields.push({ t: e.t, from: e.vcpu, to: e.arg });
        track(e.arg);
        break;
      case TraceKind.CPU:
        if (e.arg >= 0) slots.take(e.arg, e.vcpu, e.t); else slots.release(e.vcpu, e.t);
        break;
      case TraceKind.HOTPLUG: {
        const what = HOTPLUG_NAMES[e.arg] ?? `hotplug ${e.arg}`;
        out.push({ name: `hotplug: ${what} vCPU ${e.vcpu}`, cat: 'hotplug', ph: 'i', s: 'g', ts: ns(e.t), pid: PID.VCPUS, tid: vcpuTid(e.vcpu), args: { vcpu: e.vcpu, op: what } });
        break;
      }
      case TraceKind.LIFE:
        if (e.arg === 0) { tr.open(null, e.t); slots.release(e.vcpu, e.t); }
        out.push({ name: e.arg === 0 ? `vCPU ${e.vcpu} destroyed` : `vCPU ${e.vcpu} created`, cat: 'lifecycle', ph: 'i', s: 't', ts: ns(e.t), pid: PID.VCPUS, tid: vcpuTid(e.vcpu) });
        break;
      default:
        break; // an event kind this writer does not know yet
    }
  }
  for (const tr of tracks.values()) tr.close(endUs);
  slots.finish(endUs);
  const slotSpans = hasCpuEvents ? slots.spans : deriveSlots(tracks.values(), info.pcpus);

  for (const tr of tracks.values()) {
    for (const s of tr.spans) {
      const ts = ns(s.start), dur = ns(ns(s.end) - ts);
      if (dur <= 0 && s.name !== 'spinning') continue; // a zero-length state says nothing; a PLE exit does
      out.push({ name: s.name, cat: 'vcpu', ph: 'X', ts, dur: Math.max(0, dur), pid: PID.VCPUS, tid: vcpuTid(tr.id), ...(s.args ? { args: s.args } : {}) });
    }
  }
  for (const [k, spans] of slotSpans) {
    for (const s of spans) {
      const ts = ns(s.start), dur = ns(ns(s.end) - ts);
      if (dur <= 0) continue;
      out.push({ name: s.name, cat: 'cpu', ph: 'X', ts, dur, pid: PID.CPU_SLOTS, tid: cpuSlotTid(k), ...(s.args ? { args: s.args } : {}) });
    }
  }

  // Directed yields: an arrow from inside the spinner's span at the yield to inside the target's next run.
  let flowId = 0;
  for (const y of yields) {
    const from = tracks.get(y.from)?.spans ?? [], to = tracks.get(y.to)?.spans ?? [];
    const i = firstEndingAtOrAfter(from, y.t);
    const src = i < from.length && from[i].start < y.t ? from[i] : undefined;
    let dst: Span | undefined;
    // The target's next time on a CPU: among the next few spans (it is preempted until it gets the slot).
    const k = firstEndingAtOrAfter(to, y.t);
    for (let j = k; j < to.length && j < k + 8; j++) {
      const s = to[j];
      if ((s.name === 'running' || s.name === 'spinning') && s.end > y.t && ns(s.end) - ns(s.start) >= 0.002) { dst = s; break; }
    }
    if (!src || !dst) continue;
    const sTs = inside(src, y.t - 0.001);
    const fTs = inside(dst, Math.max(dst.start, y.t) + 0.001);
    if (sTs === null || fTs === null || fTs < sTs) continue;
    flowId++;
    const args = { from: y.from, to: y.to };
    out.push({ name: 'directed yield', cat: 'yield', ph: 's', id: flowId, ts: sTs, pid: PID.VCPUS, tid: vcpuTid(y.from), args });
    out.push({ name: 'directed yield', cat: 'yield', ph: 'f', bp: 'e', id: flowId, ts: fTs, pid: PID.VCPUS, tid: vcpuTid(y.to), args });
  }

  out.push(...rateCounter(COUNTER.PLE_EXITS, spinTimes, endUs));
  out.push(...rateCounter(COUNTER.YIELDS, yields.map((y) => y.t), endUs));
  if (opts.samples && opts.samples.length > 1) out.push(...exitCounter(opts.samples));
  // Stable sort: events at the same time keep the order in which they were made.
  out.sort((a, b) => a.ts - b.ts);

  const meta: ChromeEvent[] = [];
  const name = (ph: 'process_name' | 'thread_name', pid: number, tid: number, n: string) =>
    meta.push({ name: ph, ph: 'M', ts: 0, pid, tid, args: { name: n } });
  const sortIndex = (ph: 'process_sort_index' | 'thread_sort_index', pid: number, tid: number, i: number) =>
    meta.push({ name: ph, ph: 'M', ts: 0, pid, tid, args: { sort_index: i } });
  name('process_name', PID.CPU_SLOTS, cpuSlotTid(0), 'CPU slots');
  sortIndex('process_sort_index', PID.CPU_SLOTS, cpuSlotTid(0), 1);
  name('process_name', PID.VCPUS, vcpuTid(0), 'vCPUs');
  sortIndex('process_sort_index', PID.VCPUS, vcpuTid(0), 2);
  name('process_name', PID.RATES, RATES_TID, 'Rates (per ms)');
  sortIndex('process_sort_index', PID.RATES, RATES_TID, 3);
  name('thread_name', PID.RATES, RATES_TID, 'rates');
  const slotIds = new Set<number>([...Array(info.pcpus).keys(), ...slotSpans.keys()]);
  for (const k of [...slotIds].sort((a, b) => a - b)) {
    name('thread_name', PID.CPU_SLOTS, cpuSlotTid(k), `CPU ${k}`);
    sortIndex('thread_sort_index', PID.CPU_SLOTS, cpuSlotTid(k), k);
  }
  for (const id of [...tracks.keys()].sort((a, b) => a - b)) {
    name('thread_name', PID.VCPUS, vcpuTid(id), `vCPU ${id}`);
    sortIndex('thread_sort_index', PID.VCPUS, vcpuTid(id), id);
  }

  const otherData: Record<string, string> = {
    schema: TRACE_SCHEMA,
    tool: 'hartvisor',
    executor: info.executor,
    clock: info.clock,
    pcpus: String(info.pcpus),
    maxVcpus: String(info.maxVcpus),
    directedYield: info.directedYield,
    endUs: String(ns(endUs)),
  };
  if (info.pleGap !== undefined) otherData.pleGap = String(info.pleGap);
  if (info.pleWindow !== undefined) otherData.pleWindow = String(info.pleWindow);
  if (info.seed !== undefined) otherData.seed = String(info.seed);
  if (info.image !== undefined) otherData.image = asciiOnly(info.image);
  if (info.bootargs !== undefined) otherData.bootargs = asciiOnly(info.bootargs);
  if (info.outcome !== undefined) otherData.outcome = asciiOnly(info.outcome);
  if (opts.dropped !== undefined) otherData.droppedEvents = String(opts.dropped);
  if (opts.finalStats) otherData.vcpuStats = JSON.stringify(opts.finalStats.map((r) => ({ id: r.id, state: asciiOnly(r.state), stats: r.stats })));

  return { displayTimeUnit: 'ms', otherData, traceEvents: [...meta, ...out] };
}

/**
 * The document as JSON text: `displayTimeUnit` first (Perfetto only looks for it near the start), one event per
 * line.
 */
export function serializeChromeTrace(doc: ChromeTrace): string {
  const events = doc.traceEvents.map((e) => JSON.stringify(e)).join(',\n');
  return `{"displayTimeUnit":${JSON.stringify(doc.displayTimeUnit)},\n"otherData":${JSON.stringify(doc.otherData)},\n"traceEvents":[\n${events}\n]}\n`;
}
