/**
 * `hartvisor run`'s scheduling, hotplug, trace and statistics options: every bad value is one stderr line with
 * the usage (103) or bad-input (104) status; a hotplug schedule in the deterministic executor gives the same
 * console output every time for the same seed; --stats prints a table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode } from '../src/cli/exit-codes.js';
import { parseRunArgs } from '../src/cli/commands/run.js';
import { printAndExitGuest } from './support/rv32-guest.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const demo = resolve(repoRoot, 'guests/images/demo.bin');
const tmp = mkdtempSync(join(tmpdir(), 'hartvisor-cli-run-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function hv(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, HARTVISOR_DEBUG: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function oneLineError(r: ReturnType<typeof hv>, status: number, pattern: RegExp): void {
  assert.equal(r.status, status, `status of: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one stderr line, got: ${JSON.stringify(r.stderr)}`);
  assert.match(lines[0], /^hartvisor: error: /);
  assert.match(lines[0], pattern);
  assert.equal(r.stdout, '', 'nothing ran');
}

test('bad values of --pcpus, --directed-yield and the PLE options', () => {
  const bad: [string[], RegExp][] = [
    [['--pcpus', '0'], /--pcpus: .*'0'/],
    [['--pcpus', 'two'], /--pcpus: .*'two'/],
    [['--pcpus', '1.5'], /--pcpus/],
    [['--pcpus', '5', '--vcpus', '4'], /--pcpus 5 is more than the 4 vCPUs/],
    [['--pcpus', '3', '--max-vcpus', '2'], /--pcpus 3 is more than the 2 vCPUs/],
    [['--directed-yield', 'maybe'], /--directed-yield: expected one of off, on, pv, got 'maybe'/],
    [['--directed-yield', ''], /--directed-yield/],
    [['--ple-gap=-1'], /--ple-gap: expected a whole number from 0/],
    [['--ple-gap', 'x'], /--ple-gap/],
    [['--ple-window', '0'], /--ple-window: expected a whole number from 1/],
    [['--ple-window', '2000000000'], /--ple-window: .* to 1073741824/],
    [['--ple-grow', '2.5'], /--ple-grow/],
    [['--ple-shrink', 'lots'], /--ple-shrink/],
    [['--ple-gap'], /'--ple-gap' needs a value/],
    [['--stats=yes'], /'--stats' does not take a value/],
  ];
  for (const [args, pattern] of bad) oneLineError(hv('run', demo, ...args), ExitCode.USAGE, pattern);
});

test('bad --hotplug schedules and --trace paths', () => {
  const missing = join(tmp, 'missing.json');
  const badJson = join(tmp, 'bad.json');
  writeFileSync(badJson, '[{"at": "1s", "add": 2, "remove": 3}]');
  const notJson = join(tmp, 'not.json');
  writeFileSync(notJson, '1s:+2');
  const tooBig = join(tmp, 'big.json');
  writeFileSync(tooBig, '[{"at": 10, "add": 7}]');
  const dir = join(tmp, 'a-dir');
  mkdirSync(dir, { recursive: true });
  const usage: [string[], RegExp][] = [
    [['--hotplug', 'soon:+2'], /--hotplug: hotplug step 1 'soon:\+2': bad time/],
    [['--hotplug', '1s:2'], /--hotplug: hotplug step 1 '1s:2': expected TIME:\+ID/],
    [['--hotplug', '1s:+2!'], /'!' \(force\) applies to removals only/],
    [['--hotplug', ','], /--hotplug: the hotplug schedule is empty/],
    [['--hotplug', '1s:+2,2s:-9', '--max-vcpus', '4'], /--hotplug: step at 2000 ms names vCPU 9, but the VM's vCPU ids are 0-3 \(--max-vcpus 4\)/],
    [['--hotplug', '@'], /'@' must be followed by the path/],
    [['--trace', ''], /--trace: expected a file name/],
  ];
  for (const [args, pattern] of usage) oneLineError(hv('run', demo, '--max-vcpus', '4', ...args), ExitCode.USAGE, pattern);
  const input: [string[], RegExp][] = [
    [['--hotplug', `@${missing}`], /missing\.json: no such file/],
    [['--hotplug', `@${badJson}`], /bad\.json: hotplug step 1: needs exactly one of 'add' or 'remove'/],
    [['--hotplug', `@${notJson}`], /not\.json: hotplug schedule is not valid JSON/],
    [['--hotplug', `@${tooBig}`], /big\.json: step at 10 ms names vCPU 7/],
    [['--trace', join(tmp, 'no', 'such', 'dir', 't.json')], /--trace: cannot write .*t\.json: no such directory/],
    [['--trace', dir], /--trace: .*a-dir is a directory/],
  ];
  for (const [args, pattern] of input) oneLineError(hv('run', demo, '--max-vcpus', '4', ...args), ExitCode.BAD_INPUT, pattern);
});

test('the new options are S-mode options: refused with --bare and for a bare-metal image', () => {
  const elf = join(tmp, 'bare.elf');
  writeFileSync(elf, printAndExitGuest('', 0));
  for (const args of [['--pcpus', '1'], ['--stats'], ['--trace', join(tmp, 't.json')], ['--hotplug', '1s:+0'], ['--directed-yield', 'pv'], ['--ple-gap', '0']]) {
    oneLineError(hv('run', demo, '--bare', ...args), ExitCode.USAGE, /is for S-mode guests and cannot be used with --bare/);
    oneLineError(hv('run', elf, ...args), ExitCode.USAGE, /is for S-mode guests, but .* runs bare metal/);
  }
});

test('parseRunArgs: defaults, and every option into RunConfig', () => {
  const d = parseRunArgs(['x.bin']);
  assert.ok(d !== 'help');
  assert.deepEqual(d.sched, {});
  assert.equal(d.hotplug, undefined);
  assert.equal(d.tracePath, undefined);
  assert.equal(d.stats, false);
  const c = parseRunArgs(['x.bin', '--vcpus', '4', '--max-vcpus', '6', '--pcpus', '2', '--directed-yield', 'pv', '--ple-gap', '0',
    '--ple-window', '8192', '--ple-grow', '4', '--ple-shrink', '2', '--hotplug', '200ms:+4, 1.5s:-1!', '--trace', 't.json', '--stats']);
  assert.ok(c !== 'help');
  assert.deepEqual(c.sched, { pcpus: 2, directedYield: 'pv', pleGap: 0, pleWindow: 8192, pleGrow: 4, pleShrink: 2 });
  assert.deepEqual(c.hotplug, { steps: [{ atMs: 200, op: 'add', id: 4 }, { atMs: 1500, op: 'remove', id: 1, force: true }] });
  assert.equal(c.tracePath, 't.json');
  assert.equal(c.stats, true);
  assert.equal(d.engine, undefined, 'no --engine: the default engine');
  assert.equal(d.onUnsupported, 'stop');
  const e = parseRunArgs(['x.bin', '--engine', 'interp', '--on-unsupported', 'report']);
  assert.ok(e !== 'help');
  assert.equal(e.engine, 'interp');
  assert.equal(e.onUnsupported, 'report');
  const f = parseRunArgs(['x.bin', '--hotplug', '@plan.json']);
  assert.ok(f !== 'help');
  assert.deepEqual(f.hotplug, { file: 'plan.json' });
});

/** The demo guest on 4 possible vCPUs (3 at boot) on 2 CPU slots, with vCPU 3 added and vCPU 1 removed. */
function demoWithHotplug(seed: string, ...extra: string[]) {
  return hv('run', demo, '--max-vcpus', '4', '--pcpus', '2', '--executor', 'deterministic', '--seed', seed,
    '--append', 'demo.ops=60000 demo.harts=3 demo.work=100', '--hotplug', '40ms:+3,120ms:-1', ...extra);
}

