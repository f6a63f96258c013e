/**
 * `hartvisor report`: a self-contained HTML page (inline CSS and SVG, no script, nothing loaded from elsewhere)
 * with plots of one run, read back from its Chrome trace (trace-json.ts):
 *  - the vCPU timeline: each vCPU's scheduling state over time, the CPU slots' occupants, hotplug requests;
 *  - rates: exits, PLE exits and directed yields per time bin;
 *  - with the yield experiment's JSON: lock throughput by overcommit, directed yield off / on / pv, per workload.
 * Long runs are drawn at one rectangle per pixel column at most (the state that held longest there), so the page
 * stays small whatever the length of the trace.
 */
import { POLICIES } from './bench-json.js';
import type { Policy, YieldResults } from './bench-json.js';
import { POLICY_COLORS, STATE_COLORS, VCPU_PALETTE, esc, formatCount, niceTicks, px } from './svg.js';
import { COUNTER, COUNTER_ARG, PID, TRACE_SCHEMA, VCPU_STATES, niceBinUs } from './trace-json.js';
import type { VcpuStatsRow } from './trace-json.js';

/** A trace file that cannot be used; the message says why. */
export class TraceFormatError extends Error {
  override readonly name = 'TraceFormatError';
}

interface Span { start: number; end: number; key: string }

