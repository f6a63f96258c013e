/**
 * `hartvisor demo` (the README's main command), shortened with --ops: the console, the hotplug steps, the
 * statistics table, and a trace and a report written where --out-dir says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode } from '../src/cli/exit-codes.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'hartvisor-cli-demo-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function hv(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, HARTVISOR_DEBUG: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('demo --ops: a shorter tour; the steps after its end are reported as not carried out (status 101)', () => {
  const r = hv('demo', '--ops', '500000', '--out-dir', tmp);
  assert.equal(r.status, ExitCode.TESTS_FAILED, r.stderr);
  assert.equal(r.stderr, '');
  const out = r.stdout;
  assert.match(out, /^hartvisor demo: the demo guest counts to 500000 under one lock on 6 possible vCPUs \(4 started at boot\) sharing 2 CPU slots/);
  assert.match(out, /\n== guest console\ndemo: boot hart 0, 6 possible harts, starting harts below 4/);
  assert.match(out, /\nhartvisor: hotplug 1s: add vCPU 4: ok\n/);
  assert.match(out, /\nhartvisor: hotplug 8s: remove vCPU 5: not carried out \(the guest ended first\)\n/);
  assert.match(out, /\ndemo: result OK total=500000\n/);
  assert.match(out, /\n== per-vCPU statistics .*\nvCPU +state +instructions +exits/);
  const trace = join(tmp, 'demo-trace.json'), report = join(tmp, 'demo-report.html');
  assert.ok(out.includes(`\ntrace:  ${trace}\n`) && out.includes(`\nreport: ${report}\n`), out);
  assert.match(out, /\nhartvisor demo: NOT OK: guest shutdown, exit code 0, \d of 8 hotplug steps ok, [\d.]+ s of wall time, [\d.]+ s of guest time\n$/);
  assert.ok(existsSync(trace) && existsSync(report));
  const doc = JSON.parse(readFileSync(trace, 'utf8')) as { otherData: Record<string, string>; traceEvents: { ph: string; cat?: string }[] };
  assert.equal(doc.otherData.schema, 'hartvisor-trace/1');
  assert.equal(doc.otherData.pcpus, '2');
  assert.ok(doc.traceEvents.some((e) => e.ph === 'i' && e.cat === 'hotplug'));
  assert.match(readFileSync(report, 'utf8'), /<svg id="timeline"/);
});

test('demo: bad options', () => {
  for (const [args, pattern, status] of [
    [['--ops', '0'], /--ops: expected a whole number/, ExitCode.USAGE],
    [['--executor', 'turbo'], /--executor/, ExitCode.USAGE],
    [['extra'], /unexpected argument 'extra'/, ExitCode.USAGE],
    [['--out-dir', join(tmp, 'no', 'such')], /--out-dir: cannot write .*: no such directory/, ExitCode.BAD_INPUT],
  ] as [string[], RegExp, number][]) {
    const r = hv('demo', ...args);
    assert.equal(r.status, status, r.stderr);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  }
});
