/**
 * `hartvisor conformance` on kvm-unit-tests: the output format on a made-up suite folder (tiny SBI guests that
 * print report lines), and the real suite from ../shared/conformance/kvm-unit-tests on 1, 2 and 4 vCPUs in both
 * executors.
 *
 * The real runs leave out `sieve.flat` unless HARTVISOR_SLOW_TESTS=1: it sieves 100 MB three times and takes
 * 11-16 s per run on a 2-core machine (it was 40-50 s before the TLB grew for it), while selftest and sbi (the SMP and
 * SBI checks) take seconds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode } from '../src/cli/exit-codes.js';
import { cfgBootargs, cfgSmp, cfgTimeoutSec, parseUnittestsCfg } from '../src/cli/conformance/unittests-cfg.js';
import { printAndShutdownGuest, spinSmodeGuest } from './support/sbi-guest.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const kvmUnitTests = resolve(repoRoot, '../shared/conformance/kvm-unit-tests');
const noKvmUnitTests = !existsSync(join(kvmUnitTests, 'unittests.cfg')) && `${kvmUnitTests} not found: kvm-unit-tests conformance not run`;
const slow = process.env.HARTVISOR_SLOW_TESTS === '1';
const tmp = mkdtempSync(join(tmpdir(), 'hartvisor-kvm-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function hv(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 900_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('unittests.cfg: sections, quoting, test_args or -append, smp, timeout', () => {
  const sections = parseUnittestsCfg([
    '# comment', 'file = orphan.flat', '[one]', 'file = one.flat', "test_args = 'foo bar baz'", 'smp = $MAX_SMP',
    '  [two]  ', 'file=two.flat', 'extra_params = -smp 2 -append "a b" -x', 'smp = 3', 'timeout = 2m',
    '[three]', 'file = "three.flat"', 'smp = $((MAX_SMP > 2 ? 2 : MAX_SMP))', 'timeout = soon', 'garbage line',
  ].join('\r\n'));
  assert.deepEqual(sections.map((s) => [s.name, s.values.get('file')]), [['one', 'one.flat'], ['two', 'two.flat'], ['three', 'three.flat']]);
  const [one, two, three] = sections;
  assert.deepEqual([cfgBootargs(one), cfgBootargs(two), cfgBootargs(three)], ['foo bar baz', 'a b', '']);
  assert.deepEqual([cfgSmp(one), cfgSmp(two), cfgSmp(three)],
    [{ kind: 'max' }, { kind: 'count', count: 3 }, { kind: 'unknown', text: '$((MAX_SMP > 2 ? 2 : MAX_SMP))' }]);
  assert.deepEqual([cfgTimeoutSec(one), cfgTimeoutSec(two), cfgTimeoutSec(three)], [undefined, 120, undefined]);
  assert.deepEqual(cfgSmp(parseUnittestsCfg('[x]\nfile = x.flat')[0]), { kind: 'count', count: 1 });
});

test('a made-up kvm-unit-tests folder: one line per image, FAIL lines under it, skips, closing count', () => {
  const dir = mkdtempSync(join(tmp, 'suite-'));
  writeFileSync(join(dir, 'unittests.cfg'), `# made up
[good]
file = good.flat
smp = $MAX_SMP
test_args = 'x y'

[bad]
file = bad.flat
[hang]
file = hang.flat
timeout = 1
[gone]
file = gone.flat
[wide]
file = good.flat
smp = 8
[rv64]
file = good.flat
arch = riscv64
`);
  writeFileSync(join(dir, 'good.flat'), printAndShutdownGuest('PASS: a\nSKIP: b\nXFAIL: c\nSUMMARY: 3 tests, 1 skipped\n\nEXIT: STATUS=1\n'));
  writeFileSync(join(dir, 'bad.flat'), printAndShutdownGuest('PASS: a\nFAIL: t: broke\nSUMMARY: 2 tests, 1 unexpected failures\n\nEXIT: STATUS=3\n', 1));
  writeFileSync(join(dir, 'hang.flat'), spinSmodeGuest());
  // Not in the cfg: run after the sections, in name order.
  writeFileSync(join(dir, 'liar.flat'), printAndShutdownGuest('FAIL: x\nEXIT: STATUS=1\n'));
  writeFileSync(join(dir, 'extra.flat'), printAndShutdownGuest('EXIT: STATUS=1\n'));
  writeFileSync(join(dir, 'README'), 'not a test\n');

  const r = hv('conformance', dir, '--vcpus', '2');
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, [
    'good PASS (1 pass, 0 fail, 1 skip, 1 xfail)',
    'bad FAIL (1 pass, 1 fail, 0 skip; EXIT: STATUS=3)',
    '  FAIL: t: broke',
    'hang FAIL (0 pass, 0 fail, 0 skip; no EXIT line: timeout after 1 s)',
    'gone SKIP (gone.flat not found)',
    'wide SKIP (needs smp = 8 vCPUs, --vcpus is 2)',
    'rv64 SKIP (for arch riscv64)',
    'extra PASS (0 pass, 0 fail, 0 skip)',
    'liar FAIL (0 pass, 1 fail, 0 skip)',
    '  FAIL: x',
    '2 passed, 3 failed, 3 skipped',
    '',
  ].join('\n'));
  assert.equal(r.status, ExitCode.TESTS_FAILED);

  // --filter takes alternatives; --verbose shows the console before each result line.
  const some = hv('conformance', dir, '--filter', 'good,extra', '--executor', 'deterministic', '--verbose');
  assert.equal(some.status, 0, some.stderr);
  assert.equal(some.stdout, [
    '== good', 'PASS: a', 'SKIP: b', 'XFAIL: c', 'SUMMARY: 3 tests, 1 skipped', '', 'EXIT: STATUS=1',
    'good PASS (1 pass, 0 fail, 1 skip, 1 xfail)',
    '== extra', 'EXIT: STATUS=1',
    'extra PASS (0 pass, 0 fail, 0 skip)',
    '2 passed, 0 failed', '',
  ].join('\n'));

  const bad = hv('conformance', dir, '--vcpus', '0');
  assert.equal(bad.status, ExitCode.USAGE);
  assert.match(bad.stderr, /^hartvisor: error: --vcpus: .*'0'\n$/);
});

// Each configuration the suite is run in: vCPUs x executor.
const CONFIGS: [vcpus: number, executor: 'threads' | 'deterministic'][] = [
  [1, 'threads'], [2, 'threads'], [4, 'threads'], [1, 'deterministic'], [2, 'deterministic'], [4, 'deterministic'],
];

// sieve once per CI run (it is long: it sieves 100 MB three times), so the whole suite is covered.
test('kvm-unit-tests: sieve passes (--vcpus 1, threads)', { skip: noKvmUnitTests || (slow && 'covered by the slow runs') }, () => {
  const args = ['conformance', kvmUnitTests, '--vcpus', '1', '--timeout', '600', '--filter', 'sieve'];
  const r = hv(...args);
  const context = `hartvisor ${args.join(' ')}\n${r.stdout}${r.stderr}`;
  assert.match(r.stdout, /^sieve PASS /m, context);
  assert.equal(r.stdout.trimEnd().split('\n').at(-1), '1 passed, 0 failed', context);
  assert.equal(r.status, 0, context);
});

for (const [vcpus, executor] of CONFIGS) {
  const what = slow ? 'every image' : 'selftest and sbi (sieve only with HARTVISOR_SLOW_TESTS=1)';
  test(`kvm-unit-tests, ${what}: --vcpus ${vcpus} --executor ${executor}`, { skip: noKvmUnitTests }, () => {
    // selftest and sbi take a few seconds; the limit only bounds a guest that hangs.
    const args = ['conformance', kvmUnitTests, '--vcpus', String(vcpus), '--executor', executor, '--timeout', slow ? '300' : '30'];
    const r = hv(...args, ...(slow ? [] : ['--filter', 'selftest,sbi']));
    const lines = r.stdout.trimEnd().split('\n');
    const context = `hartvisor ${args.join(' ')}\n${r.stdout}${r.stderr}`;
    assert.deepEqual(lines.filter((l) => / FAIL /.test(l) || /^  /.test(l)), [], `failures:\n${context}`);
    assert.match(r.stdout, /^selftest PASS \(\d+ pass, 0 fail, \d+ skip\)$/m, context);
    assert.match(r.stdout, /^sbi PASS \(\d+ pass, 0 fail, \d+ skip\)$/m, context);
    if (slow) {
      assert.match(r.stdout, /^sieve PASS /m, context);
      assert.match(lines.at(-1) ?? '', /^3 passed, 0 failed(, \d+ skipped)?$/, context);
    } else {
      assert.equal(lines.at(-1), '2 passed, 0 failed', context);
    }
    assert.equal(r.status, 0, context);
    assert.equal(r.stderr, '');
  });
}
