/**
 * The Chrome/Perfetto trace writer (src/report/trace-json.ts) and `hartvisor run --trace`: the document is checked
 * against the trace-event format (Chrome's "Trace Event Format" spec, plus what Perfetto's JSON importer needs)
 * by an independent checker, on synthetic traces and on a real overcommitted, deterministic run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TraceKind } from '../src/host/trace.js';
import type { TraceEvent } from '../src/host/trace.js';
import { PID, buildChromeTrace, cpuSlotTid, serializeChromeTrace, vcpuTid } from '../src/report/trace-json.js';
import type { TraceInfo } from '../src/report/trace-json.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const yieldTicket = resolve(repoRoot, 'guests/images/yield-ticket.bin');
const tmp = mkdtempSync(join(tmpdir(), 'hartvisor-trace-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Ev = Record<string, Json>;

const VCPU_STATES = new Set(['running', 'spinning', 'preempted', 'halted', 'stopped']);
const PHASES = new Set(['X', 'i', 's', 'f', 'M', 'C']);
const METADATA = new Set(['process_name', 'thread_name', 'process_sort_index', 'thread_sort_index']);

/**
 * Checks a trace document strictly; returns the list of problems (empty when it is fine) and some counts.
 * Independent of the writer: it only knows the format.
 */
function checkTrace(text: string): { problems: string[]; counts: Record<string, number>; doc: { traceEvents: Ev[] } } {
  const problems: string[] = [];
  const counts: Record<string, number> = {};
  let doc: unknown;
  try { doc = JSON.parse(text); } catch (e) { return { problems: [`not JSON: ${(e as Error).message}`], counts, doc: { traceEvents: [] } }; }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { problems: ['the document is not a JSON object'], counts, doc: { traceEvents: [] } };
  const top = doc as Record<string, Json>;
  if (!Array.isArray(top.traceEvents)) problems.push('traceEvents is not an array');
  if (top.displayTimeUnit !== 'ms' && top.displayTimeUnit !== 'ns') problems.push(`displayTimeUnit is ${JSON.stringify(top.displayTimeUnit)}`);
  // Perfetto reads displayTimeUnit only near the start of the file.
  if (text.indexOf('"displayTimeUnit"') > 200) problems.push('displayTimeUnit is not at the start of the file');
  if (top.otherData !== undefined) {
    if (typeof top.otherData !== 'object' || top.otherData === null || Array.isArray(top.otherData)) problems.push('otherData is not an object');
    else for (const [k, v] of Object.entries(top.otherData)) if (typeof v !== 'string') problems.push(`otherData.${k} is not a string`);
  }
  const events = (Array.isArray(top.traceEvents) ? top.traceEvents : []) as Ev[];
  const isInt = (v: Json | undefined) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  const hasArray = (v: Json): boolean => Array.isArray(v) || (typeof v === 'object' && v !== null && Object.values(v).some(hasArray));
  const badString = (v: Json): boolean =>
    (typeof v === 'string' && /[^\x20-\x7e]/.test(v)) || (typeof v === 'object' && v !== null && Object.values(v).some(badString));

  const processNames = new Set<number>(), threadNames = new Map<number, number>();
  const used = new Map<string, { pid: number; tid: number }>();
  const byTrack = new Map<string, Ev[]>();
  const starts = new Map<string, Ev>(), finishes = new Map<string, Ev>();
  events.forEach((e, i) => {
    const where = `event ${i} (${JSON.stringify(e).slice(0, 120)})`;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) { problems.push(`${where}: not an object`); return; }
    const ph = e.ph as string;
    counts[ph] = (counts[ph] ?? 0) + 1;
    if (!PHASES.has(ph)) problems.push(`${where}: unexpected ph`);
    if (typeof e.name !== 'string' || e.name === '') problems.push(`${where}: no name`);
    if (!isInt(e.pid) || !isInt(e.tid)) problems.push(`${where}: pid/tid must be non-negative integers`);
    if (typeof e.ts !== 'number' || !Number.isFinite(e.ts) || e.ts < 0) problems.push(`${where}: ts must be a finite non-negative number`);
    if (hasArray(e)) problems.push(`${where}: holds an array (Perfetto's tokenizer refuses those)`);
    if (badString(e)) problems.push(`${where}: a string with non-printable or non-ASCII characters`);
    if (e.args !== undefined && (typeof e.args !== 'object' || e.args === null || Array.isArray(e.args))) problems.push(`${where}: args is not an object`);
    const pid = e.pid as number, tid = e.tid as number;
    const key = `${pid}/${tid}`;
    switch (ph) {
      case 'M': {
        if (!METADATA.has(e.name as string)) problems.push(`${where}: unknown metadata name`);
        const args = (e.args ?? {}) as Record<string, Json>;
        if (e.name === 'process_name') { if (typeof args.name !== 'string' || !args.name) problems.push(`${where}: process_name without args.name`); processNames.add(pid); }
        if (e.name === 'thread_name') { if (typeof args.name !== 'string' || !args.name) problems.push(`${where}: thread_name without args.name`); threadNames.set(tid, pid); }
        if (String(e.name).endsWith('_sort_index') && !Number.isInteger(args.sort_index)) problems.push(`${where}: sort index is not an integer`);
        return;
      }
      case 'X':
        if (typeof e.dur !== 'number' || !Number.isFinite(e.dur) || e.dur < 0) problems.push(`${where}: X needs a finite dur >= 0`);
        break;
      case 'i':
        if (!['g', 'p', 't'].includes(e.s as string)) problems.push(`${where}: instant scope s must be g, p or t`);
        break;
      case 's': case 'f': {
        if (typeof e.id !== 'number' && typeof e.id !== 'string') problems.push(`${where}: flow without id`);
        if (typeof e.cat !== 'string' || !e.cat) problems.push(`${where}: flow without cat`);
        if (ph === 'f' && e.bp !== 'e') problems.push(`${where}: flow finish without bp "e"`);
        const map = ph === 's' ? starts : finishes;
        const id = String(e.id);
        if (map.has(id)) problems.push(`${where}: flow id ${id} used twice for ${ph}`);
        map.set(id, e);
        break;
      }
      case 'C': {
        const args = e.args as Record<string, Json> | undefined;
        if (!args || Object.keys(args).length === 0) problems.push(`${where}: counter without values`);
        else for (const v of Object.values(args)) if (typeof v !== 'number' || !Number.isFinite(v)) problems.push(`${where}: counter value is not a finite number`);
        break;
      }
    }
    used.set(key, { pid, tid });
    if (!byTrack.has(key)) byTrack.set(key, []);
    byTrack.get(key)!.push(e);
  });

  // Metadata names every process and thread in use; a tid belongs to one process (Perfetto files threads by tid).
  for (const { pid, tid } of used.values()) {
    if (!processNames.has(pid)) problems.push(`pid ${pid} has no process_name`);
    if (!threadNames.has(tid)) problems.push(`tid ${tid} (pid ${pid}) has no thread_name`);
    else if (threadNames.get(tid) !== pid) problems.push(`tid ${tid} is named in pid ${threadNames.get(tid)} but used in pid ${pid}`);
    if (processNames.has(tid)) problems.push(`tid ${tid} is also a pid`);
  }
  // Per track: timestamps in file order never go back; complete events nest or are disjoint.
  for (const [key, evs] of byTrack) {
    for (let i = 1; i < evs.length; i++) {
      if ((evs[i].ts as number) < (evs[i - 1].ts as number)) { problems.push(`track ${key}: ts goes back at ${evs[i].ts}`); break; }
    }
    const stack: number[] = [];
    for (const e of [...evs].filter((x) => x.ph === 'X').sort((a, b) => (a.ts as number) - (b.ts as number) || (b.dur as number) - (a.dur as number))) {
      const ts = e.ts as number, end = ts + (e.dur as number);
      while (stack.length && stack[stack.length - 1] <= ts + 1e-9) stack.pop();
      if (stack.length && end > stack[stack.length - 1] + 1e-6) { problems.push(`track ${key}: X at ${ts} overlaps its enclosing span without nesting`); break; }
      stack.push(end);
    }
  }
  // Flows: matched pairs (id, cat, name), forward in time, each end strictly inside a complete event of its track.
  const enclosed = (e: Ev) => (byTrack.get(`${e.pid}/${e.tid}`) ?? []).some((x) => x.ph === 'X' && (x.ts as number) < (e.ts as number) && (e.ts as number) < (x.ts as number) + (x.dur as number));
  for (const [id, s] of starts) {
    const f = finishes.get(id);
    if (!f) { problems.push(`flow ${id} has a start but no finish`); continue; }
    if (f.cat !== s.cat || f.name !== s.name) problems.push(`flow ${id}: start and finish differ in cat or name`);
    if ((f.ts as number) < (s.ts as number)) problems.push(`flow ${id} goes back in time`);
    if (!enclosed(s)) problems.push(`flow ${id}: start is not inside a span of its track`);
    if (!enclosed(f)) problems.push(`flow ${id}: finish is not inside a span of its track`);
  }
  for (const id of finishes.keys()) if (!starts.has(id)) problems.push(`flow ${id} has a finish but no start`);
  return { problems, counts, doc: { traceEvents: events } };
}

