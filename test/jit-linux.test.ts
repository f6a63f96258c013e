/**
 * End-to-end differential test of the translating engine: the Linux guest (../shared/guests/linux) booted to
 * power-off on 4 vCPUs by the deterministic executor, once with the interpreter and once with the translator at a
 * low threshold (most of the kernel's loops translated). Guest time is virtual there (it advances with retired
 * instructions), so the console output is identical only if both engines retire exactly the same instructions
 * and take the same traps and interrupts at the same points.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createVm } from '../src/hv/vm.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const IMAGE = path.resolve(repo, '../shared/guests/linux/Image');
const skip = existsSync(IMAGE) ? false : `Linux guest image not found at ${IMAGE}`;

/** Boots with the engine settings in `env` (read by each hart when it is made); returns console and exit. */
async function boot(env: Record<string, string | undefined>): Promise<{ text: string; reason: string; exitCode: number }> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  try {
    let text = '';
    const vm = await createVm({
      image: readFileSync(IMAGE), memoryMiB: 256, maxVcpus: 4, bootargs: 'console=hvc0 earlycon=sbi', onWarn: () => {},
      executor: 'deterministic', seed: 7, onOutput: (b) => { text += Buffer.from(b).toString('latin1'); },
    });
    const deadline = setTimeout(() => void vm.close(), 120_000);
    const exit = await vm.wait();
    clearTimeout(deadline);
    await vm.close();
    return { text, reason: exit.reason, exitCode: exit.exitCode };
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
}

test('jit: a deterministic 4-vCPU Linux boot prints exactly what the interpreter\'s does', { skip, timeout: 240_000 }, async () => {
  const ref = await boot({ HARTVISOR_ENGINE: 'interp', HARTVISOR_JIT_THRESHOLD: undefined });
  const jit = await boot({ HARTVISOR_ENGINE: 'jit', HARTVISOR_JIT_THRESHOLD: '16' });
  assert.match(ref.text, /init: Linux guest up/);
  assert.equal(ref.reason, 'shutdown');
  assert.equal(ref.exitCode, 0);
  assert.equal(jit.reason, ref.reason);
  assert.equal(jit.exitCode, ref.exitCode);
  assert.equal(jit.text, ref.text);
});