test('--hotplug on the demo guest in the deterministic executor: the same console output twice with the same seed', () => {
  const a = demoWithHotplug('5');
  const b = demoWithHotplug('5');
  assert.equal(a.status, 0, a.stderr);
  assert.equal(b.status, 0, b.stderr);
  assert.match(a.stdout, /demo: result OK total=60000/);
  assert.match(a.stdout, /hotplug: add hart 3: started/);
  assert.match(a.stdout, /demo: hart 1 leaves after \d+ increments/);
  assert.equal(a.stdout, b.stdout, 'byte-identical console output');
  // One line per step on stderr, in schedule order.
  const steps = a.stderr.split('\n').filter((l) => l.startsWith('hartvisor: hotplug'));
  assert.deepEqual(steps, ['hartvisor: hotplug 40ms: add vCPU 3: ok', 'hartvisor: hotplug 120ms: remove vCPU 1: ok']);
  assert.equal(a.stderr, b.stderr);
  // Another seed interleaves the harts differently (the total stays right).
  const c = demoWithHotplug('6');
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stdout, /demo: result OK total=60000/);
  assert.notEqual(c.stdout, a.stdout);
});

test('--hotplug: a step that fails, and steps after the end of the run, are reported too', () => {
  const plan = join(tmp, 'plan.json');
  writeFileSync(plan, JSON.stringify([{ at: '20ms', add: 1 }, { at: 30, remove: 3, timeoutMs: 50 }, { at: '60s', add: 3 }]));
  const r = hv('run', demo, '--max-vcpus', '4', '--pcpus', '2', '--executor', 'deterministic', '--append', 'demo.ops=30000 demo.harts=3 demo.work=100', '--hotplug', `@${plan}`);
  assert.equal(r.status, 0, r.stderr);
  const steps = r.stderr.split('\n').filter((l) => l.startsWith('hartvisor: hotplug'));
  assert.deepEqual(steps, [
    'hartvisor: hotplug 20ms: add vCPU 1: failed: vCPU 1 exists already',
    'hartvisor: hotplug 30ms: remove vCPU 3: failed: no vCPU 3',
    'hartvisor: hotplug 60s: add vCPU 3: not carried out (the guest ended first)',
  ]);
});