const INFO: TraceInfo = { executor: 'deterministic', clock: 'guest', pcpus: 2, maxVcpus: 3, directedYield: 'on' };
const ev = (t: number, vcpu: number, kind: TraceKind, arg: number): TraceEvent => ({ t, vcpu, kind, arg });

test('synthetic trace: states, derived CPU slots, spinning, a directed yield, hotplug and life events', () => {
  const events = [
    ev(0, 0, TraceKind.LIFE, 1), ev(0, 0, TraceKind.RUN, 1),
    ev(10, 1, TraceKind.LIFE, 1), ev(10, 2, TraceKind.LIFE, 1), ev(10, 1, TraceKind.RUN, 1), ev(10, 2, TraceKind.RUN, 3),
    ev(20, 1, TraceKind.HOTPLUG, 1),
    // vCPU 0 spins (window 4096: about 41 us at the nominal 100 MIPS) and yields its slot to vCPU 2.
    ev(100, 0, TraceKind.SPIN, 4096), ev(100, 0, TraceKind.YIELD_TO, 2), ev(100, 0, TraceKind.RUN, 3), ev(100, 2, TraceKind.RUN, 1),
    ev(150, 1, TraceKind.RUN, 2), ev(150, 0, TraceKind.RUN, 1),
    ev(200, 1, TraceKind.RUN, 4), ev(200, 1, TraceKind.RUN, 0), ev(200, 1, TraceKind.LIFE, 0),
  ];
  const doc = buildChromeTrace(events, { ...INFO, endUs: 250 });
  const text = serializeChromeTrace(doc);
  const { problems, counts } = checkTrace(text);
  assert.deepEqual(problems, []);
  assert.equal(counts.s, 1);
  assert.equal(counts.f, 1);
  const x = doc.traceEvents.filter((e) => e.ph === 'X');
  const on = (pid: number, tid: number) => x.filter((e) => e.pid === pid && e.tid === tid).map((e) => `${e.name}@${e.ts}+${e.dur}`);
  assert.deepEqual(on(PID.VCPUS, vcpuTid(0)), ['running@0+59.04', 'spinning@59.04+40.96', 'preempted@100+50', 'running@150+100']);
  assert.deepEqual(on(PID.VCPUS, vcpuTid(1)), ['running@10+140', 'halted@150+50']);
  assert.deepEqual(on(PID.VCPUS, vcpuTid(2)), ['preempted@10+90', 'running@100+150']);
  // Slots derived from the running spans, lowest free slot first.
  assert.deepEqual(on(PID.CPU_SLOTS, cpuSlotTid(0)), ['vCPU 0@0+100', 'vCPU 2@100+150']);
  assert.deepEqual(on(PID.CPU_SLOTS, cpuSlotTid(1)), ['vCPU 1@10+140', 'vCPU 0@150+100']);
  const flow = doc.traceEvents.filter((e) => e.ph === 's' || e.ph === 'f');
  assert.deepEqual(flow.map((e) => [e.ph, e.tid]), [['s', vcpuTid(0)], ['f', vcpuTid(2)]]);
  assert.ok(doc.traceEvents.some((e) => e.ph === 'i' && e.s === 'g' && e.name === 'hotplug: add vCPU 1'));
  assert.ok(doc.traceEvents.some((e) => e.ph === 'i' && e.s === 't' && e.name === 'vCPU 1 destroyed' && e.tid === vcpuTid(1)));
});

