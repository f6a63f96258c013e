/**
 * VM/vCPU life-cycle API semantics: typed errors with stable codes, re-creating ids, `await using`, reference
 * counting and teardown, and that nothing is left behind (threads, workers, RAM) once a VM is closed.
 * Each behaviour is checked on both executors unless it is about threads.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, promises as fsp } from 'node:fs';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { HvError, type HvErrorCode } from '../src/hv/errors.js';
import { MAX_VCPUS_LIMIT, createVm, type Vcpu, type Vm, type VmConfig } from '../src/hv/vm.js';
import type { ThreadedExecutor } from '../src/host/threads.js';
import { RESULTS, counterAddr, loadGuest, tick, waitFor } from './helpers/guest.js';

const EXECUTORS = ['deterministic', 'threads'] as const;
type ExecutorName = (typeof EXECUTORS)[number];

const quiet = { onOutput: () => {}, onWarn: () => {} } satisfies VmConfig;

function vmConfig(executor: ExecutorName, extra: VmConfig = {}): VmConfig {
  return { memoryMiB: 1, maxVcpus: 4, executor, ...quiet, ...extra };
}

/** An HvError with exactly this code (assert.throws/rejects validator). */
function hv(code: HvErrorCode): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof HvError, `expected an HvError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    return true;
  };
}

/** OS threads of this process (Linux), or undefined elsewhere. */
function osThreads(): number | undefined {
  try {
    const m = /^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resource kinds of the event loop that belong to worker threads. */
function workerResources(): string[] {
  return process.getActiveResourcesInfo().filter((r) => /worker|messageport/i.test(r));
}

describe('VM configuration errors', () => {
  it('maxVcpus outside 1..1024 or not an integer is EINVAL', async () => {
    for (const maxVcpus of [0, -1, MAX_VCPUS_LIMIT + 1, 4096, 1.5, Number.NaN]) {
      await assert.rejects(createVm({ ...quiet, executor: 'deterministic', memoryMiB: 1, maxVcpus }), hv('EINVAL'), `maxVcpus ${maxVcpus}`);
    }
  });

  it('memoryMiB outside 1..2047 is EINVAL', async () => {
    for (const memoryMiB of [0, 2048, 0.5]) {
      await assert.rejects(createVm({ ...quiet, executor: 'deterministic', memoryMiB }), hv('EINVAL'), `memoryMiB ${memoryMiB}`);
    }
  });

  it('maxVcpus = 1024 is accepted and every id 0..1023 can be created', async () => {
    const vm = await createVm({ ...quiet, executor: 'deterministic', memoryMiB: 1, maxVcpus: MAX_VCPUS_LIMIT });
    try {
      for (let id = 0; id < MAX_VCPUS_LIMIT; id++) await vm.createVcpu(id);
      assert.equal(vm.onlineVcpus, MAX_VCPUS_LIMIT);
      assert.equal(vm.references, MAX_VCPUS_LIMIT + 1);
      await assert.rejects(vm.createVcpu(MAX_VCPUS_LIMIT), hv('EINVAL'));
    } finally {
      await vm.close();
    }
    assert.equal(vm.references, 0);
    assert.equal(vm.onlineVcpus, 0);
  });
});

for (const executor of EXECUTORS) {
  describe(`vCPU API errors (${executor})`, () => {
    it('a duplicate id is EEXIST, also when both creates are in flight at once', async () => {
      const vm = await createVm(vmConfig(executor));
      try {
        await vm.createVcpu(1);
        await assert.rejects(vm.createVcpu(1), hv('EEXIST'));
        const [a, b] = await Promise.allSettled([vm.createVcpu(2), vm.createVcpu(2)]);
        assert.equal(a.status, 'fulfilled');
        assert.equal(b.status, 'rejected');
        hv('EEXIST')((b as PromiseRejectedResult).reason);
        assert.deepEqual(vm.vcpuIds(), [1, 2]);
        assert.equal(vm.references, 3);
      } finally {
        await vm.close();
      }
    });

    it('an id out of range is EINVAL', async () => {
      const vm = await createVm(vmConfig(executor));
      try {
        for (const id of [-1, 4, 1024, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
          await assert.rejects(vm.createVcpu(id), hv('EINVAL'), `id ${id}`);
        }
        assert.equal(vm.references, 1);
        assert.equal(vm.onlineVcpus, 0);
      } finally {
        await vm.close();
      }
    });

    it('a destroyed vCPU handle is EBADF for start, info and destroy', async () => {
      const vm = await createVm(vmConfig(executor));
      const g = loadGuest(vm.mem);
      try {
        const v = await vm.createVcpu(0);
        v.start(g.counter, counterAddr(0));
        await v.destroy();
        assert.equal(v.isDestroyed, true);
        assert.throws(() => v.start(g.counter, 0), hv('EBADF'));
        assert.throws(() => v.info(), hv('EBADF'));
        await assert.rejects(v.destroy(), hv('EBADF'));
        assert.equal(vm.references, 1);
      } finally {
        await vm.close();
      }
    });

    it('destroying an id that has no vCPU is ENODEV', async () => {
      const vm = await createVm(vmConfig(executor));
      try {
        await assert.rejects(vm.destroyVcpu(3), hv('ENODEV'));
        const v = await vm.createVcpu(3);
        await v.destroy();
        await assert.rejects(vm.destroyVcpu(3), hv('ENODEV'));
        assert.equal(vm.references, 1);
      } finally {
        await vm.close();
      }
    });

    it('the id-based VM calls: start of an absent vCPU is ENODEV, info of an id out of range is EINVAL', async () => {
      const vm = await createVm(vmConfig(executor));
      const g = loadGuest(vm.mem);
      try {
        assert.throws(() => vm.startVcpu(2, g.counter, counterAddr(2)), hv('ENODEV'));
        assert.equal(vm.vcpuInfo(2).hsm, 'stopped', 'nothing was posted to the absent hart');
        const v = await vm.createVcpu(2);
        assert.equal(v.info().hsm, 'stopped');
        vm.startVcpu(2, g.counter, counterAddr(2));
        assert.throws(() => vm.vcpuInfo(4), hv('EINVAL'));
        assert.throws(() => vm.vcpuInfo(-1), hv('EINVAL'));
      } finally {
        await vm.close();
      }
      assert.throws(() => vm.startVcpu(2, g.counter, 0), hv('EBADF'));
    });

    it('starting a vCPU that is already started is EBUSY', async () => {
      const vm = await createVm(vmConfig(executor));
      const g = loadGuest(vm.mem);
      try {
        const v = await vm.createVcpu(0);
        v.start(g.counter, counterAddr(0));
        assert.throws(() => v.start(g.counter, counterAddr(0)), hv('EBUSY'));
      } finally {
        await vm.close();
      }
    });

    it('a closed VM is EBADF for every operation; its vCPU handles are destroyed', async () => {
      const vm = await createVm(vmConfig(executor));
      const g = loadGuest(vm.mem);
      const v = await vm.createVcpu(0);
      v.start(g.counter, counterAddr(0));
      const idle = await vm.createVcpu(1);
      await vm.close();
      await vm.close(); // idempotent
      await assert.rejects(vm.createVcpu(2), hv('EBADF'));
      await assert.rejects(vm.createVcpu(99), hv('EBADF'), 'a closed VM is EBADF before the id is looked at');
      await assert.rejects(vm.destroyVcpu(0), hv('EBADF'), 'vm.destroyVcpu on a closed VM');
      for (const h of [v, idle]) {
        assert.equal(h.isDestroyed, true);
        assert.throws(() => h.start(g.counter, 0), hv('EBADF'));
        await assert.rejects(h.destroy(), hv('EBADF'));
      }
      assert.equal((await vm.wait()).reason, 'closed');
    });

    it('a destroyed id can be created again: a new, stopped vCPU with a new generation', async () => {
      const vm = await createVm(vmConfig(executor));
      const g = loadGuest(vm.mem);
      try {
        const v1 = await vm.createVcpu(2);
        v1.start(g.counter, counterAddr(2));
        await waitFor(() => vm.mem.readU32(counterAddr(2)) > 0, 10_000, 'vCPU 2 to run');
        await v1.destroy();
        const v2 = await vm.createVcpu(2);
        assert.notEqual(v2, v1);
        assert.ok(v2.generation > v1.generation, `generation ${v2.generation} after ${v1.generation}`);
        assert.equal(v2.info().hsm, 'stopped');
        assert.throws(() => v1.start(g.counter, 0), hv('EBADF'), 'the old handle stays dead');
        vm.mem.writeU32(counterAddr(3), 0);
        v2.start(g.counter, counterAddr(3));
        await waitFor(() => vm.mem.readU32(counterAddr(3)) > 0, 10_000, 're-created vCPU 2 to run');
        assert.equal(vm.getVcpu(2), v2);
        assert.equal(vm.references, 2);
      } finally {
        await vm.close();
      }
    });

    it('a vCPU destroyed before it took its start comes back stopped (the stale start is not inherited)', async () => {
      const vm = await createVm(vmConfig(executor));
      const g = loadGuest(vm.mem);
      try {
        for (let round = 0; round < 20; round++) {
          const v = await vm.createVcpu(1);
          assert.equal(v.info().hsm, 'stopped', `round ${round}: a new vCPU is stopped`);
          v.start(g.counter, counterAddr(1)); // posted; the vCPU may or may not have taken it yet
          await v.destroy();
        }
        const v = await vm.createVcpu(1);
        assert.equal(v.info().hsm, 'stopped');
        v.start(g.counter, counterAddr(1));
      } finally {
        await vm.close();
      }
    });
  });

  describe(`references and teardown (${executor})`, () => {
    it('one reference for the owner plus one per vCPU; torn down exactly when the last goes', async () => {
      const vm = await createVm(vmConfig(executor));
      const g = loadGuest(vm.mem);
      assert.equal(vm.references, 1);
      const vs: Vcpu[] = [];
      for (let id = 0; id < 4; id++) {
        vs.push(await vm.createVcpu(id));
        assert.equal(vm.references, id + 2);
        assert.equal(vm.onlineVcpus, id + 1);
      }
      vs[0]!.start(g.counter, counterAddr(0));
      vs[1]!.start(g.counter, counterAddr(1));
      await vs[3]!.destroy();
      assert.equal(vm.references, 4);
      assert.equal(vm.onlineVcpus, 3);
      assert.equal(vm.isTornDown, false);

      // Sample the state at every turn of the event loop while close() runs.
      const samples: { refs: number; torn: boolean; vcpus: number }[] = [];
      let done = false;
      const sampler = (async () => {
        while (!done) {
          samples.push({ refs: vm.references, torn: vm.isTornDown, vcpus: vm.vcpuIds().length });
          await tick();
        }
      })();
      const closing = vm.close();
      assert.equal(vm.isTornDown, false, 'not torn down while vCPUs exist');
      await closing;
      done = true;
      await sampler;
      assert.equal(vm.isTornDown, true);
      assert.equal(vm.references, 0);
      assert.equal(vm.onlineVcpus, 0);
      for (const v of vs) assert.equal(v.isDestroyed, true);
      let prev = Infinity;
      for (const s of samples) {
        assert.ok(s.refs <= prev, 'references never go up during close');
        prev = s.refs;
        if (s.vcpus > 0 || s.refs > 0) assert.equal(s.torn, false, `torn down with ${s.refs} references / ${s.vcpus} vCPUs`);
        if (s.torn) assert.equal(s.refs, 0);
      }
    });

    it('a guest hart_start creates the vCPU on demand (a new reference); hart_stop destroys it (reference dropped)', async () => {
      const vm = await createVm(vmConfig(executor));
      const g = loadGuest(vm.mem);
      try {
        vm.mem.writeU32(RESULTS, 0x7fffffff);
        const v0 = await vm.createVcpu(0);
        v0.start(g.spawn, 2); // hart 0 starts hart 2 at the counter loop
        await waitFor(() => vm.vcpuIds().includes(2) && vm.mem.readU32(counterAddr(2)) > 0 && (vm.mem.readU32(RESULTS) | 0) !== 0x7fffffff, 10_000, 'hart 2 to be created and run, and hart 0 to record the result');
        assert.equal(vm.mem.readU32(RESULTS) | 0, 0, 'hart_start returned SBI_SUCCESS');
        assert.equal(vm.references, 3);
        assert.equal(vm.onlineVcpus, 2);
        assert.equal(vm.vcpuInfo(2).hsm, 'started');

        const v1 = await vm.createVcpu(1);
        assert.equal(vm.references, 4);
        v1.start(g.hartStop, 0);
        await waitFor(() => v1.isDestroyed, 10_000, 'hart 1 to stop and be destroyed');
        assert.equal(vm.references, 3);
        assert.deepEqual(vm.vcpuIds(), [0, 2]);
        assert.equal(vm.vcpuInfo(1).hsm, 'stopped');
        assert.equal(vm.isTornDown, false);
      } finally {
        await vm.close();
      }
      assert.equal(vm.isTornDown, true);
      assert.throws(() => vm.mem, hv('EBADF'), 'a torn-down VM has no RAM to read');
    });

    it('await using disposes the VM and its vCPUs; a vCPU in an inner scope is destroyed on leaving it', async () => {
      let outer: Vm | undefined;
      let kept: Vcpu | undefined;
      {
        await using vm = await createVm(vmConfig(executor));
        outer = vm;
        const g = loadGuest(vm.mem);
        kept = await vm.createVcpu(0);
        kept.start(g.counter, counterAddr(0));
        {
          await using inner = await vm.createVcpu(1);
          inner.start(g.counter, counterAddr(1));
          assert.equal(vm.references, 3);
        }
        assert.equal(vm.references, 2, 'the inner vCPU dropped its reference');
        assert.deepEqual(vm.vcpuIds(), [0]);
        assert.equal(vm.isTornDown, false);
      }
      assert.equal(outer.isTornDown, true);
      assert.equal(outer.references, 0);
      assert.equal(kept.isDestroyed, true);
      assert.equal(outer.threads, 0);
    });

    it('await using still tears the VM down when the scope throws', async () => {
      let outer: Vm | undefined;
      await assert.rejects((async () => {
        await using vm = await createVm(vmConfig(executor));
        outer = vm;
        await vm.createVcpu(0);
        throw new Error('boom');
      })(), /boom/);
      assert.equal(outer!.isTornDown, true);
      assert.equal(outer!.threads, 0);
    });
  });
}

describe('threads and workers are released (threaded executor)', () => {
  it('vm.threads counts live vCPU and spare threads, and is 0 after close; no worker is left in the process', async () => {
    await fsp.stat('.'); // start libuv's thread pool now, so it does not count against the baseline
    const baseline = osThreads();
    const vm = await createVm(vmConfig('threads', { maxVcpus: 4 }));
    const g = loadGuest(vm.mem);
    assert.ok(vm.threads >= 1, 'spare threads are warm');
    const vs: Vcpu[] = [];
    for (let id = 0; id < 4; id++) {
      const v = await vm.createVcpu(id);
      v.start(g.counter, counterAddr(id));
      vs.push(v);
    }
    assert.ok(vm.threads >= 4, `at least one thread per vCPU, got ${vm.threads}`);
    await waitFor(() => vs.every((_, id) => vm.mem.readU32(counterAddr(id)) > 0), 15_000, 'all vCPUs to run');
    await vs[2]!.destroy();
    await waitFor(() => vm.threads >= 3, 1000, 'thread count');
    await vm.close();
    assert.equal(vm.threads, 0, 'vm.threads after close');
    assert.deepEqual(workerResources(), [], 'no worker/MessagePort handles left on the event loop');
    if (baseline !== undefined) {
      // Worker OS threads are joined shortly after their 'exit' event.
      await waitFor(() => osThreads()! <= baseline, 5000, `OS threads back to ${baseline} (now ${osThreads()})`);
    }
  });

  it('keeps a spare per free id (up to the pool), one when every id runs but only once the VM has settled; the full pool for good once the host destroys', async () => {
    // maxVcpus 5: at most 4 spares. With every vCPU created one spare is enough (a 4-vCPU Linux boot paid for 3),
    // and it boots 2 s after the last creation (a 4-vCPU Linux boot paid for 2 it never used).
    const vm = await createVm(vmConfig('threads', { maxVcpus: 5 }));
    try {
      const g = loadGuest(vm.mem);
      const vs: Vcpu[] = [];
      const create = async (id: number): Promise<void> => {
        const v = await vm.createVcpu(id);
        if (id < 4) v.start(g.counter, counterAddr(id));
        vs.push(v);
      };
      for (let id = 0; id < 3; id++) await create(id);
      // Two ids are free: two spares, not the pool of 4 (a spare that can never get a vCPU costs an isolate).
      await waitFor(() => vm.threads === 3 + 2, 10_000, `3 vCPU threads and 2 spares (now ${vm.threads})`);
      await new Promise((r) => setTimeout(r, 300)); // the executor refills 25 ms after a change
      assert.equal(vm.threads, 3 + 2, 'no more spares than free ids');
      for (let id = 3; id < 5; id++) await create(id);
      await waitFor(() => [0, 1, 2, 3].every((id) => vm.mem.readU32(counterAddr(id)) > 0), 15_000, 'vCPUs 0-3 to run');
      await waitFor(() => vm.threads === 5, 5000, `5 vCPU threads and no spare yet (now ${vm.threads})`);
      await new Promise((r) => setTimeout(r, 300)); // the executor refills 25 ms after a change
      assert.equal(vm.threads, 5, 'no spare right after every id was created');
      await waitFor(() => vm.threads === 6, 10_000, `5 vCPU threads and 1 spare (now ${vm.threads})`);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(vm.threads, 6, 'no spare beyond one while every id runs');
      // The guest stops hart 4 itself (HSM hart_stop; the VM destroys it): its thread is a spare again, beside the
      // one there was.
      vs[4]!.start(g.hartStop, 0);
      await waitFor(() => vs[4]!.isDestroyed, 10_000, 'hart 4 to stop and be destroyed');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(vm.threads, 4 + 2, 'after a guest stop: its thread kept as a spare');
      // The host destroys a vCPU: ids come and go, so the full pool of 4.
      await vs[3]!.destroy();
      await waitFor(() => vm.threads === 3 + 4, 5000, `3 vCPU threads and a full pool of 4 spares (now ${vm.threads})`);
      // Every id runs again; the host removes and adds vCPUs here, so the pool stays full for the next hot-add.
      for (const id of [3, 4]) await vm.createVcpu(id);
      await waitFor(() => vm.threads === 5 + 4, 5000, `5 vCPU threads and a full pool of 4 spares (now ${vm.threads})`);
    } finally {
      await vm.close();
    }
    assert.equal(vm.threads, 0);
  });

  it('a thread whose guest stopped its hart becomes a spare, and the next vCPU runs on it', async () => {
    // maxVcpus 3: a pool of 2 spares, one of them kept while an id is free.
    const vm = await createVm(vmConfig('threads', { maxVcpus: 3 }));
    try {
      const g = loadGuest(vm.mem);
      const ex = vm.executor as ThreadedExecutor;
      (await vm.createVcpu(0)).start(g.counter, counterAddr(0));
      const v1 = await vm.createVcpu(1);
      await waitFor(() => ex.threadId(1) > 0 && vm.threads === 3, 10_000, 'vCPU 1 on its thread, and one spare');
      const tid = ex.threadId(1);
      v1.start(g.hartStop, 0);
      await waitFor(() => v1.isDestroyed, 10_000, 'hart 1 to stop and be destroyed');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(vm.threads, 1 + 2, 'vCPU 0, the spare, and the parked thread as a spare');
      (await vm.createVcpu(1)).start(g.counter, counterAddr(1));
      await waitFor(() => vm.mem.readU32(counterAddr(1)) > 0, 10_000, 'the new vCPU 1 to run');
      assert.equal(ex.threadId(1), tid, 'the new vCPU 1 runs on the thread of the one its guest stopped');
    } finally {
      await vm.close();
    }
    assert.equal(vm.threads, 0);
    assert.deepEqual(workerResources(), []);
  });

  it('a VM whose image does not fit is refused without leaking its threads', async () => {
    await fsp.stat('.');
    const baseline = osThreads();
    const image = new Uint8Array(2 * 1024 * 1024); // does not fit in 1 MiB of RAM
    await assert.rejects(createVm(vmConfig('threads', { image })));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(workerResources(), []);
    if (baseline !== undefined) {
      await waitFor(() => osThreads()! <= baseline, 5000, `OS threads back to ${baseline} (now ${osThreads()})`);
    }
  });
});

/** `gc()` without --expose-gc on the command line (V8 flag set at run time, exposed in a fresh context). */
function getGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function collect(gc: () => void, ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 10 && ref.deref() !== undefined; i++) {
    await new Promise((r) => setTimeout(r, 10));
    gc();
  }
  return ref.deref() === undefined;
}

for (const executor of EXECUTORS) {
  describe(`guest RAM is released (${executor})`, () => {
    it('once the VM is closed and its handle dropped, the RAM buffer is garbage-collected', async () => {
      const gc = getGc();
      const run = async (): Promise<WeakRef<SharedArrayBuffer>> => {
        const vm = await createVm(vmConfig(executor));
        const g = loadGuest(vm.mem);
        for (let id = 0; id < 3; id++) (await vm.createVcpu(id)).start(g.counter, counterAddr(id));
        await waitFor(() => vm.mem.readU32(counterAddr(2)) > 0, 10_000, 'vCPUs to run');
        const ref = new WeakRef(vm.mem.sab);
        await vm.close();
        return ref;
      };
      const ref = await run();
      assert.equal(await collect(gc, ref), true, 'guest RAM still reachable after close');
    });

    it('while a vCPU exists the RAM is kept', async () => {
      const gc = getGc();
      const vm = await createVm(vmConfig(executor));
      try {
        await vm.createVcpu(0);
        const ref = new WeakRef(vm.mem.sab);
        assert.equal(await collect(gc, ref), false);
      } finally {
        await vm.close();
      }
    });

    it('a torn-down VM drops its RAM even while the owner still holds the handle', async () => {
      const gc = getGc();
      const vm = await createVm(vmConfig(executor));
      const ref = new WeakRef(vm.mem.sab);
      await vm.createVcpu(0);
      await vm.close();
      assert.equal(vm.isTornDown, true);
      assert.equal(await collect(gc, ref), true, 'RAM still reachable from a torn-down Vm');
      assert.throws(() => vm.mem, hv('EBADF'));
    });
  });
}

describe('registry grace periods', () => {
  it('re-creating an id waits for readers that may still see the old vCPU', async () => {
    const vm = await createVm(vmConfig('deterministic'));
    try {
      const v = await vm.createVcpu(1);
      // A reader on vCPU slot 3's thread enters a read-side section (as directed yield would) and stays there.
      vm.registry.readLock(3);
      await v.destroy();
      let created = false;
      const again = vm.createVcpu(1).then((x) => { created = true; return x; });
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(created, false, 'the slot is not reused inside the grace period');
      assert.equal(vm.registry.present(1), false);
      vm.registry.readUnlock(3);
      const v2 = await again;
      assert.equal(v2.id, 1);
      assert.ok(v2.generation > v.generation);
    } finally {
      await vm.close();
    }
  });

  it('a grace period that never ends fails the create with ETIMEDOUT, leaving the VM consistent', async () => {
    const vm = await createVm(vmConfig('deterministic'));
    try {
      const v = await vm.createVcpu(1);
      vm.registry.readLock(3);
      await v.destroy();
      await assert.rejects(vm.createVcpu(1), hv('ETIMEDOUT'));
      assert.equal(vm.references, 1);
      assert.equal(vm.onlineVcpus, 0);
      vm.registry.readUnlock(3);
      await vm.createVcpu(1);
      assert.equal(vm.references, 2);
    } finally {
      await vm.close();
    }
  });
});
