/**
 * OS priorities of vCPU threads (host/thread-priority.ts): a vCPU running guest code runs `vcpuNice` below the
 * hypervisor's threads, a boost lifts it back for about one time slice, and `vcpuNice: 0` changes nothing.
 * Linux only (thread ids from /proc); the boost needs CAP_SYS_NICE or RLIMIT_NICE and is skipped without it.
 */
import { strict as assert } from 'node:assert';
import { getPriority } from 'node:os';
import { describe, it } from 'node:test';
import type { ThreadedExecutor } from '../src/host/threads.js';
import { canRaiseTo, currentThreadId, processNice, processThreadIds, setThreadNice } from '../src/host/thread-priority.js';
import { createVm } from '../src/hv/vm.js';
import { HvError } from '../src/hv/errors.js';
import { counterAddr, loadGuest, waitFor } from './helpers/guest.js';

const linux = currentThreadId() > 0;
/** Node's own threads, before any VM (this file's imports loaded thread-priority.ts on the main thread). */
const nodeThreads = processThreadIds().filter((t) => t !== process.pid);
const quiet = { onOutput: () => {}, onWarn: () => {} };

async function niceOf(tid: number, want: number, ms = 2000): Promise<number> {
  const end = performance.now() + ms;
  let n = getPriority(tid);
  while (n !== want && performance.now() < end) { await new Promise((r) => setTimeout(r, 2)); n = getPriority(tid); }
  return n;
}

describe('vCPU thread priorities', { skip: linux ? false : 'needs Linux thread ids (/proc/thread-self)' }, () => {
  it('a vCPU running guest code runs vcpuNice below the hypervisor, and a boost lifts it for a while', async () => {
    const base = processNice();
    await using vm = await createVm({ memoryMiB: 1, maxVcpus: 2, executor: 'threads', vcpuNice: 7, ...quiet });
    const g = loadGuest(vm.mem);
    (await vm.createVcpu(0)).start(g.counter, counterAddr(0));
    await waitFor(() => vm.mem.readU32(counterAddr(0)) > 0, 5000, "vCPU 0 counting");
    const ex = vm.executor as ThreadedExecutor;
    const tid = ex.threadId(0);
    assert.ok(tid > 0 && tid !== currentThreadId(), `vCPU 0 runs on its own thread (tid ${tid})`);
    assert.equal(await niceOf(tid, base + 7), base + 7, 'lowered after its first slice of guest code');
    assert.equal(getPriority(currentThreadId()), base, 'the owner thread keeps its priority');
    if (!canRaiseTo(base)) return; // no privilege to lift a thread: the boost is skipped by design
    ex.boost(0);
    assert.equal(getPriority(tid), base, 'boost lifts the thread at once');
    assert.equal(await niceOf(tid, base + 7), base + 7, 'and it lowers itself again after a time slice');
  });

  it('a vCPU whose hart the guest stopped goes with its thread, and later boosts of other vCPUs still work', async () => {
    const base = processNice();
    await using vm = await createVm({ memoryMiB: 1, maxVcpus: 2, executor: 'threads', vcpuNice: 7, ...quiet });
    const g = loadGuest(vm.mem);
    (await vm.createVcpu(0)).start(g.counter, counterAddr(0));
    const v1 = await vm.createVcpu(1);
    const ex = vm.executor as ThreadedExecutor;
    await waitFor(() => vm.mem.readU32(counterAddr(0)) > 0 && ex.threadId(1) > 0, 5000, 'vCPU 0 counting, vCPU 1 on a thread');
    v1.start(g.hartStop, 0);
    await waitFor(() => v1.isDestroyed, 5000, 'hart 1 to stop and be destroyed');
    assert.ok(((await ex.threadGone(1)) ?? 0) > 0, 'its thread has exited');
    if (!canRaiseTo(base)) return;
    // The owner lifts a thread it destroys; that thread may have ended already (ESRCH), which is no lack of privilege.
    const tid = ex.threadId(0);
    assert.equal(await niceOf(tid, base + 7), base + 7);
    ex.boost(0);
    assert.equal(getPriority(tid), base, 'vCPU 0 can still be lifted');
  });

  it("a threaded VM drops Node's own threads (V8's compiler and GC helpers) to nice 19, and no vCPU thread with them", async () => {
    assert.ok(nodeThreads.length > 0, 'Node runs helper threads');
    await using vm = await createVm({ memoryMiB: 1, maxVcpus: 1, executor: 'threads', vcpuNice: 3, ...quiet });
    const g = loadGuest(vm.mem);
    (await vm.createVcpu(0)).start(g.counter, counterAddr(0));
    await waitFor(() => vm.mem.readU32(counterAddr(0)) > 0, 5000, "vCPU 0 counting");
    const alive = nodeThreads.filter((t) => processThreadIds().includes(t));
    assert.ok(alive.length > 0);
    for (const t of alive) assert.equal(getPriority(t), 19, `Node thread ${t}`);
    const tid = (vm.executor as ThreadedExecutor).threadId(0);
    assert.ok(!nodeThreads.includes(tid));
    assert.equal(await niceOf(tid, processNice() + 3), processNice() + 3, 'the vCPU thread keeps its own priority');
    assert.equal(getPriority(currentThreadId()), processNice(), 'and the owner its own');
  });

  it('setting the nice value of a thread that has ended is not a failure (ESRCH), unlike a lack of privilege', () => {
    assert.equal(setThreadNice(0x3ffffff0, 5), true, 'no such thread: nothing left to set');
    assert.equal(setThreadNice(0, 5), false, 'no thread id');
  });

  it('vcpuNice 0 leaves vCPU threads at the hypervisor priority; out of range is EINVAL', async () => {
    const base = processNice();
    await using vm = await createVm({ memoryMiB: 1, maxVcpus: 1, executor: 'threads', vcpuNice: 0, ...quiet });
    const g = loadGuest(vm.mem);
    (await vm.createVcpu(0)).start(g.counter, counterAddr(0));
    await waitFor(() => vm.mem.readU32(counterAddr(0)) > 1000, 5000, "vCPU 0 counting");
    assert.equal(getPriority((vm.executor as ThreadedExecutor).threadId(0)), base);
    for (const bad of [-1, 20, 2.5]) {
      await assert.rejects(createVm({ memoryMiB: 1, vcpuNice: bad, ...quiet }), (e) => e instanceof HvError && e.code === 'EINVAL');
    }
  });
});