test('--stats prints a per-vCPU table; --pcpus, --directed-yield and PLE options run (threads and deterministic)', () => {
  const r = demoWithHotplug('1', '--stats', '--directed-yield', 'pv', '--ple-window', '2048', '--ple-grow', '3', '--ple-shrink', '2');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stderr.split('\n');
  const at = lines.findIndex((l) => l === 'hartvisor: per-vCPU statistics (2 CPU slots, directed yield pv):');
  assert.ok(at >= 0, r.stderr);
  assert.match(lines[at + 1], /^vCPU +state +instructions +exits +ecall +wfi +budget +PLE exits +yield tried +yield ok +preempted +wakeups +SBI calls +IPIs sent$/);
  assert.match(lines[at + 2], /^-+ +-+ /);
  const rows = lines.slice(at + 3, at + 8);
  assert.deepEqual(rows.map((l) => l.split(/ +/)[0]), ['0', '1', '2', '3', 'total']);
  assert.match(rows[1], /^1 +gone +\d+/, 'vCPU 1 was removed');
  for (const row of rows) {
    const nums = row.split(/ +/).slice(row.startsWith('total') ? 1 : 2).map(Number);
    assert.ok(nums.length === 12 && nums.every((n) => Number.isInteger(n) && n >= 0), row);
  }
  const instructions = rows.slice(0, 4).map((l) => Number(l.split(/ +/)[2]));
  assert.ok(instructions.every((n) => n > 0));
  assert.equal(Number(rows[4].split(/ +/)[1]), instructions.reduce((a, b) => a + b, 0));

  const t = hv('run', demo, '--vcpus', '3', '--pcpus', '1', '--directed-yield', 'off', '--ple-gap', '0', '--append', 'demo.ops=20000', '--stats');
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /demo: result OK total=20000/);
  assert.match(t.stderr, /per-vCPU statistics \(1 CPU slot, directed yield off\):\n/);
  assert.match(t.stderr, /\ntotal +\d+/);
});

test('--engine: the demo guest prints the same in the deterministic executor with either engine; a bad engine is a usage error', () => {
  const run = (engine: string) => hv('run', demo, '--vcpus', '2', '--executor', 'deterministic', '--engine', engine,
    '--append', 'demo.ops=20000 demo.harts=2 demo.work=50');
  const jit = run('jit');
  const interp = run('interp');
  assert.equal(jit.status, 0, jit.stderr);
  assert.equal(interp.status, 0, interp.stderr);
  assert.match(jit.stdout, /demo: 2 harts ran/);
  assert.equal(jit.stdout, interp.stdout, 'instruction-exact engines give the same deterministic run');
  oneLineError(hv('run', demo, '--engine', 'qemu'), 103, /--engine: expected jit or interp, got 'qemu'/);
});
