/** `hartvisor conformance`: the output format on a made-up suite, and the real riscv-tests from ../shared. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode } from '../src/cli/exit-codes.js';
import { printAndExitGuest, spinGuest } from './support/rv32-guest.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const riscvTests = resolve(repoRoot, '../shared/conformance/riscv-tests');
const tmp = mkdtempSync(join(tmpdir(), 'hartvisor-conf-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function hv(...args: string[]) {
  return hvWith({}, ...args);
}

function hvWith(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 900_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('one line per test in name order, non-images passed over, closing count; failures give status 101', () => {
  const dir = mkdtempSync(join(tmp, 'suite-'));
  writeFileSync(join(dir, 'a-pass'), printAndExitGuest('noise on the console\n', 0));
  writeFileSync(join(dir, 'b-fail'), printAndExitGuest('', 5));
  writeFileSync(join(dir, 'c-spin'), spinGuest());
  const broken = printAndExitGuest('', 0).slice(0, 100);
  writeFileSync(join(dir, 'd-broken'), broken);
  writeFileSync(join(dir, 'PROVENANCE.md'), '# not a test\n');
  const r = hv('conformance', dir, '--timeout', '0.5');
  assert.equal(r.stderr, '');
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'a-pass PASS');
  assert.equal(lines[1], 'b-fail FAIL (exit code 5)');
  assert.equal(lines[2], 'c-spin FAIL (timeout after 0.5 s)');
  assert.match(lines[3], /^d-broken FAIL \(bad image: truncated ELF: .*\)$/);
  assert.equal(lines[4], '1 passed, 3 failed');
  assert.equal(lines[5], '');
  assert.equal(lines.length, 6);
  assert.equal(r.status, ExitCode.TESTS_FAILED);

  const only = hv('conformance', dir, '--filter', 'pass');
  assert.deepEqual([only.status, only.stdout], [0, 'a-pass PASS\n1 passed, 0 failed\n']);
  const none = hv('conformance', dir, '--filter', 'zzz');
  assert.equal(none.status, ExitCode.BAD_INPUT);
  assert.match(none.stderr, /^hartvisor: error: .*'zzz'\n$/);
});

for (const engine of ['jit', 'interp'] as const) {
  test(`riscv-tests (rv32ui/um/ua/uc/mi/si, p environment): all 79 pass (${engine === 'jit' ? 'translator, the default' : 'interpreter, the reference'})`, { skip: !existsSync(riscvTests) && `${riscvTests} not found: riscv-tests conformance not run` }, () => {
    const expected = readdirSync(riscvTests).filter((f) => f.startsWith('rv32')).sort();
    assert.equal(expected.length, 79, 'the shared folder holds 79 test images');
    // The tests finish in milliseconds on a working engine; 5 s each only bounds a broken one.
    const r = hvWith({ HARTVISOR_ENGINE: engine }, 'conformance', riscvTests, '--timeout', '5');
    const lines = r.stdout.trimEnd().split('\n');
    const failing = lines.filter((l) => / FAIL /.test(l));
    assert.deepEqual(failing, [], 'failing tests');
    assert.deepEqual(lines.slice(0, -1), expected.map((n) => `${n} PASS`));
    assert.equal(lines.at(-1), '79 passed, 0 failed');
    assert.equal(r.status, 0);
    assert.equal(r.stderr, '');
  });
}

test('riscv-tests refuse the S-mode options of kvm-unit-tests', () => {
  const dir = mkdtempSync(join(tmp, 'suite-'));
  writeFileSync(join(dir, 'a-pass'), printAndExitGuest('', 0));
  for (const [flag, value] of [['--vcpus', '2'], ['--executor', 'deterministic'], ['--seed', '3']]) {
    const r = hv('conformance', dir, flag, value);
    assert.equal(r.status, ExitCode.USAGE, flag);
    assert.equal(r.stderr, `hartvisor: error: ${flag} does not apply to riscv-tests (its tests run bare metal on one hart)\n`);
  }
  // --verbose shows the console of each test before its line.
  writeFileSync(join(dir, 'a-pass'), printAndExitGuest('hello from a\n', 0));
  const v = hv('conformance', dir, '--verbose');
  assert.deepEqual([v.status, v.stdout], [0, '== a-pass\nhello from a\na-pass PASS\n1 passed, 0 failed\n']);
});