test('synthetic trace: CPU events of the threaded executor, a grant seen before the release, odd input', () => {
  const events = [
    ev(5, 0, TraceKind.RUN, 3), ev(6, 0, TraceKind.CPU, 0), ev(6, 0, TraceKind.RUN, 1),
    ev(7, 1, TraceKind.RUN, 3),
    ev(50, 0, TraceKind.SPIN, 4096), ev(52, 0, TraceKind.YIELD_TO, 1),
    // The receiver records its slot before the giver records the release.
    ev(53, 1, TraceKind.CPU, 0), ev(53, 1, TraceKind.RUN, 1), ev(54, 0, TraceKind.CPU, -1), ev(54, 0, TraceKind.RUN, 3),
    ev(Number.NaN, 0, TraceKind.RUN, 1), ev(60, 2, 99 as TraceKind, 0), ev(70, 2, TraceKind.RUN, 7),
  ];
  const doc = buildChromeTrace(events, { ...INFO, executor: 'threads', clock: 'wall' });
  const { problems } = checkTrace(serializeChromeTrace(doc));
  assert.deepEqual(problems, []);
  const slot0 = doc.traceEvents.filter((e) => e.ph === 'X' && e.tid === cpuSlotTid(0)).map((e) => `${e.name}@${e.ts}+${e.dur}`);
  assert.deepEqual(slot0, ['vCPU 0@6+47', 'vCPU 1@53+17']);
  assert.equal(doc.traceEvents.filter((e) => e.ph === 's').length, 1);
});

