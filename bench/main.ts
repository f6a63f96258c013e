/**
 * hartvisor's benchmark harness: `npm run bench [-- OPTIONS]` (node dist/bench/main.js).
 *
 * Runs benchmark groups (see `GROUPS`) and prints one plain table per group on stdout, or with --json one JSON
 * document and nothing else. Progress and failures go to stderr. Exit status: 0 when every row is ok, 1 when any
 * benchmark failed (e.g. a guest exited with a non-zero code), 2 for a usage error.
 *
 * To add a group, write a `BenchGroup` (types.ts) in its own file and append it to `GROUPS`.
 */
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bareMetalGroup } from './bare-metal.js';
import { lifecycleGroup } from './lifecycle.js';
import { linuxBootGroup } from './linux.js';
import { yieldGroup } from './yield.js';
import { hotplugGroup } from './hotplug.js';
import { findOnPath, qemuVersion, QEMU_RISCV32 } from './qemu.js';
import type { BenchContext, BenchGroup, Row } from './types.js';

/** Every benchmark group, in run order. */
const GROUPS: readonly BenchGroup[] = [bareMetalGroup, linuxBootGroup, lifecycleGroup, hotplugGroup, yieldGroup];

/** JSON document format; bump on incompatible changes. */
const SCHEMA = 'hartvisor-bench/1';
const DEFAULT_TIMEOUT_SEC = 600;

const USAGE = `usage: npm run bench -- [options]
  --json            print one JSON document on stdout instead of tables
  --only NAME       run only group NAME, or only row ROW of it with NAME/ROW (repeatable, or comma-separated)
  --list            list the groups and exit
  --no-qemu         do not run the QEMU reference even when qemu-system-riscv32 is on PATH
  --repeat N        run each measurement N times and keep the fastest (default 1)
  --timeout SEC     wall-clock limit of one run (default ${DEFAULT_TIMEOUT_SEC})
  --images DIR      directory of the guest images (default guests/images of the repository)
  -h, --help        this text
exit status: 0 all ok, 1 a benchmark failed, 2 usage error`;

interface Options {
  json: boolean;
  only: string[];
  list: boolean;
  qemu: boolean;
  repeat: number;
  timeoutSec: number;
  imagesDir: string | null;
}

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): Options | 'help' {
  const o: Options = { json: false, only: [], list: false, qemu: true, repeat: 1, timeoutSec: DEFAULT_TIMEOUT_SEC, imagesDir: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      return v;
    };
    const positive = (v: string, integer: boolean): number => {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
        throw new UsageError(`${name} needs a positive ${integer ? 'whole ' : ''}number, got '${v}'`);
      }
      return n;
    };
    switch (name) {
      case '--json': o.json = true; break;
      case '--only': o.only.push(...value().split(',').map((s) => s.trim()).filter((s) => s !== '')); break;
      case '--list': o.list = true; break;
      case '--no-qemu': o.qemu = false; break;
      case '--repeat': o.repeat = positive(value(), true); break;
      case '--timeout': o.timeoutSec = positive(value(), false); break;
      case '--images': o.imagesDir = resolve(value()); break;
      case '-h': case '--help': return 'help';
      default: throw new UsageError(`unknown argument '${arg}'`);
    }
  }
  return o;
}

/** guests/images of the repository this file belongs to (dist/bench/main.js -> ../../), else of the cwd. */
function defaultImagesDir(): string {
  const fromModule = fileURLToPath(new URL('../../guests/images/', import.meta.url));
  return existsSync(fromModule) ? fromModule : resolve('guests/images');
}

/** Which groups, and which rows of them, `--only` selects (all when empty). */
function selection(only: readonly string[]): Map<BenchGroup, Set<string> | 'all'> {
  const sel = new Map<BenchGroup, Set<string> | 'all'>();
  if (only.length === 0) {
    for (const g of GROUPS) sel.set(g, 'all');
    return sel;
  }
  for (const item of only) {
    const slash = item.indexOf('/');
    const groupName = slash < 0 ? item : item.slice(0, slash);
    const group = GROUPS.find((g) => g.name === groupName);
    if (group === undefined) throw new UsageError(`no benchmark group '${groupName}' (groups: ${GROUPS.map((g) => g.name).join(', ')})`);
    const row = item.slice(slash + 1);
    if (slash >= 0 && group.rows !== undefined && !group.rows.includes(row)) {
      throw new UsageError(`no row '${row}' in group ${group.name} (rows: ${group.rows.join(', ')})`);
    }
    const prev = sel.get(group);
    if (slash < 0) sel.set(group, 'all');
    else if (prev !== 'all') sel.set(group, new Set([...(prev ?? []), row]));
  }
  // Keep the run order of GROUPS.
  return new Map(GROUPS.filter((g) => sel.has(g)).map((g) => [g, sel.get(g)!]));
}

interface GroupResult {
  name: string;
  title: string;
  ok: boolean;
  rows: Row[];
  notes: string[];
  /** Set when the group itself threw. */
  error?: string;
}

