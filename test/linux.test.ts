/**
 * Boots the RV32 Linux 6.1 guest from ../shared/guests/linux: its init prints the online CPUs, takes CPU 1
 * offline and back online through sysfs (SBI HSM hart_stop / hart_start) and powers off. With the default
 * policy, the offline destroys vCPU 1 and the online creates it again: the host's vCPU count drops and rises.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createVm, VmConfig } from '../src/hv/vm.js';
import { TraceKind } from '../src/host/trace.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const IMAGE = path.resolve(repo, '../shared/guests/linux/Image');
const skip = existsSync(IMAGE) ? false : `Linux guest image not found at ${IMAGE}`;

interface Boot { console: string; exitCode: number; reason: string; onlineSeen: number[]; threadsAfterClose: number }

async function boot(cfg: Partial<VmConfig>, timeoutMs = 90_000): Promise<Boot> {
  const chunks: string[] = [];
  const onlineSeen: number[] = [];
  const vm = await createVm({
    image: readFileSync(IMAGE), memoryMiB: 256, bootargs: 'console=hvc0 earlycon=sbi', onWarn: () => {}, trace: true,
    onOutput: (b) => chunks.push(Buffer.from(b).toString('latin1')), ...cfg,
  });
  const deadline = setTimeout(() => void vm.close(), timeoutMs);
  const exit = await vm.wait();
  clearTimeout(deadline);
  const events = vm.drainTrace(); // before close, whose teardown destroys the remaining vCPUs
  await vm.close();
  // The host-side vCPU count over the run, from the VM's own life-cycle events (created / destroyed), which the
  // trace records in order: the sequence of distinct values.
  let online = 0;
  for (const ev of events) {
    if (ev.kind !== TraceKind.LIFE) continue;
    online += ev.arg === 1 ? 1 : -1;
    if (onlineSeen[onlineSeen.length - 1] !== online) onlineSeen.push(online);
  }
  return { console: chunks.join(''), exitCode: exit.exitCode, reason: exit.reason, onlineSeen, threadsAfterClose: vm.threads };
}

function onlineLists(consoleText: string): string[] {
  return [...consoleText.matchAll(/\/sys\/devices\/system\/cpu\/online: (\S+)/g)].map((m) => m[1]);
}

test('linux: 4 vCPUs (threads) boot, CPU 1 goes offline (vCPU destroyed) and online (created), power off', { skip, timeout: 120_000 }, async () => {
  const r = await boot({ maxVcpus: 4, executor: 'threads' });
  assert.match(r.console, /init: Linux guest up/);
  assert.deepEqual(onlineLists(r.console), ['0-3', '0,2-3', '0-3']);
  assert.equal(r.reason, 'shutdown');
  assert.equal(r.exitCode, 0);
  // The host saw 4 vCPUs, then 3 (vCPU 1 destroyed), then 4 again.
  const i4 = r.onlineSeen.indexOf(4);
  assert.ok(i4 >= 0, `online counts seen: ${r.onlineSeen}`);
  const i3 = r.onlineSeen.indexOf(3, i4);
  assert.ok(i3 > i4 && r.onlineSeen.indexOf(4, i3) > i3, `online counts seen: ${r.onlineSeen}`);
  assert.equal(r.threadsAfterClose, 0);
});

test('linux: with onHartStop "keep" the stopped vCPU is parked, not destroyed', { skip, timeout: 120_000 }, async () => {
  const r = await boot({ maxVcpus: 2, executor: 'threads', onHartStop: 'keep' });
  assert.deepEqual(onlineLists(r.console), ['0-1', '0', '0-1']);
  assert.equal(r.exitCode, 0);
  assert.ok(!r.onlineSeen.slice(r.onlineSeen.indexOf(2)).includes(1), `online counts seen: ${r.onlineSeen}`);
});

test('linux: the deterministic executor boots identically twice with the same seed', { skip, timeout: 180_000 }, async () => {
  const a = await boot({ maxVcpus: 4, executor: 'deterministic', seed: 42 });
  const b = await boot({ maxVcpus: 4, executor: 'deterministic', seed: 42 });
  assert.match(a.console, /init: Linux guest up/);
  assert.deepEqual(onlineLists(a.console), ['0-3', '0,2-3', '0-3']);
  assert.equal(a.exitCode, 0);
  assert.equal(a.console, b.console);
});
