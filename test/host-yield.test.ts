/**
 * Host work that needs a core (host/thread-priority.ts): the owner's count in Ctl.HOST_YIELD for a thread it waits
 * on is taken once and given back once, whoever ends the wait; and a VM that created and destroyed vCPUs while
 * others ran holds no count afterwards (a count left behind would make busy vCPUs give their cores away forever).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Ctl, Spare } from '../src/host/layout.js';
import { HostWait, hostWantsCore, releaseHostYield, requestHostYield } from '../src/host/thread-priority.js';
import type { ThreadedExecutor } from '../src/host/threads.js';
import { createVm, type Vcpu } from '../src/hv/vm.js';
import { counterAddr, loadGuest, waitFor } from './helpers/guest.js';

function words(): { ctl: Int32Array; a: Int32Array; b: Int32Array } {
  return { ctl: new Int32Array(Ctl.SIZE), a: new Int32Array(Spare.WORDS), b: new Int32Array(Spare.WORDS) };
}

describe('host yield counts', () => {
  it('a wait is counted once and released once, by whoever ends it', () => {
    const { ctl, a, b } = words();
    assert.equal(hostWantsCore(ctl, b), false);
    requestHostYield(ctl, a, HostWait.CREATE);
    assert.equal(ctl[Ctl.HOST_YIELD], 1);
    assert.equal(hostWantsCore(ctl, b), true, 'another busy thread gives way');
    assert.equal(hostWantsCore(ctl, a), false, 'the thread waited on does not');
    releaseHostYield(ctl, a, HostWait.CREATE); // the thread, after its first slice
    releaseHostYield(ctl, a, HostWait.CREATE); // the owner's time-out, later: nothing left to release
    assert.equal(ctl[Ctl.HOST_YIELD], 0);
    assert.equal(hostWantsCore(ctl, b), false);
  });

  it('an exit wait replaces a creation wait of the same thread without a second count', () => {
    const { ctl, a } = words();
    requestHostYield(ctl, a, HostWait.CREATE);
    requestHostYield(ctl, a, HostWait.EXIT); // destroyed before its first slice
    assert.equal(ctl[Ctl.HOST_YIELD], 1);
    releaseHostYield(ctl, a, HostWait.CREATE); // the end of its (first) slice must not end the exit wait
    assert.equal(ctl[Ctl.HOST_YIELD], 1);
    releaseHostYield(ctl, a, HostWait.EXIT);
    assert.equal(ctl[Ctl.HOST_YIELD], 0);
  });

  it('waits on two threads are counted apart; a boosted thread does not give way', () => {
    const { ctl, a, b } = words();
    requestHostYield(ctl, a, HostWait.EXIT);
    requestHostYield(ctl, b, HostWait.CREATE);
    assert.equal(ctl[Ctl.HOST_YIELD], 2);
    releaseHostYield(ctl, a, HostWait.EXIT);
    assert.equal(ctl[Ctl.HOST_YIELD], 1);
    const c = new Int32Array(Spare.WORDS);
    assert.equal(hostWantsCore(ctl, c), true);
    c[Spare.BOOST] = 1;
    assert.equal(hostWantsCore(ctl, c), false);
  });
});

describe('host yield in a running VM (threaded executor)', () => {
  it('a held boost (a hot-remove waiting for the hart to stop) makes busy vCPUs give way until it is let go', async () => {
    await using vm = await createVm({ memoryMiB: 1, maxVcpus: 2, executor: 'threads', onOutput: () => {}, onWarn: () => {} });
    const g = loadGuest(vm.mem);
    for (const id of [0, 1]) (await vm.createVcpu(id)).start(g.counter, counterAddr(id));
    await waitFor(() => vm.mem.readU32(counterAddr(0)) > 0 && vm.mem.readU32(counterAddr(1)) > 0, 15_000, 'busy vCPUs to run');
    // Creation waits end after each thread's first slice (or 20 ms).
    await waitFor(() => vm.registry.ctl[Ctl.HOST_YIELD] === 0, 2000, 'creation waits to end');
    const ex = vm.executor as ThreadedExecutor;
    ex.boost(1, true);
    assert.equal(vm.registry.ctl[Ctl.HOST_YIELD], 1, 'the host waits on vCPU 1');
    ex.boost(1, true);
    assert.equal(vm.registry.ctl[Ctl.HOST_YIELD], 1, 'counted once');
    ex.boost(1, false);
    assert.equal(vm.registry.ctl[Ctl.HOST_YIELD], 0, 'let go');
    ex.boost(0, false);
    assert.equal(vm.registry.ctl[Ctl.HOST_YIELD], 0, 'a short boost takes no count');
  });

  it('no count is left once vCPUs have been created and destroyed beside busy ones', async () => {
    const vm = await createVm({ memoryMiB: 1, maxVcpus: 4, executor: 'threads', onOutput: () => {}, onWarn: () => {} });
    try {
      const g = loadGuest(vm.mem);
      for (const id of [0, 1]) (await vm.createVcpu(id)).start(g.counter, counterAddr(id));
      await waitFor(() => vm.mem.readU32(counterAddr(0)) > 0 && vm.mem.readU32(counterAddr(1)) > 0, 15_000, 'busy vCPUs to run');
      for (let c = 0; c < 10; c++) {
        const v: Vcpu = await vm.createVcpu(3);
        if (c % 2 === 0) {
          v.start(g.counter, counterAddr(3));
          const before = vm.mem.readU32(counterAddr(3));
          await waitFor(() => vm.mem.readU32(counterAddr(3)) !== before, 10_000, 'vCPU 3 to run');
        }
        await v.destroy();
      }
      // Counts end with the thread's exit or a 20 ms time-out.
      await waitFor(() => vm.registry.ctl[Ctl.HOST_YIELD] === 0, 2000, `HOST_YIELD back to 0 (now ${vm.registry.ctl[Ctl.HOST_YIELD]})`);
      const t = vm.mem.readU32(counterAddr(0));
      await waitFor(() => vm.mem.readU32(counterAddr(0)) !== t, 5000, 'the busy vCPU to keep running');
    } finally {
      await vm.close();
    }
  });
});
