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

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const riscvTests = resolve(repoRoot, '../shared/conformance/riscv-tests');
const haveRiscvTests = existsSync(riscvTests);
const noRiscvTests = !haveRiscvTests && `${riscvTests} not found`;
const tmp = mkdtempSync(join(tmpdir(), 'hartvisor-cli-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function hv(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, HARTVISOR_DEBUG: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
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

test('a flat image bigger than --memory 1', () => {
  const f = join(tmp, 'big.bin');
  writeFileSync(f, new Uint8Array((1 << 20) + 4096));
  expectOneLineError(hv('run', f, '--memory', '1'), ExitCode.BAD_INPUT,
    /image does not fit in guest RAM: segment 0x80000000 - 0x80100fff outside 0x80000000-0x800fffff/);
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
  expectOneLineError(hv('run', f, '--vcpus', '2'), ExitCode.USAGE, /unknown option '--vcpus'/);
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
  const trap = hv('run', zeros, '--timeout', '5');
  assert.equal(trap.status, ExitCode.GUEST_FAULT);
  assert.match(trap.stderr, /^hartvisor: guest fault: .+\n$/);
});

test('run: a riscv-tests image passes', { skip: noRiscvTests }, () => {
  const r = hv('run', join(riscvTests, 'rv32ui-p-simple'), '--timeout', '10');
  assert.deepEqual([r.status, r.stderr], [0, '']);
});
