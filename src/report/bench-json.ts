/**
 * Reads the directed-yield experiment out of a benchmark JSON document (`npm run bench -- --only yield --json`,
 * or `hartvisor bench yield --json`; schema `hartvisor-bench/1`): per workload and executor, the lock throughput
 * (guest operations per second) at each overcommit with directed yield off, on and pv.
 */

/** The schema tag of the benchmark harness's JSON documents. */
export const BENCH_SCHEMA = 'hartvisor-bench/1';

export type Policy = 'off' | 'on' | 'pv';
export const POLICIES: readonly Policy[] = ['off', 'on', 'pv'];

/** One measurement: `workload` (ticket, hashtable) on `executor` at `overcommit` vCPUs per CPU slot. */
export interface YieldPoint {
  workload: string;
  executor: string;
  overcommit: number;
  vcpus: number | null;
  /** ops/s per policy; null when not measured (the run failed). */
  throughput: Record<Policy, number | null>;
  ok: boolean;
}

/** The yield experiment's results, grouped as the plot shows them. */
export interface YieldResults {
  title: string;
  date: string | null;
  host: string | null;
  points: YieldPoint[];
}

/** A bench document that cannot be used; the message says why. */
export class BenchFormatError extends Error {
  override readonly name = 'BenchFormatError';
}

const EXECUTOR_NAMES: Readonly<Record<string, string>> = { det: 'deterministic', thr: 'threads' };

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Parses the document text and extracts the yield group. @throws BenchFormatError */
export function parseYieldBench(text: string): YieldResults {
  let doc: unknown;
  try { doc = JSON.parse(text); } catch (e) { throw new BenchFormatError(`not valid JSON: ${(e as Error).message}`); }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new BenchFormatError('not a benchmark document (expected a JSON object)');
  const d = doc as Record<string, unknown>;
  if (d.schema !== BENCH_SCHEMA) throw new BenchFormatError(`not a hartvisor benchmark document (schema ${JSON.stringify(d.schema)}, expected "${BENCH_SCHEMA}")`);
  if (!Array.isArray(d.groups)) throw new BenchFormatError("benchmark document without a 'groups' array");
  const group = d.groups.find((g): g is Record<string, unknown> => typeof g === 'object' && g !== null && (g as { name?: unknown }).name === 'yield');
  if (!group) throw new BenchFormatError("the document has no 'yield' group (make it with 'hartvisor bench yield --json')");
  if (!Array.isArray(group.rows)) throw new BenchFormatError("the yield group has no 'rows' array");
  const points: YieldPoint[] = [];
  for (const r of group.rows) {
    if (typeof r !== 'object' || r === null) continue;
    const row = r as { name?: unknown; ok?: unknown; metrics?: Record<string, { value?: unknown }> };
    const m = typeof row.name === 'string' ? /^([a-z0-9_]+)-([a-z]+)-(\d+)x$/.exec(row.name) : null;
    if (!m || typeof row.metrics !== 'object' || row.metrics === null) throw new BenchFormatError(`yield row ${JSON.stringify(row.name)} is not WORKLOAD-EXECUTOR-Nx with metrics`);
    const metric = (k: string) => num(row.metrics?.[k]?.value);
    points.push({
      workload: m[1],
      executor: EXECUTOR_NAMES[m[2]] ?? m[2],
      overcommit: Number(m[3]),
      vcpus: metric('vcpus'),
      throughput: { off: metric('off'), on: metric('on'), pv: metric('pv') },
      ok: row.ok === true,
    });
  }
  if (points.length === 0) throw new BenchFormatError('the yield group has no rows');
  const host = typeof d.host === 'object' && d.host !== null ? d.host as Record<string, unknown> : null;
  return {
    title: typeof group.title === 'string' ? group.title : 'Directed yield',
    date: typeof d.date === 'string' ? d.date : null,
    host: host ? [host.cpu, host.cores !== undefined ? `${String(host.cores)} cores` : null, host.node].filter((x) => typeof x === 'string' && x).join(', ') || null : null,
    points,
  };
}
