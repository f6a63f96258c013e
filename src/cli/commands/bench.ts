/**
 * `hartvisor bench [GROUP[/ROW]...] [--json]`: runs groups of the benchmark harness (bench/, compiled beside this
 * file in dist/bench) in this process. `hartvisor bench yield` is the directed-yield experiment; its `--json`
 * output is what `hartvisor report --yield` plots.
 *
 * The groups are loaded when the command runs (bench/ pulls in every guest runner, which other commands do not
 * need). The tables and the JSON document are those of `npm run bench` (bench/main.ts, schema hartvisor-bench/1);
 * progress goes to stderr: one line redrawn in place on a terminal, plain `hartvisor: bench: ...` lines otherwise.
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { BenchContext, BenchGroup, Row } from '../../../bench/types.js';
import { BENCH_SCHEMA } from '../../report/bench-json.js';
import { parseCommandLine, parseTimeoutSec } from '../args.js';
import type { Command, Io } from '../command.js';
import { InputError, UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { repoRoot } from '../paths.js';
import { Progress } from '../progress.js';

/** The harness's groups, in run order (as bench/main.ts runs them). */
async function loadGroups(): Promise<BenchGroup[]> {
  const [bare, linux, lifecycle, hotplug, yieldMod] = await Promise.all([
    import('../../../bench/bare-metal.js'), import('../../../bench/linux.js'), import('../../../bench/lifecycle.js'),
    import('../../../bench/hotplug.js'), import('../../../bench/yield.js'),
  ]);
  return [bare.bareMetalGroup, linux.linuxBootGroup, lifecycle.lifecycleGroup, hotplug.hotplugGroup, yieldMod.yieldGroup];
}

const OPTIONS = {
  json: { type: 'boolean' },
  list: { type: 'boolean' },
  'no-qemu': { type: 'boolean' },
  repeat: { type: 'string' },
  timeout: { type: 'string' },
} as const;

const DEFAULT_TIMEOUT_SEC = 600;

const HELP = `Usage: hartvisor bench [GROUP[/ROW]...] [--json] [--list] [--repeat N] [--timeout SECONDS] [--no-qemu]

Runs benchmark groups (all of them when none is named; GROUP/ROW runs one row)
and prints one table per group on stdout, or with --json one JSON document
(schema ${BENCH_SCHEMA}) and nothing else. Progress goes to stderr: one line
redrawn in place on a terminal, plain lines otherwise.

'hartvisor bench yield' is the directed-yield experiment: lock throughput of the
yield-ticket and yield-hashtable guests at 1x, 2x and 4x overcommit, directed
yield off / on / pv, deterministic and threaded executors (a few minutes).
'hartvisor bench yield --json > yield.json' makes the input of
'hartvisor report TRACE --yield yield.json'.

Exit status: 0 every benchmark ran correctly; 101 some benchmark failed (each
failure is also printed on stderr); 103 bad command line (an unknown group).

Options:
  --json               print one JSON document on stdout instead of tables
  --list               list the groups and their rows, and exit
  --repeat N           run each measurement N times and keep the fastest (default 1)
  --timeout SECONDS    wall-clock limit of one run (default ${DEFAULT_TIMEOUT_SEC})
  --no-qemu            do not run the QEMU reference even when qemu-system-riscv32 is on PATH
  -h, --help           show this help
`;

interface GroupResult { group: BenchGroup; ok: boolean; rows: Row[]; notes: string[]; error?: string }

/** Which groups, and rows of them, the arguments select. @throws UsageError */
function select(groups: readonly BenchGroup[], names: readonly string[]): Map<BenchGroup, Set<string> | 'all'> {
  if (names.length === 0) return new Map(groups.map((g) => [g, 'all']));
  const sel = new Map<BenchGroup, Set<string> | 'all'>();
  for (const item of names.flatMap((n) => n.split(',')).map((n) => n.trim()).filter(Boolean)) {
    const slash = item.indexOf('/');
    const name = slash < 0 ? item : item.slice(0, slash);
    const group = groups.find((g) => g.name === name);
    if (!group) throw new UsageError(`no benchmark group '${name}' (groups: ${groups.map((g) => g.name).join(', ')})`);
    const prev = sel.get(group);
    if (slash < 0) { sel.set(group, 'all'); continue; }
    const row = item.slice(slash + 1);
    if (group.rows && !group.rows.includes(row)) throw new UsageError(`no row '${row}' in group ${group.name} (rows: ${group.rows.join(', ')})`);
    if (prev !== 'all') sel.set(group, new Set([...(prev ?? []), row]));
  }
  return new Map(groups.filter((g) => sel.has(g)).map((g) => [g, sel.get(g)!]));
}

