/**
 * Multi-vCPU atomicity: 4 vCPUs each add 1 to one shared counter K times, with `amoadd.w`, and with an LR/SC
 * spin lock around a plain load/add/store. The total must be exactly 4 * K on both executors. Each hart raises
 * its flag when done; hart 0 waits for every flag and shuts the VM down with SBI SRST.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { createVm } from '../src/hv/vm.js';
import { FLAGS, LOCK, SHARED_COUNTER, loadGuest } from './helpers/guest.js';

const HARTS = 4;
const K = 20_000;

async function run(executor: 'deterministic' | 'threads', variant: 'amoadd' | 'lrsc' | 'racy', seed = 1): Promise<number> {
  const warnings: string[] = [];
  const vm = await createVm({ memoryMiB: 1, maxVcpus: HARTS, executor, seed, onOutput: () => {}, onWarn: (m) => warnings.push(m) });
  const timer = setTimeout(() => void vm.close(), 50_000);
  try {
    const g = loadGuest(vm.mem, { harts: HARTS, iterations: K });
    const vs = [];
    for (let id = 0; id < HARTS; id++) vs.push(await vm.createVcpu(id));
    for (const v of vs) v.start(g[variant], 0);
    const exit = await vm.wait();
    assert.deepEqual(exit, { reason: 'shutdown', exitCode: 0 }, `the guest shut down (${warnings.join('; ')})`);
    for (let id = 0; id < HARTS; id++) assert.equal(vm.mem.readU32(FLAGS + 4 * id), 1, `hart ${id} finished`);
    if (variant === 'lrsc') assert.equal(vm.mem.readU32(LOCK), 0, 'the lock is free at the end');
    assert.deepEqual(warnings, []);
    return vm.mem.readU32(SHARED_COUNTER);
  } finally {
    clearTimeout(timer);
    await vm.close();
    assert.equal(vm.threads, 0);
  }
}

for (const executor of ['deterministic', 'threads'] as const) {
  // Several rounds: on threads each is a different interleaving; on the deterministic executor, a different seed.
  const rounds = 3;
  describe(`atomicity across ${HARTS} vCPUs (${executor})`, () => {
    it(`amoadd.w: ${HARTS} x ${K} increments add up exactly (${rounds} rounds)`, async () => {
      for (let r = 1; r <= rounds; r++) assert.equal(await run(executor, 'amoadd', r), HARTS * K, `round ${r}`);
    });

    it(`LR/SC spin lock around load/add/store: ${HARTS} x ${K} increments add up exactly (${rounds} rounds)`, async () => {
      for (let r = 1; r <= rounds; r++) assert.equal(await run(executor, 'lrsc', r), HARTS * K, `round ${r}`);
    });
  });
}

describe('the atomicity tests can fail', () => {
  it('control: the same load/add/store without the lock loses updates (deterministic interleaving, seed 1)', async () => {
    const total = await run('deterministic', 'racy', 1);
    assert.ok(total < HARTS * K, `expected lost updates, got ${total}`);
  });
});
