/**
 * `hartvisor bench` (the benchmark harness's groups, run in the CLI's process) and the progress line of long
 * commands: one line redrawn in place when stderr is a terminal, plain lines (bench) or nothing (conformance)
 * otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Io } from '../src/cli/command.js';
import { runConformance } from '../src/cli/conformance/runner.js';
import { ExitCode } from '../src/cli/exit-codes.js';
import { Progress } from '../src/cli/progress.js';
import { parseYieldBench } from '../src/report/bench-json.js';
import { printAndExitGuest } from './support/rv32-guest.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'hartvisor-cli-bench-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const ERASE = '\r\x1b[2K';

function hv(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, HARTVISOR_DEBUG: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** An Io that records what is written, with stderr as a terminal or not. */
function recorder(errIsTty: boolean): Io & { outText: string; errText: string; order: string[] } {
  const io = {
    outText: '', errText: '', order: [] as string[], errIsTty,
    out(t: string) { io.outText += t; io.order.push(`out:${t}`); },
    err(t: string) { io.errText += t; io.order.push(`err:${t}`); },
  };
  return io;
}

test('bench --list, and bad groups, rows and values', () => {
  const list = hv('bench', '--list');
  assert.equal(list.status, 0, list.stderr);
  for (const g of ['bare-metal', 'linux', 'lifecycle', 'hotplug', 'yield']) assert.match(list.stdout, new RegExp(`^${g} `, 'm'));
  assert.match(list.stdout, /rows: ticket-det-1x, /);
  const one = (r: ReturnType<typeof hv>, pattern: RegExp) => {
    assert.equal(r.status, ExitCode.USAGE, r.stderr);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  };
  one(hv('bench', 'frobnicate'), /^hartvisor: error: no benchmark group 'frobnicate' \(groups: bare-metal, linux, lifecycle, hotplug, yield\)/);
  one(hv('bench', 'yield/nope'), /no row 'nope' in group yield/);
  one(hv('bench', '--repeat', '0'), /--repeat: expected a whole number/);
  one(hv('bench', '--timeout', 'soon'), /--timeout/);
  one(hv('bench', '--frob'), /unknown option '--frob'/);
});

test('bench yield/ticket-det-1x --json: the harness document, plain progress lines, and report --yield reads it', () => {
  const r = hv('bench', 'yield/ticket-det-1x', '--json', '--no-qemu');
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { schema: string; ok: boolean; groups: { name: string; rows: { name: string; ok: boolean }[] }[] };
  assert.equal(doc.schema, 'hartvisor-bench/1');
  assert.equal(doc.ok, true);
  assert.deepEqual(doc.groups.map((g) => [g.name, g.rows.map((x) => x.name)]), [['yield', ['ticket-det-1x']]]);
  assert.deepEqual(r.stderr.split('\n').filter(Boolean), [
    'hartvisor: bench: [1/1] yield',
    'hartvisor: bench: [1/1] yield: ticket-det-1x: off',
    'hartvisor: bench: [1/1] yield: ticket-det-1x: on',
    'hartvisor: bench: [1/1] yield: ticket-det-1x: pv',
  ]);
  const y = parseYieldBench(r.stdout);
  assert.equal(y.points.length, 1);
  assert.ok(y.points[0].throughput.off! > 0 && y.points[0].throughput.on! > 0 && y.points[0].throughput.pv! > 0);

  const bench = join(tmp, 'yield.json');
  writeFileSync(bench, r.stdout);
  const trace = join(tmp, 'trace.json');
  writeFileSync(trace, JSON.stringify({ displayTimeUnit: 'ms', otherData: { schema: 'hartvisor-trace/1' }, traceEvents: [] }));
  const rep = hv('report', trace, '--yield', bench, '-o', join(tmp, 'r.html'));
  assert.equal(rep.status, 0, rep.stderr);

  // Tables without --json.
  const t = hv('bench', 'yield/ticket-det-1x', '--no-qemu');
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /^== yield: Directed yield/);
  assert.match(t.stdout, /\nticket-det-1x +ok +2 +\d+/);
});

test('Progress: on a terminal one line is redrawn, and erased around other output; elsewhere plain lines or nothing', () => {
  const tty = recorder(true);
  const p = new Progress(tty, true, true);
  p.step('bench: one');
  p.step('bench: two');
  p.out('a table\n');
  p.end();
  assert.deepEqual(tty.order, [
    `err:${ERASE}bench: one`, `err:${ERASE}bench: two`, `err:${ERASE}`, 'out:a table\n',
  ]);
  const plain = recorder(false);
  const q = new Progress(plain, false, true);
  q.step('bench: one');
  q.out('a table\n');
  q.end();
  assert.deepEqual(plain.order, ['err:hartvisor: bench: one\n', 'out:a table\n']);
  const quiet = recorder(false);
  const z = new Progress(quiet, false, false);
  z.step('x');
  z.end();
  assert.deepEqual(quiet.order, []);
});

test('conformance: a progress line on a terminal, untouched result lines; nothing on stderr elsewhere', async () => {
  const dir = mkdtempSync(join(tmp, 'suite-'));
  writeFileSync(join(dir, 'a-pass'), printAndExitGuest('', 0));
  writeFileSync(join(dir, 'b-fail'), printAndExitGuest('', 3));
  const tty = recorder(true);
  const s = await runConformance(dir, {}, tty);
  assert.deepEqual([s.passed, s.failed], [1, 1]);
  assert.equal(tty.outText, 'a-pass PASS\nb-fail FAIL (exit code 3)\n1 passed, 1 failed\n');
  assert.ok(tty.errText.startsWith(`${ERASE}conformance: [1/2] a-pass, 0 passed, 0 failed so far`), JSON.stringify(tty.errText));
  assert.match(tty.errText, /conformance: \[2\/2\] b-fail, 1 passed, 0 failed so far/);
  assert.ok(tty.errText.endsWith(ERASE), 'the line is erased before the closing count');
  // Every stdout line is written on an erased line.
  for (const [i, o] of tty.order.entries()) {
    if (o.startsWith('out:') && i > 0) assert.ok(tty.order[i - 1] === `err:${ERASE}` || tty.order[i - 1].startsWith('out:'), tty.order[i - 1]);
  }
  const plain = recorder(false);
  await runConformance(dir, {}, plain);
  assert.equal(plain.errText, '');
  assert.equal(plain.outText, tty.outText);
});