/** A plain text table: first column left-aligned, the others right-aligned. */
function table(header: readonly string[], body: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function renderGroup(g: GroupResult): string {
  const out = [`== ${g.group.name}: ${g.group.title}`];
  if (g.error !== undefined) out.push(`FAILED: ${g.error}`);
  if (g.rows.length > 0) {
    const keys: string[] = [], labels = new Map<string, string>();
    for (const r of g.rows) for (const [k, m] of Object.entries(r.metrics)) if (!labels.has(k)) { keys.push(k); labels.set(k, m.label); }
    out.push(table(['name', 'status', ...keys.map((k) => labels.get(k)!)], g.rows.map((r) => [
      r.name, r.ok ? 'ok' : 'FAILED', ...keys.map((k) => { const m = r.metrics[k]; return m === undefined ? '' : m.value === null ? '-' : m.value.toFixed(m.decimals); }),
    ])));
    for (const r of g.rows) for (const e of r.errors) out.push(`FAILED ${r.name}: ${e}`);
  } else if (g.error === undefined) {
    out.push('(no rows)');
  }
  for (const n of g.notes) out.push(`note: ${n}`);
  return out.join('\n');
}

function jsonDocument(results: readonly GroupResult[], qemu: string | null, qemuVersion: string | null, ok: boolean): unknown {
  const cpu = cpus();
  return {
    schema: BENCH_SCHEMA,
    ok,
    date: new Date().toISOString(),
    host: {
      node: process.version, platform: process.platform, arch: process.arch, cpu: cpu[0]?.model ?? null, cores: cpu.length,
      qemu: qemu === null ? null : { path: qemu, version: qemuVersion },
    },
    groups: results.map((g) => ({
      name: g.group.name, title: g.group.title, ok: g.ok, ...(g.error !== undefined ? { error: g.error } : {}), notes: g.notes,
      rows: g.rows.map((r) => ({
        name: r.name, ok: r.ok, errors: r.errors,
        metrics: Object.fromEntries(Object.entries(r.metrics).map(([k, m]) => [k, { value: m.value, unit: m.unit }])),
      })),
    })),
  };
}

function positiveInt(option: string, value: string): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= 1000)) throw new UsageError(`${option}: expected a whole number from 1 to 1000, got '${value}'`);
  return n;
}

async function runBench(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandLine('bench', args, OPTIONS);
  if (values.help) { io.out(HELP); return ExitCode.OK; }
  const repeat = values.repeat === undefined ? 1 : positiveInt('--repeat', values.repeat);
  const timeoutSec = values.timeout === undefined ? DEFAULT_TIMEOUT_SEC : parseTimeoutSec(values.timeout);
  const root = repoRoot();
  if (!root) throw new InputError('cannot find the hartvisor checkout (its guests/images) from this installation');
  const groups = await loadGroups();
  if (values.list) {
    for (const g of groups) io.out(`${g.name.padEnd(12)} ${g.title}${g.rows ? `\n${' '.repeat(13)}rows: ${g.rows.join(', ')}` : ''}\n`);
    return ExitCode.OK;
  }
  const sel = select(groups, positionals);
  const { findOnPath, qemuVersion, QEMU_RISCV32 } = await import('../../../bench/qemu.js');
  const qemu = values['no-qemu'] ? null : findOnPath(QEMU_RISCV32);
  const progress = Progress.for(io, true);
  const results: GroupResult[] = [];
  try {
    let n = 0;
    for (const [group, rows] of sel) {
      n++;
      const result: GroupResult = { group, ok: true, rows: [], notes: [] };
      const tag = `bench: [${n}/${sel.size}] ${group.name}`;
      progress.step(tag);
      const ctx: BenchContext = {
        timeoutSec, repeat, qemu, imagesDir: join(root, 'guests/images'),
        wants: (row) => rows === 'all' || rows.has(row),
        log: (line) => progress.step(`${tag}: ${line}`),
        note: (line) => result.notes.push(line),
      };
      try {
        result.rows = await group.run(ctx);
      } catch (err) {
        result.error = err instanceof Error ? err.message : String(err);
      }
      if (rows !== 'all') {
        const missing = [...rows].filter((r) => !result.rows.some((x) => x.name === r));
        if (missing.length) result.error = `no row ${missing.map((m) => `'${m}'`).join(', ')} in group ${group.name}`;
      }
      result.ok = result.error === undefined && result.rows.every((r) => r.ok);
      results.push(result);
      if (!values.json) progress.out(`${renderGroup(result)}\n\n`);
    }
  } finally {
    progress.end();
  }
  const ok = results.every((g) => g.ok);
  if (values.json) io.out(`${JSON.stringify(jsonDocument(results, qemu, qemu ? qemuVersion(qemu) : null, ok), null, 2)}\n`);
  for (const g of results) {
    if (g.error !== undefined) io.err(`hartvisor: bench FAILED: ${g.group.name}: ${g.error.split('\n')[0]}\n`);
    for (const r of g.rows) for (const e of r.errors) io.err(`hartvisor: bench FAILED: ${g.group.name}/${r.name}: ${e}\n`);
  }
  return ok ? ExitCode.OK : ExitCode.TESTS_FAILED;
}

export const benchCommand: Command = {
  name: 'bench',
  summary: 'run benchmark groups (bench/): bare-metal speed, Linux boot, hotplug latency, directed yield',
  help: HELP,
  run: runBench,
};