/** What the report needs from a trace. */
export interface TraceModel {
  /** `otherData` of the document (strings). */
  info: Readonly<Record<string, string>>;
  endUs: number;
  vcpus: { id: number; spans: Span[] }[];
  slots: { index: number; name: string; spans: Span[] }[];
  hotplug: { t: number; name: string }[];
  counters: Map<string, { t: number; v: number }[]>;
  /** Directed yields drawn as flows. */
  flows: number;
  stats: VcpuStatsRow[] | null;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const fin = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Reads a trace document written by `hartvisor run --trace`. @throws TraceFormatError */
export function readTraceModel(text: string): TraceModel {
  let doc: unknown;
  try { doc = JSON.parse(text); } catch (e) { throw new TraceFormatError(`not valid JSON: ${(e as Error).message}`); }
  if (!isObj(doc) || !Array.isArray(doc.traceEvents)) throw new TraceFormatError("not a Chrome trace (expected a JSON object with a 'traceEvents' array)");
  const info: Record<string, string> = {};
  if (isObj(doc.otherData)) for (const [k, v] of Object.entries(doc.otherData)) if (typeof v === 'string') info[k] = v;
  if (info.schema !== TRACE_SCHEMA) throw new TraceFormatError(`not a hartvisor trace (otherData.schema is ${JSON.stringify(info.schema)}, expected "${TRACE_SCHEMA}"; make one with 'hartvisor run --trace')`);

  const threadName = new Map<string, string>();
  const vcpuSpans = new Map<number, Span[]>(), slotSpans = new Map<number, Span[]>();
  const hotplug: { t: number; name: string }[] = [];
  const counters = new Map<string, { t: number; v: number }[]>();
  let flows = 0, lastT = 0;
  for (const e of doc.traceEvents) {
    if (!isObj(e) || typeof e.ph !== 'string') continue;
    const pid = e.pid, tid = e.tid, ts = e.ts;
    if (e.ph === 'M') {
      if (e.name === 'thread_name' && isObj(e.args) && typeof e.args.name === 'string') threadName.set(`${String(pid)}/${String(tid)}`, e.args.name);
      continue;
    }
    if (!fin(ts)) continue;
    lastT = Math.max(lastT, ts);
    switch (e.ph) {
      case 'X': {
        if (!fin(e.dur) || typeof e.name !== 'string' || typeof tid !== 'number') break;
        lastT = Math.max(lastT, ts + e.dur);
        const map = pid === PID.VCPUS ? vcpuSpans : pid === PID.CPU_SLOTS ? slotSpans : null;
        if (!map) break;
        if (!map.has(tid)) map.set(tid, []);
        map.get(tid)!.push({ start: ts, end: ts + e.dur, key: e.name });
        break;
      }
      case 'i':
        if (e.cat === 'hotplug' && typeof e.name === 'string') hotplug.push({ t: ts, name: e.name });
        break;
      case 's':
        flows++;
        break;
      case 'C':
        if (typeof e.name === 'string' && isObj(e.args) && fin(e.args[COUNTER_ARG])) {
          if (!counters.has(e.name)) counters.set(e.name, []);
          counters.get(e.name)!.push({ t: ts, v: e.args[COUNTER_ARG] });
        }
        break;
    }
  }
  // Tracks: every named thread of the two processes, ordered by the number in its name.
  const tracks = (pid: number, spans: Map<number, Span[]>, prefix: RegExp) => {
    const out: { index: number; name: string; tid: number }[] = [];
    for (const [key, name] of threadName) {
      const [p, t] = key.split('/').map(Number);
      const m = prefix.exec(name);
      if (p === pid && m) out.push({ index: Number(m[1]), name, tid: t });
    }
    for (const tid of spans.keys()) if (!out.some((o) => o.tid === tid)) out.push({ index: tid, name: `thread ${tid}`, tid });
    return out.sort((a, b) => a.index - b.index).map((o) => ({ ...o, spans: (spans.get(o.tid) ?? []).sort((a, b) => a.start - b.start) }));
  };
  const vcpus = tracks(PID.VCPUS, vcpuSpans, /^vCPU (\d+)$/).map((t) => ({ id: t.index, spans: t.spans }));
  const slots = tracks(PID.CPU_SLOTS, slotSpans, /^CPU (\d+)$/);
  for (const series of counters.values()) series.sort((a, b) => a.t - b.t);
  let stats: VcpuStatsRow[] | null = null;
  if (info.vcpuStats) {
    try {
      const parsed = JSON.parse(info.vcpuStats) as unknown;
      if (Array.isArray(parsed)) stats = parsed.filter((r): r is VcpuStatsRow => isObj(r) && fin(r.id) && isObj(r.stats));
    } catch { /* the table is optional */ }
  }
  const endUs = Math.max(Number(info.endUs) || 0, lastT);
  return { info, endUs, vcpus, slots, hotplug, counters, flows, stats };
}

const LEFT = 96, RIGHT = 24, PLOT_W = 1000, WIDTH = LEFT + PLOT_W + RIGHT;

/** Per pixel column, the key that held longest there; runs of equal columns merged. */
function columns(spans: readonly Span[], endUs: number): { c0: number; c1: number; key: string }[] {
  const perCol = new Map<string, Float64Array>();
  const scale = PLOT_W / Math.max(endUs, 1e-9);
  for (const s of spans) {
    let arr = perCol.get(s.key);
    if (!arr) { arr = new Float64Array(PLOT_W); perCol.set(s.key, arr); }
    const x0 = Math.max(0, s.start * scale), x1 = Math.min(PLOT_W, s.end * scale);
    for (let c = Math.floor(x0); c < x1 && c < PLOT_W; c++) arr[c] += Math.min(x1, c + 1) - Math.max(x0, c);
  }
  const keys = [...perCol.keys()];
  const out: { c0: number; c1: number; key: string }[] = [];
  for (let c = 0; c < PLOT_W; c++) {
    let best = '', most = 1e-9;
    for (const k of keys) { const v = perCol.get(k)![c]; if (v > most) { most = v; best = k; } }
    if (!best) continue;
    const last = out[out.length - 1];
    if (last && last.key === best && last.c1 === c) last.c1 = c + 1; else out.push({ c0: c, c1: c + 1, key: best });
  }
  return out;
}

/** The axis unit for a run of `endUs`: seconds from 5 s on, else milliseconds. */
function axisUnit(endUs: number): { div: number; name: string } {
  return endUs >= 5e6 ? { div: 1e6, name: 's' } : { div: 1e3, name: 'ms' };
}

/** "12.5 ms", "1.25 s". */
export function formatTime(us: number): string {
  return us >= 1e6 ? `${+(us / 1e6).toPrecision(4)} s` : `${+(us / 1e3).toPrecision(4)} ms`;
}

function timeAxis(endUs: number, y: number, label: string): string {
  const unit = axisUnit(endUs);
  const end = endUs / unit.div;
  const parts: string[] = [`<line x1="${LEFT}" y1="${y}" x2="${LEFT + PLOT_W}" y2="${y}" class="axis"/>`];
  for (const t of niceTicks(end, 8)) {
    const x = LEFT + (t / Math.max(end, 1e-9)) * PLOT_W;
    if (x > LEFT + PLOT_W + 0.5) continue;
    parts.push(`<line x1="${px(x)}" y1="${y}" x2="${px(x)}" y2="${y + 4}" class="axis"/><text x="${px(x)}" y="${y + 16}" class="tick" text-anchor="middle">${formatCount(t)}</text>`);
  }
  parts.push(`<text x="${LEFT + PLOT_W / 2}" y="${y + 32}" class="label" text-anchor="middle">${esc(label.replace('UNIT', unit.name))}</text>`);
  return parts.join('');
}

function clockLabel(model: TraceModel): string {
  return model.info.clock === 'guest' ? 'guest time (UNIT, deterministic executor)' : 'time since the VM was created (UNIT, wall clock)';
}

/** The vCPU timeline: one row per vCPU (state colours), one per CPU slot (occupant colours), hotplug markers. */
export function renderTimeline(model: TraceModel): string {
  const ROW = 18, GAP = 5, SLOT_ROW = 14, TOP = 10;
  const rows: string[] = [];
  let y = TOP;
  const scale = PLOT_W / Math.max(model.endUs, 1e-9);
  const at = (c: number) => formatTime(c / scale);
  for (const v of model.vcpus) {
    rows.push(`<text x="${LEFT - 8}" y="${y + ROW - 5}" class="rowlabel" text-anchor="end">vCPU ${v.id}</text>`);
    rows.push(`<g class="row vcpu-row" data-vcpu="${v.id}">`);
    for (const r of columns(v.spans, model.endUs)) {
      rows.push(`<rect class="state state-${esc(r.key)}" x="${LEFT + r.c0}" y="${y}" width="${r.c1 - r.c0}" height="${ROW}" fill="${STATE_COLORS[r.key] ?? '#000'}"><title>vCPU ${v.id}: ${esc(r.key)}, ${at(r.c0)} to ${at(r.c1)}</title></rect>`);
    }
    rows.push('</g>');
    y += ROW + GAP;
  }
  const vcpuBottom = y - GAP;
  if (model.slots.length) {
    y += 10;
    rows.push(`<text x="${LEFT - 8}" y="${y - 2}" class="section" text-anchor="end">CPU slots</text>`);
    y += 4;
    for (const s of model.slots) {
      rows.push(`<text x="${LEFT - 8}" y="${y + SLOT_ROW - 3}" class="rowlabel small" text-anchor="end">${esc(s.name)}</text>`);
      rows.push(`<g class="row slot-row" data-slot="${s.index}">`);
      for (const r of columns(s.spans, model.endUs)) {
        const id = Number(/(\d+)$/.exec(r.key)?.[1] ?? 0);
        rows.push(`<rect class="occupant" x="${LEFT + r.c0}" y="${y}" width="${r.c1 - r.c0}" height="${SLOT_ROW}" fill="${VCPU_PALETTE[id % VCPU_PALETTE.length]}"><title>${esc(s.name)}: ${esc(r.key)}, ${at(r.c0)} to ${at(r.c1)}</title></rect>`);
      }
      rows.push('</g>');
      y += SLOT_ROW + 3;
    }
  }
  for (const h of model.hotplug) {
    const x = LEFT + Math.min(PLOT_W, h.t * scale);
    rows.push(`<line class="hotplug" x1="${px(x)}" y1="${TOP - 6}" x2="${px(x)}" y2="${vcpuBottom + 4}"><title>${esc(h.name)} at ${formatTime(h.t)}</title></line>`);
  }
  const axisY = y + 6;
  const height = axisY + 40;
  // Legends: states, and the vCPU colours of the slot rows.
  const legend = [
    ...VCPU_STATES.map((s) => ({ color: STATE_COLORS[s], text: s, cls: 'legend-state' })),
    ...(model.hotplug.length ? [{ color: '#7048e8', text: 'hotplug request', cls: 'legend-hotplug' }] : []),
  ];
  const slotLegend = model.slots.length ? model.vcpus.map((v) => ({ color: VCPU_PALETTE[v.id % VCPU_PALETTE.length], text: `vCPU ${v.id}`, cls: 'legend-vcpu' })) : [];
  const legendSvg = (items: { color: string; text: string; cls: string }[], y0: number) => items.map((it, i) =>
    `<g class="${it.cls}"><rect x="${LEFT + i * 118}" y="${y0}" width="12" height="12" fill="${it.color}"/><text x="${LEFT + i * 118 + 17}" y="${y0 + 10}" class="tick">${esc(it.text)}</text></g>`).join('');
  const legendY = height;
  const total = legendY + 20 + (slotLegend.length ? 20 : 0);
  return `<svg id="timeline" class="plot" xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${total}" viewBox="0 0 ${WIDTH} ${total}" role="img" aria-label="vCPU timeline">
${rows.join('\n')}
${timeAxis(model.endUs, axisY, clockLabel(model))}
${legendSvg(legend, legendY)}
${slotLegend.length ? legendSvg(slotLegend, legendY + 20) : ''}
</svg>`;
}

/** Events of counter `name` per report bin: the counter is a rate per ms, constant until its next sample. */
export function binCounter(series: readonly { t: number; v: number }[], binUs: number, bins: number): number[] {
  const out = new Array<number>(bins).fill(0);
  for (let i = 0; i + 1 < series.length; i++) {
    const a = series[i].t, b = series[i + 1].t, rate = series[i].v;
    if (!(b > a) || rate === 0) continue;
    for (let k = Math.max(0, Math.floor(a / binUs)); k < bins && k * binUs < b; k++) {
      const overlap = Math.min(b, (k + 1) * binUs) - Math.max(a, k * binUs);
      if (overlap > 0) out[k] += rate * (overlap / 1000);
    }
  }
  return out.map((v) => Math.round(v * 1000) / 1000);
}

/** The rates plot: one bar panel per series (exits when sampled, PLE exits, directed yields). */
export function renderRates(model: TraceModel): string {
  const binUs = niceBinUs(model.endUs);
  const bins = Math.max(1, Math.ceil(model.endUs / binUs));
  const series = [
    { name: COUNTER.EXITS, title: 'VM exits', color: '#495057' },
    { name: COUNTER.PLE_EXITS, title: 'pause-loop exits (spins)', color: STATE_COLORS.spinning },
    { name: COUNTER.YIELDS, title: 'directed yields', color: '#1c7ed6' },
  ].filter((s) => model.counters.has(s.name));
  const PANEL = 90, GAP = 34, TOP = 8;
  const parts: string[] = [];
  let y = TOP;
  // Bins share the timeline's scale (the last one may be cut short by the end of the run).
  const scale = PLOT_W / Math.max(model.endUs, 1e-9);
  for (const s of series) {
    const counts = binCounter(model.counters.get(s.name)!, binUs, bins);
    const max = Math.max(...counts, 1);
    const ticks = niceTicks(max, 3);
    const top = ticks[ticks.length - 1];
    const total = counts.reduce((a, b) => a + b, 0);
    parts.push(`<text x="${LEFT}" y="${y + 10}" class="section">${esc(s.title)}: ${formatCount(Math.round(total))} in all, per ${formatTime(binUs)} bin</text>`);
    const y0 = y + 16, h = PANEL;
    parts.push(`<g class="panel" data-series="${esc(s.name)}">`);
    for (const t of ticks) {
      const ty = y0 + h - (t / top) * h;
      parts.push(`<line x1="${LEFT}" y1="${px(ty)}" x2="${LEFT + PLOT_W}" y2="${px(ty)}" class="grid"/><text x="${LEFT - 6}" y="${px(ty + 4)}" class="tick" text-anchor="end">${formatCount(t)}</text>`);
    }
    counts.forEach((c, i) => {
      if (c <= 0) return;
      const bh = (c / top) * h;
      const x = i * binUs * scale, w = Math.min(PLOT_W, (i + 1) * binUs * scale) - x;
      parts.push(`<rect class="bar" x="${px(LEFT + x)}" y="${px(y0 + h - bh)}" width="${px(Math.max(w - 1, 0.5))}" height="${px(bh)}" fill="${s.color}"><title>${formatTime(i * binUs)} to ${formatTime((i + 1) * binUs)}: ${formatCount(Math.round(c))}</title></rect>`);
    });
    parts.push('</g>');
    y = y0 + h + GAP;
  }
  if (series.length === 0) parts.push(`<text x="${LEFT}" y="${y + 14}" class="label">no rate counters in this trace</text>`);
  const axisY = y - GAP + 6;
  const height = axisY + 40;
  return `<svg id="rates" class="plot" xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="exits, spins and yields over time">
${parts.join('\n')}
${timeAxis(model.endUs, axisY, clockLabel(model))}
</svg>`;
}

/** Throughput by overcommit: one panel per workload and executor, bars for off / on / pv at each overcommit. */
export function renderYield(results: YieldResults): string {
  const groups = new Map<string, typeof results.points>();
  for (const p of results.points) {
    const key = `${p.workload} (${p.executor})`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(p);
  }
  const PW = 520, PH = 210, COLS = 2, PAD_L = 70, PAD_T = 28, PAD_B = 44;
  const parts: string[] = [];
  [...groups].forEach(([title, points], gi) => {
    const ox = (gi % COLS) * (PW + 30), oy = Math.floor(gi / COLS) * (PH + PAD_T + PAD_B + 10);
    points.sort((a, b) => a.overcommit - b.overcommit);
    const max = Math.max(1, ...points.flatMap((p) => POLICIES.map((k) => p.throughput[k] ?? 0)));
    const ticks = niceTicks(max, 4);
    const top = ticks[ticks.length - 1];
    const x0 = ox + PAD_L, y0 = oy + PAD_T, w = PW - PAD_L - 10;
    parts.push(`<g class="panel" data-group="${esc(title)}">`);
    parts.push(`<text x="${ox + PAD_L}" y="${oy + 16}" class="section">${esc(title)}</text>`);
    for (const t of ticks) {
      const ty = y0 + PH - (t / top) * PH;
      parts.push(`<line x1="${x0}" y1="${px(ty)}" x2="${x0 + w}" y2="${px(ty)}" class="grid"/><text x="${x0 - 6}" y="${px(ty + 4)}" class="tick" text-anchor="end">${formatCount(t)}</text>`);
    }
    const slot = w / points.length, bw = Math.min(40, (slot - 16) / POLICIES.length);
    points.forEach((p, i) => {
      const cx = x0 + slot * i + slot / 2;
      POLICIES.forEach((k: Policy, j) => {
        const v = p.throughput[k];
        const bx = cx - (bw * POLICIES.length) / 2 + j * bw;
        if (v === null) {
          parts.push(`<text x="${px(bx + bw / 2)}" y="${y0 + PH - 4}" class="tick na" text-anchor="middle">n/a</text>`);
          return;
        }
        const bh = (v / top) * PH;
        parts.push(`<rect class="bar policy-${k}" x="${px(bx)}" y="${px(y0 + PH - bh)}" width="${px(bw - 2)}" height="${px(Math.max(bh, 0))}" fill="${POLICY_COLORS[k]}"><title>${esc(title)}, ${p.overcommit}x (${p.vcpus ?? '?'} vCPUs), directed yield ${k}: ${formatCount(Math.round(v))} ops/s</title></rect>`);
      });
      parts.push(`<text x="${px(cx)}" y="${y0 + PH + 16}" class="tick" text-anchor="middle">${p.overcommit}x${p.vcpus !== null ? ` (${p.vcpus} vCPUs)` : ''}</text>`);
    });
    parts.push(`<line x1="${x0}" y1="${y0 + PH}" x2="${x0 + w}" y2="${y0 + PH}" class="axis"/>`);
    parts.push(`<text x="${x0 + w / 2}" y="${y0 + PH + 34}" class="label" text-anchor="middle">overcommit (vCPUs per CPU slot)</text>`);
    parts.push(`<text x="${ox + 14}" y="${y0 + PH / 2}" class="label" text-anchor="middle" transform="rotate(-90 ${ox + 14} ${y0 + PH / 2})">guest lock ops/s</text>`);
    parts.push('</g>');
  });
  const rowsN = Math.ceil(groups.size / COLS);
  const legendY = rowsN * (PH + PAD_T + PAD_B + 10) + 4;
  POLICIES.forEach((k, i) => parts.push(`<g class="legend-policy"><rect x="${PAD_L + i * 150}" y="${legendY}" width="12" height="12" fill="${POLICY_COLORS[k]}"/><text x="${PAD_L + i * 150 + 17}" y="${legendY + 10}" class="tick">directed yield ${k}</text></g>`));
  const width = COLS * (PW + 30), height = legendY + 24;
  return `<svg id="yield" class="plot" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="throughput by overcommit">
${parts.join('\n')}
</svg>`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[], cls: string): string {
  return `<table class="${cls}"><thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c, i) => `<td${i > 1 ? ' class="num"' : ''}>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

const STAT_COLUMNS: readonly [string, string][] = [
  ['instructions', 'instructions'], ['exits', 'exits'], ['exits_ecall', 'ecall'], ['exits_wfi', 'wfi'], ['pause_loop_exits', 'PLE exits'],
  ['directed_yield_attempted', 'yield tried'], ['directed_yield_successful', 'yield ok'], ['preempted', 'preempted'],
  ['sbi_calls', 'SBI calls'], ['ipi_sent', 'IPIs sent'],
];

export interface ReportOptions {
  /** Shown as the trace's name (the path it was read from). */
  traceName?: string;
  yieldName?: string;
}

/** The whole page. */
export function renderReport(model: TraceModel, yieldResults: YieldResults | null, opts: ReportOptions = {}): string {
  const i = model.info;
  const spanCount = model.vcpus.reduce((a, v) => a + v.spans.length, 0);
  const facts: [string, string][] = [
    ['guest', [i.image, i.bootargs ? `(${i.bootargs})` : ''].filter(Boolean).join(' ') || '-'],
    ['executor', `${i.executor ?? '?'}${i.seed ? `, seed ${i.seed}` : ''}`],
    ['vCPUs / CPU slots', `${i.maxVcpus ?? '?'} possible vCPUs on ${i.pcpus ?? '?'} CPU slots`],
    ['directed yield', i.directedYield ?? '?'],
    ['pause-loop exiting', i.pleGap === '0' ? 'off' : `gap ${i.pleGap ?? '?'}, window ${i.pleWindow ?? '?'}`],
    ['length', `${formatTime(model.endUs)} of ${i.clock === 'guest' ? 'guest' : 'wall-clock'} time`],
    ['outcome', i.outcome ?? '-'],
    ['trace', `${opts.traceName ?? '-'}: ${spanCount} state spans, ${model.flows} directed yields drawn, ${model.hotplug.length} hotplug requests${i.droppedEvents && i.droppedEvents !== '0' ? `, ${i.droppedEvents} events dropped` : ''}`],
  ];
  const statsTable = model.stats && model.stats.length
    ? `<h2>Per-vCPU statistics</h2>
<p class="note">Totals over the run for every vCPU id that existed (a vCPU id created again counts on); state at the end ("gone": destroyed).</p>
${table(['vCPU', 'state', ...STAT_COLUMNS.map(([, h]) => h)], model.stats.map((r) => [String(r.id), r.state, ...STAT_COLUMNS.map(([k]) => formatCount((r.stats as unknown as Record<string, number>)[k] ?? 0))]), 'stats')}`
    : '';
  const yieldSection = yieldResults
    ? `<h2>Directed yield: throughput by overcommit</h2>
<p class="note">${esc(results(yieldResults))}</p>
${renderYield(yieldResults)}`
    : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>hartvisor report${opts.traceName ? ` - ${esc(opts.traceName)}` : ''}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #212529; margin: 24px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 12px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.note { color: #495057; margin: 4px 0 10px; max-width: 1100px; }
table { border-collapse: collapse; margin: 6px 0 10px; } th, td { padding: 3px 10px; border-bottom: 1px solid #dee2e6; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } table.facts th { color: #495057; font-weight: 600; }
svg.plot { display: block; margin: 6px 0 12px; max-width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: #343a40; } svg .section { font-weight: 600; font-size: 12px; }
svg .label { fill: #495057; } svg .rowlabel { font-size: 12px; } svg .small { font-size: 10px; }
svg .axis { stroke: #495057; stroke-width: 1; } svg .grid { stroke: #e9ecef; stroke-width: 1; }
svg .hotplug { stroke: #7048e8; stroke-width: 1.5; stroke-dasharray: 4 3; }
</style>
</head>
<body>
<h1>hartvisor run report</h1>
<table class="facts">${facts.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('')}</table>
<h2>vCPU timeline</h2>
<p class="note">Each vCPU's scheduling state over time (the state that held longest in each pixel column), and which vCPU held each CPU slot. Dashed lines: hotplug requests. Hover for details; open the trace at ui.perfetto.dev to zoom in.</p>
${renderTimeline(model)}
<h2>Exits, spins and yields over time</h2>
${renderRates(model)}
${statsTable}
${yieldSection}
<p class="note">Made by hartvisor report from ${esc(opts.traceName ?? 'a trace')}${opts.yieldName ? ` and ${esc(opts.yieldName)}` : ''}.</p>
</body>
</html>
`;
}

function results(y: YieldResults): string {
  return [y.title, y.date ? `measured ${y.date}` : '', y.host ? `on ${y.host}` : ''].filter(Boolean).join('; ') + '.';
}