function formatNumber(value: number | null, decimals: number): string {
  if (value === null) return '-';
  return value.toFixed(decimals);
}

/** A plain text table: the first column left-aligned, the others right-aligned. */
function table(header: readonly string[], body: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

function renderGroup(g: GroupResult): string {
  const out: string[] = [`== ${g.name}: ${g.title}`];
  if (g.error !== undefined) out.push(`FAILED: ${g.error}`);
  if (g.rows.length > 0) {
    const keys: string[] = [];
    const labels = new Map<string, string>();
    for (const r of g.rows) {
      for (const [k, m] of Object.entries(r.metrics)) {
        if (!labels.has(k)) {
          keys.push(k);
          labels.set(k, m.label);
        }
      }
    }
    const header = ['name', 'status', ...keys.map((k) => labels.get(k)!)];
    const body = g.rows.map((r) => [
      r.name,
      r.ok ? 'ok' : 'FAILED',
      ...keys.map((k) => {
        const m = r.metrics[k];
        return m === undefined ? '' : formatNumber(m.value, m.decimals);
      }),
    ]);
    out.push(table(header, body));
    for (const r of g.rows) for (const e of r.errors) out.push(`FAILED ${r.name}: ${e}`);
  } else if (g.error === undefined) {
    out.push('(no rows selected)');
  }
  for (const n of g.notes) out.push(`note: ${n}`);
  return out.join('\n');
}

function jsonDocument(results: readonly GroupResult[], qemuPath: string | null, ok: boolean): unknown {
  const cpu = cpus();
  return {
    schema: SCHEMA,
    ok,
    date: new Date().toISOString(),
    host: {
      node: process.version,
      nodeFlags: process.execArgv,
      platform: process.platform,
      arch: process.arch,
      cpu: cpu[0]?.model ?? null,
      cores: cpu.length,
      qemu: qemuPath === null ? null : { path: qemuPath, version: qemuVersion(qemuPath) },
    },
    groups: results.map((g) => ({
      name: g.name,
      title: g.title,
      ok: g.ok,
      ...(g.error !== undefined ? { error: g.error } : {}),
      notes: g.notes,
      rows: g.rows.map((r) => ({
        name: r.name,
        ok: r.ok,
        errors: r.errors,
        metrics: Object.fromEntries(Object.entries(r.metrics).map(([k, m]) => [k, { value: m.value, unit: m.unit }])),
      })),
    })),
  };
}

async function main(argv: readonly string[]): Promise<number> {
  let opts: Options | 'help';
  let sel: Map<BenchGroup, Set<string> | 'all'>;
  try {
    opts = parseArgs(argv);
    if (opts === 'help') {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    sel = selection(opts.only);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`bench: ${e.message}\n${USAGE}\n`);
    return 2;
  }

  if (opts.list) {
    for (const g of GROUPS) process.stdout.write(`${g.name.padEnd(14)} ${g.title}\n`);
    return 0;
  }

  const qemu = opts.qemu ? findOnPath(QEMU_RISCV32) : null;
  const imagesDir = opts.imagesDir ?? defaultImagesDir();
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
  const results: GroupResult[] = [];

  for (const [group, rows] of sel) {
    const result: GroupResult = { name: group.name, title: group.title, ok: true, rows: [], notes: [] };
    const ctx: BenchContext = {
      timeoutSec: opts.timeoutSec,
      repeat: opts.repeat,
      qemu,
      imagesDir,
      wants: (row) => rows === 'all' || rows.has(row),
      log,
      note: (line) => result.notes.push(line),
    };
    try {
      result.rows = await group.run(ctx);
    } catch (e) {
      result.error = e instanceof Error ? (e.stack ?? e.message) : String(e);
    }
    if (rows !== 'all') {
      const missing = [...rows].filter((r) => !result.rows.some((x) => x.name === r));
      if (missing.length > 0) result.error = `no row ${missing.map((m) => `'${m}'`).join(', ')} in group ${group.name}`;
    }
    result.ok = result.error === undefined && result.rows.every((r) => r.ok);
    results.push(result);
    if (!opts.json) process.stdout.write(renderGroup(result) + '\n\n');
  }

  const ok = results.every((g) => g.ok);
  if (opts.json) process.stdout.write(JSON.stringify(jsonDocument(results, qemu, ok), null, 2) + '\n');

  // Loudly, on stderr, whatever the output format.
  for (const g of results) {
    if (g.error !== undefined) process.stderr.write(`*** BENCH FAILED: ${g.name}: ${g.error.split('\n')[0]}\n`);
    for (const r of g.rows) for (const e of r.errors) process.stderr.write(`*** BENCH FAILED: ${g.name}/${r.name}: ${e}\n`);
  }
  if (!ok) process.stderr.write('*** bench: some benchmarks FAILED (see above); exit status 1\n');
  return ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bench: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  },
);
