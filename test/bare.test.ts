/** The bare-metal executor on tiny hand-encoded guests. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBareMetal } from '../src/host/bare.js';
import { ImageError } from '../src/boot/image-error.js';
import { printAndExitGuest, spinGuest } from './support/rv32-guest.js';

test('console output and exit code come back from HTIF', async () => {
  const chunks: string[] = [];
  const r = await runBareMetal(printAndExitGuest('hi there\n', 3), { memoryMiB: 1, timeoutSec: 10, onOutput: (s) => chunks.push(s) });
  assert.equal(r.reason, 'exit');
  assert.equal(r.exitCode, 3);
  assert.equal(r.output, 'hi there\n');
  assert.equal(chunks.join(''), 'hi there\n');
  assert.ok(r.instret > 0);
  assert.ok(r.seconds >= 0 && r.seconds < 10);
  assert.equal(r.message, undefined);
});

test('exit code 0 (riscv-tests pass)', async () => {
  const r = await runBareMetal(printAndExitGuest('', 0), { memoryMiB: 1 });
  assert.deepEqual([r.reason, r.exitCode, r.output], ['exit', 0, '']);
});

test('a guest that never exits times out by the wall clock', async () => {
  const t0 = Date.now();
  const r = await runBareMetal(spinGuest(), { memoryMiB: 1, timeoutSec: 0.3 });
  assert.equal(r.reason, 'timeout');
  assert.equal(r.exitCode, null);
  assert.match(r.message ?? '', /^timeout after 0\.3 s/);
  assert.ok(Date.now() - t0 < 5000);
  assert.ok(r.instret > 0);
});

test('a trap with no trap vector is reported as a trap, not an exception', async () => {
  const r = await runBareMetal(new Uint8Array(16), { memoryMiB: 1, timeoutSec: 5 }); // flat image of zeros: illegal
  assert.equal(r.reason, 'trap');
  assert.match(r.message ?? '', /illegal instruction|access fault/);
});

test('bad images and bad options are exceptions before the run', async () => {
  await assert.rejects(runBareMetal(new Uint8Array((1 << 20) + 4), { memoryMiB: 1 }), ImageError);
  await assert.rejects(runBareMetal(new Uint8Array(4), { memoryMiB: 0 }), RangeError);
  await assert.rejects(runBareMetal(new Uint8Array(4), { memoryMiB: 1.5 }), RangeError);
  await assert.rejects(runBareMetal(new Uint8Array(4), { timeoutSec: -1 }), RangeError);
});
