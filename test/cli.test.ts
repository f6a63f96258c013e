/** The `hartvisor` executable: bad input gives one stderr line and a documented status; guests' outcomes map to statuses. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExitCode } from '../src/cli/exit-codes.js';
import { printAndExitGuest, spinGuest } from './support/rv32-guest.js';
import { echoGuest, printAndShutdownGuest, spinSmodeGuest, stopOnlyHartGuest } from './support/sbi-guest.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const riscvTests = resolve(repoRoot, '../shared/conformance/riscv-tests');
const haveRiscvTests = existsSync(riscvTests);
const noRiscvTests = !haveRiscvTests && `${riscvTests} not found`;
const kvmUnitTests = resolve(repoRoot, '../shared/conformance/kvm-unit-tests');
const noKvmUnitTests = !existsSync(join(kvmUnitTests, 'selftest.flat')) && `${kvmUnitTests}/selftest.flat not found: kvm-unit-tests not run`;
const tmp = mkdtempSync(join(tmpdir(), 'hartvisor-cli-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function hv(...args: string[]) {
  return hvWithInput(undefined, ...args);
}

/** Runs the CLI with `input` on its stdin (a pipe; closed at once when undefined). */
function hvWithInput(input: string | undefined, ...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000, input, env: { ...process.env, HARTVISOR_DEBUG: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Writes `bytes` to a file in the temporary folder and returns its path. */
function guestFile(name: string, bytes: Uint8Array): string {
  const f = join(tmp, name);
  writeFileSync(f, bytes);
  return f;
}

/** Asserts the bad-input contract: the given non-zero status, one stderr line `hartvisor: error: ...`, no stack. */
function expectOneLineError(r: ReturnType<typeof hv>, status: number, pattern?: RegExp) {
  assert.notEqual(r.status, 0);
  assert.equal(r.status, status, `status; stderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `exactly one stderr line, got: ${JSON.stringify(r.stderr)}`);
  assert.match(lines[0], /^hartvisor: error: /);
  assert.doesNotMatch(r.stderr, /^\s*at /m, 'no stack frames');
  assert.ok(r.stderr.endsWith('\n'));
  if (pattern) assert.match(lines[0], pattern);
}

test('missing image file', () => {
  expectOneLineError(hv('run', join(tmp, 'nope.elf')), ExitCode.BAD_INPUT, /nope\.elf: no such file/);
});

test('a directory as the image', () => {
  expectOneLineError(hv('run', tmp), ExitCode.BAD_INPUT, /is a directory/);
});

test('an empty image', () => {
  const f = join(tmp, 'empty.bin');
  writeFileSync(f, '');
  expectOneLineError(hv('run', f), ExitCode.BAD_INPUT, /image is empty/);
});

test('a truncated ELF (a real riscv-tests image cut short)', { skip: noRiscvTests }, () => {
  const whole = readFileSync(join(riscvTests, 'rv32ui-p-add'));
  for (const n of [20, 60, 1000, whole.length - 1]) {
    const f = join(tmp, `trunc-${n}.elf`);
    writeFileSync(f, whole.subarray(0, n));
    expectOneLineError(hv('run', f), ExitCode.BAD_INPUT, /truncated ELF/);
  }
});

test('a non-RISC-V ELF (/bin/ls)', { skip: !existsSync('/bin/ls') && '/bin/ls not found' }, () => {
  expectOneLineError(hv('run', '/bin/ls'), ExitCode.BAD_INPUT, /\/bin\/ls: .*(ELF64|not a RISC-V)/);
});

test('a flat image bigger than --memory 1 (bare metal: at 0x80000000)', () => {
  const f = join(tmp, 'big.bin');
  writeFileSync(f, new Uint8Array((1 << 20) + 4096));
  expectOneLineError(hv('run', f, '--bare', '--memory', '1'), ExitCode.BAD_INPUT,
    /big\.bin: image does not fit in guest RAM: segment 0x80000000 - 0x80100fff outside 0x80000000-0x800fffff/);
});

test('S-mode: an image larger than RAM, or leaving no room for the device tree', () => {
  // A flat S-mode image goes to 0x80400000 (RAM + 4 MiB).
  const f = guestFile('big-smode.bin', new Uint8Array(5 << 20));
  expectOneLineError(hv('run', f, '--memory', '8'), ExitCode.BAD_INPUT,
    /big-smode\.bin: image does not fit in guest RAM: segment 0x80400000 - 0x808fffff outside 0x80000000-0x807fffff \(8 MiB\)/);
  const g = guestFile('tight-smode.bin', new Uint8Array(1 << 20));
  expectOneLineError(hv('run', g, '--memory', '6'), ExitCode.BAD_INPUT, /tight-smode\.bin: .*too small for the image and its device tree/);
});

test('bad option values', () => {
  const f = join(tmp, 'guest.elf');
  writeFileSync(f, printAndExitGuest('', 0));
  expectOneLineError(hv('run', f, '--memory', 'abc'), ExitCode.USAGE, /--memory: .*'abc'/);
  expectOneLineError(hv('run', f, '--memory', '0'), ExitCode.USAGE, /--memory/);
  expectOneLineError(hv('run', f, '--memory', '1.5'), ExitCode.USAGE, /--memory/);
  expectOneLineError(hv('run', f, '--memory', '4096'), ExitCode.USAGE, /--memory/);
  expectOneLineError(hv('run', f, '--memory'), ExitCode.USAGE, /'--memory' needs a value/);
  expectOneLineError(hv('run', f, '--timeout', 'soon'), ExitCode.USAGE, /--timeout/);
  expectOneLineError(hv('run', f, '--timeout', '0'), ExitCode.USAGE, /--timeout/);
  expectOneLineError(hv('run', f, '--timeout=-1'), ExitCode.USAGE, /--timeout/);
  expectOneLineError(hv('conformance', tmp, '--timeout', 'x'), ExitCode.USAGE, /--timeout/);
});

test('unknown option, stray or missing argument, unknown command', () => {
  const f = join(tmp, 'guest.elf');
  writeFileSync(f, printAndExitGuest('', 0));
  expectOneLineError(hv('run', f, '--cpus', '2'), ExitCode.USAGE, /unknown option '--cpus'/);
  expectOneLineError(hv('run', f, 'extra'), ExitCode.USAGE, /unexpected argument 'extra'/);
  expectOneLineError(hv('run'), ExitCode.USAGE, /missing IMAGE/);
  expectOneLineError(hv('conformance'), ExitCode.USAGE, /missing DIR/);
  expectOneLineError(hv('frobnicate'), ExitCode.USAGE, /unknown command 'frobnicate'/);
  expectOneLineError(hv('--frobnicate'), ExitCode.USAGE, /unknown option/);
  expectOneLineError(hv(), ExitCode.USAGE, /missing command/);
  expectOneLineError(hv('help', 'frobnicate'), ExitCode.USAGE);
});

test('conformance on a missing folder or one without tests', () => {
  expectOneLineError(hv('conformance', join(tmp, 'nowhere')), ExitCode.BAD_INPUT, /no such file/);
  const empty = mkdtempSync(join(tmp, 'empty-'));
  writeFileSync(join(empty, 'README.md'), '# not a test\n');
  expectOneLineError(hv('conformance', empty), ExitCode.BAD_INPUT, /no conformance tests/);
});

test('--help for the program and every command goes to stdout with status 0', () => {
  for (const args of [['--help'], ['-h'], ['help'], ['run', '--help'], ['conformance', '-h'], ['demo', '--help'], ['help', 'run']]) {
    const r = hv(...args);
    assert.equal(r.status, 0, args.join(' '));
    assert.match(r.stdout, /^Usage: hartvisor/, args.join(' '));
    assert.equal(r.stderr, '');
  }
  assert.match(hv('--version').stdout, /^hartvisor \d+\.\d+\.\d+\n$/);
});

test('run: console to stdout, the guest exit code is the status', () => {
  const f = join(tmp, 'hello.elf');
  writeFileSync(f, printAndExitGuest('hello, world\n', 0));
  const ok = hv('run', f, '--memory', '2');
  assert.deepEqual([ok.status, ok.stdout, ok.stderr], [0, 'hello, world\n', '']);

  writeFileSync(f, printAndExitGuest('x', 7));
  const seven = hv('run', f);
  assert.equal(seven.status, 7);
  assert.equal(seven.stdout, 'x');
  assert.match(seven.stderr, /^\nhartvisor: guest exited with code 7\n$/);

  writeFileSync(f, printAndExitGuest('', 300));
  const big = hv('run', f);
  assert.equal(big.status, ExitCode.GUEST_CODE_TOO_BIG);
  assert.match(big.stderr, /code 300/);
});

test('run: timeout and trap have their own statuses and one stderr line', () => {
  const spin = join(tmp, 'spin.elf');
  writeFileSync(spin, spinGuest());
  const t = hv('run', spin, '--timeout', '0.3');
  assert.equal(t.status, ExitCode.TIMEOUT);
  assert.match(t.stderr, /^hartvisor: timeout after 0\.3 s; \d+ instructions retired\n$/);

  const zeros = join(tmp, 'zeros.bin');
  writeFileSync(zeros, new Uint8Array(64));
  const trap = hv('run', zeros, '--bare', '--timeout', '5');
  assert.equal(trap.status, ExitCode.GUEST_FAULT);
  assert.match(trap.stderr, /^hartvisor: guest fault: .+\n$/);
});

test('run: a riscv-tests image passes', { skip: noRiscvTests }, () => {
  const r = hv('run', join(riscvTests, 'rv32ui-p-simple'), '--timeout', '10');
  assert.deepEqual([r.status, r.stderr], [0, '']);
});

test('run: bad values of the S-mode options', () => {
  const f = guestFile('hello-smode.bin', printAndShutdownGuest('hello\n'));
  expectOneLineError(hv('run', f, '--vcpus', '0'), ExitCode.USAGE, /--vcpus: .*1 to 1024, got '0'/);
  expectOneLineError(hv('run', f, '--vcpus', '2000'), ExitCode.USAGE, /--vcpus: .*1 to 1024, got '2000'/);
  expectOneLineError(hv('run', f, '--vcpus', 'two'), ExitCode.USAGE, /--vcpus: .*'two'/);
  expectOneLineError(hv('run', f, '--vcpus', '1.5'), ExitCode.USAGE, /--vcpus/);
  expectOneLineError(hv('run', f, '--vcpus', '4', '--max-vcpus', '2'), ExitCode.USAGE, /--max-vcpus 2 is less than --vcpus 4/);
  expectOneLineError(hv('run', f, '--max-vcpus', '1025'), ExitCode.USAGE, /--max-vcpus: .*'1025'/);
  expectOneLineError(hv('run', f, '--max-vcpus', '0'), ExitCode.USAGE, /--max-vcpus/);
  expectOneLineError(hv('run', f, '--executor', 'turbo'), ExitCode.USAGE, /--executor: expected one of threads, deterministic, got 'turbo'/);
  expectOneLineError(hv('run', f, '--seed', '-1'), ExitCode.USAGE, /--seed/);
  expectOneLineError(hv('run', f, '--seed', '4294967296'), ExitCode.USAGE, /--seed: .*'4294967296'/);
  expectOneLineError(hv('run', f, '--on-hart-stop', 'park'), ExitCode.USAGE, /--on-hart-stop: expected one of destroy, keep, got 'park'/);
  expectOneLineError(hv('run', f, '--append'), ExitCode.USAGE, /'--append' needs a value/);
  expectOneLineError(hv('run', f, '--bare', '--vcpus', '2'), ExitCode.USAGE, /--vcpus is for S-mode guests and cannot be used with --bare/);
  // Option errors come before the image is looked at.
  expectOneLineError(hv('run', join(tmp, 'nope.bin'), '--vcpus', '0'), ExitCode.USAGE, /--vcpus/);
  // The good values of the same options work.
  const ok = hv('run', f, '--vcpus', '2', '--max-vcpus', '1024', '--executor', 'deterministic', '--seed', '4294967295',
    '--on-hart-stop', 'keep', '--append', 'a b', '--memory', '64', '--timeout', '30');
  assert.deepEqual([ok.status, ok.stdout, ok.stderr], [0, 'hello\n', '']);
});

test('run: S-mode-only options on an image that boots bare metal (ELF with tohost)', () => {
  const f = guestFile('htif.elf', printAndExitGuest('', 0));
  expectOneLineError(hv('run', f, '--vcpus', '2'), ExitCode.USAGE, /--vcpus is for S-mode guests, but .*htif\.elf runs bare metal/);
  expectOneLineError(hv('run', f, '--executor', 'deterministic'), ExitCode.USAGE, /--executor is for S-mode guests/);
});

test('run: S-mode outcomes: SRST shutdown codes, stall, fault, timeout', () => {
  for (const executor of ['threads', 'deterministic']) {
    const ok = hv('run', guestFile('ok.bin', printAndShutdownGuest('fine\n', 0)), '--executor', executor);
    assert.deepEqual([ok.status, ok.stdout, ok.stderr], [0, 'fine\n', ''], executor);

    const failure = hv('run', guestFile('failure.bin', printAndShutdownGuest('bad', 1)), '--executor', executor);
    assert.equal(failure.status, ExitCode.GUEST_SYSTEM_FAILURE, executor);
    assert.equal(failure.stdout, 'bad');
    // The report starts on a line of its own after the unfinished console line.
    assert.equal(failure.stderr, '\nhartvisor: guest shut down reporting a system failure (SBI SRST)\n');

    const stalled = hv('run', guestFile('stop.bin', stopOnlyHartGuest('bye\n')), '--executor', executor);
    assert.equal(stalled.status, ExitCode.GUEST_STALLED, executor);
    assert.equal(stalled.stdout, 'bye\n');
    assert.match(stalled.stderr, /^hartvisor: every hart is stopped .*stalled\n$/);

    // Zeros are illegal instructions, and stvec = 0 is outside RAM: a trap loop, reported once.
    const fault = hv('run', guestFile('zeros-smode.bin', new Uint8Array(64)), '--executor', executor);
    assert.equal(fault.status, ExitCode.GUEST_FAULT, executor);
    assert.match(fault.stderr, /^hartvisor: guest fault: guest hart 0: .*\n$/);

    const spin = hv('run', guestFile('spin-smode.bin', spinSmodeGuest()), '--executor', executor, '--vcpus', '2', '--timeout', '0.5');
    assert.equal(spin.status, ExitCode.TIMEOUT, executor);
    assert.equal(spin.stderr, 'hartvisor: timeout after 0.5 s\n');
  }
});

test('run: stdin is the S-mode console input', () => {
  const f = guestFile('echo.bin', echoGuest());
  // The guest echoes until 'q' (shutdown, reason 0) or 'f' (reason 1).
  const echo = hvWithInput('hello, guest\nq', 'run', f);
  assert.deepEqual([echo.status, echo.stdout, echo.stderr], [0, 'hello, guest\n', '']);
  const det = hvWithInput('abc f', 'run', f, '--executor', 'deterministic');
  assert.equal(det.status, ExitCode.GUEST_SYSTEM_FAILURE);
  assert.equal(det.stdout, 'abc ');
  // A guest still waiting for input when stdin ends is not kept alive by stdin, and a timeout still ends it.
  const waiting = hvWithInput('xyz', 'run', f, '--timeout', '0.5');
  assert.deepEqual([waiting.status, waiting.stdout], [ExitCode.TIMEOUT, 'xyz']);
});

test('run: kvm-unit-tests selftest.flat in S-mode on 2 vCPUs with bootargs', { skip: noKvmUnitTests }, () => {
  const image = join(kvmUnitTests, 'selftest.flat');
  const r = hv('run', image, '--append', 'foo bar baz', '--vcpus', '2', '--timeout', '50');
  assert.equal(r.status, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stdout, /^SUMMARY: /m);
  assert.match(r.stdout, /^PASS: selftest: command line parsing$/m);
  assert.match(r.stdout, /^EXIT: STATUS=1$/m);
  assert.doesNotMatch(r.stdout, /^FAIL:/m);
});

test('run: --executor deterministic --seed 7 gives byte-identical console output', { skip: noKvmUnitTests }, () => {
  const image = join(kvmUnitTests, 'selftest.flat');
  const args = ['run', image, '--append', 'foo bar baz', '--vcpus', '2', '--executor', 'deterministic', '--seed', '7', '--timeout', '50'];
  const first = spawnSync(process.execPath, [cli, ...args], { timeout: 60_000 });
  const second = spawnSync(process.execPath, [cli, ...args], { timeout: 60_000 });
  assert.equal(first.status, 0, first.stderr.toString());
  assert.equal(second.status, 0, second.stderr.toString());
  assert.match(first.stdout.toString(), /^SUMMARY: /m);
  assert.ok(Buffer.compare(first.stdout, second.stdout) === 0, 'the two runs printed different bytes');
});