test('an empty trace is still a valid document', () => {
  const { problems } = checkTrace(serializeChromeTrace(buildChromeTrace([], INFO)));
  assert.deepEqual(problems, []);
});

test('hartvisor run --trace: 4 vCPUs on 2 CPU slots (deterministic), the JSON passes the strict format check', () => {
  const out = join(tmp, 'yield.json');
  const r = spawnSync(process.execPath, [cli, 'run', yieldTicket, '--vcpus', '4', '--pcpus', '2', '--executor', 'deterministic', '--seed', '3',
    '--append', 'yield.ticks=2000000', '--trace', out], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /yield: check OK/);
  assert.match(r.stderr, new RegExp(`trace written to ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const text = readFileSync(out, 'utf8');
  const { problems, counts, doc } = checkTrace(text);
  assert.deepEqual(problems.slice(0, 10), []);
  // A run with contention: every kind of event is there.
  assert.ok(counts.X > 1000, `X events: ${counts.X}`);
  assert.ok(counts.s > 100 && counts.s === counts.f, `flows: ${counts.s}/${counts.f}`);
  assert.ok(counts.i >= 7, `instants (vCPU life): ${counts.i}`);
  assert.ok(counts.C > 10, `counters: ${counts.C}`);
  const names = (pid: number) => new Set(doc.traceEvents.filter((e) => e.ph === 'X' && e.pid === pid).map((e) => e.name as string));
  for (const n of names(PID.VCPUS)) assert.ok(VCPU_STATES.has(n), `vCPU span name ${n}`);
  assert.ok(names(PID.VCPUS).has('spinning') && names(PID.VCPUS).has('preempted') && names(PID.VCPUS).has('running'));
  for (const n of names(PID.CPU_SLOTS)) assert.match(n, /^vCPU [0-3]$/);
  const tids = (pid: number) => new Set(doc.traceEvents.filter((e) => e.ph === 'X' && e.pid === pid).map((e) => e.tid));
  assert.equal(tids(PID.CPU_SLOTS).size, 2);
  assert.equal(tids(PID.VCPUS).size, 4);
  // Two slots: never more than two vCPUs on a CPU at once.
  const onCpu = doc.traceEvents.filter((e) => e.ph === 'X' && e.pid === PID.CPU_SLOTS)
    .flatMap((e) => [[Math.round((e.ts as number) * 1000), 1], [Math.round(((e.ts as number) + (e.dur as number)) * 1000), -1]] as [number, number][])
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let n = 0, most = 0;
  for (const [, d] of onCpu) { n += d; most = Math.max(most, n); }
  assert.equal(most, 2);

  // Deterministic: the same seed gives the same trace.
  const out2 = join(tmp, 'yield2.json');
  const r2 = spawnSync(process.execPath, [cli, 'run', yieldTicket, '--vcpus', '4', '--pcpus', '2', '--executor', 'deterministic', '--seed', '3',
    '--append', 'yield.ticks=2000000', '--trace', out2], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r2.status, 0, r2.stderr);
  // Exit rates come from statistics sampled on the wall clock; everything else is the same.
  const lines = (t: string) => t.split('\n').filter((l) => l.startsWith('{"name"') && !l.startsWith('{"name":"exits","ph":"C"')).join('\n');
  const a = lines(text), b = lines(readFileSync(out2, 'utf8'));
  assert.ok(a.length > 100_000 && a === b, 'the same seed gives the same trace events');
});

test('hartvisor run --trace with the threaded executor (CPU events from racing threads) passes the format check', () => {
  const out = join(tmp, 'threads.json');
  const r = spawnSync(process.execPath, [cli, 'run', yieldTicket, '--vcpus', '4', '--pcpus', '2', '--directed-yield', 'pv',
    '--append', 'yield.ticks=2000000 yield.lock=pv', '--trace', out], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const { problems, counts } = checkTrace(readFileSync(out, 'utf8'));
  assert.deepEqual(problems.slice(0, 10), []);
  assert.ok(counts.X > 10, `X events: ${counts.X}`);
});

test('synthetic trace: a vCPU scheduled in and yielding at the same instant holds no CPU slot', () => {
  const events = [
    ev(0, 0, TraceKind.RUN, 1), ev(0, 1, TraceKind.RUN, 1), ev(0, 2, TraceKind.RUN, 3),
    // At 50: vCPU 0 yields to vCPU 2, which yields straight back to vCPU 0 (both at the same instant).
    ev(50, 0, TraceKind.SPIN, 4096), ev(50, 0, TraceKind.YIELD_TO, 2), ev(50, 0, TraceKind.RUN, 3), ev(50, 2, TraceKind.RUN, 1),
    ev(50, 2, TraceKind.SPIN, 4096), ev(50, 2, TraceKind.YIELD_TO, 0), ev(50, 2, TraceKind.RUN, 3), ev(50, 0, TraceKind.RUN, 1),
    ev(80, 1, TraceKind.RUN, 2), ev(80, 2, TraceKind.RUN, 1),
  ];
  const doc = buildChromeTrace(events, { ...INFO, endUs: 100 });
  assert.deepEqual(checkTrace(serializeChromeTrace(doc)).problems, []);
  const slots = new Set(doc.traceEvents.filter((e) => e.ph === 'X' && e.pid === PID.CPU_SLOTS).map((e) => e.tid));
  assert.deepEqual([...slots].sort(), [cpuSlotTid(0), cpuSlotTid(1)]);
});
