/**
 * Property test of the VM/vCPU life cycle against a reference model: random sequences of createVcpu(id),
 * destroy (through the vCPU handle or by id), start and close, some of them issued concurrently. Every
 * operation's outcome (success or HvError code) must match the model, and after every step so must
 * `vm.references`, `vm.onlineVcpus`, `vm.vcpuIds()`, each vCPU's HSM state and `vm.isTornDown` (teardown happens
 * exactly when the model's reference count reaches 0).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HvError } from '../src/hv/errors.js';
import { createVm, type Vcpu, type Vm } from '../src/hv/vm.js';
import { counterAddr, loadGuest, type GuestProgram } from './helpers/guest.js';

const MAX_VCPUS = 4;

type Op =
  | { k: 'create'; id: number }
  /** Through the newest handle returned for the id (by id when there is none). */
  | { k: 'destroy'; id: number }
  | { k: 'destroyId'; id: number }
  /** Through the newest handle returned for the id (skipped when there is none). */
  | { k: 'start'; id: number }
  | { k: 'close' }
  /** Let the guests run a little (one event-loop turn: a chunk of slices on the deterministic executor). */
  | { k: 'run' }
  /** create / destroyId issued together without awaiting, then awaited together. */
  | { k: 'batch'; ops: ({ k: 'create'; id: number } | { k: 'destroyId'; id: number })[] };

/** Outcome of one operation: 'ok', an HvError code, or 'skip' (nothing to act on). */
type Outcome = string;

/** The reference model. */
class Model {
  readonly present = new Map<number, { started: boolean }>();
  /** State of the newest handle returned for each id. */
  readonly handle = new Map<number, 'live' | 'dead'>();
  closed = false;

  get refs(): number { return this.closed ? 0 : 1 + this.present.size; }

  create(id: number): Outcome {
    if (this.closed) return 'EBADF';
    if (!Number.isInteger(id) || id < 0 || id >= MAX_VCPUS) return 'EINVAL';
    if (this.present.has(id)) return 'EEXIST';
    this.present.set(id, { started: false });
    this.handle.set(id, 'live');
    return 'ok';
  }

  destroyId(id: number): Outcome {
    if (this.closed) return 'EBADF';
    if (!this.present.has(id)) return 'ENODEV';
    this.present.delete(id);
    this.handle.set(id, 'dead');
    return 'ok';
  }

  destroy(id: number): Outcome {
    const h = this.handle.get(id);
    if (h === undefined) return this.destroyId(id);
    if (h === 'dead') return 'EBADF';
    return this.destroyId(id);
  }

  start(id: number): Outcome {
    const h = this.handle.get(id);
    if (h === undefined) return 'skip';
    if (h === 'dead') return 'EBADF';
    const p = this.present.get(id)!;
    if (p.started) return 'EBUSY';
    p.started = true;
    return 'ok';
  }

  close(): Outcome {
    this.closed = true;
    this.present.clear();
    for (const id of this.handle.keys()) this.handle.set(id, 'dead');
    return 'ok';
  }
}

/** The system under test, with the newest handle per id. */
class Real {
  readonly handles = new Map<number, Vcpu>();
  constructor(readonly vm: Vm, readonly guest: GuestProgram) {}

  private static async outcome(p: Promise<unknown> | (() => unknown)): Promise<Outcome> {
    try {
      await (typeof p === 'function' ? p() : p);
      return 'ok';
    } catch (e) {
      if (e instanceof HvError) return e.code;
      throw e;
    }
  }

  create(id: number): Promise<Outcome> {
    return Real.outcome(this.vm.createVcpu(id).then((v) => { this.handles.set(id, v); }));
  }

  destroyId(id: number): Promise<Outcome> {
    return Real.outcome(this.vm.destroyVcpu(id));
  }

  destroy(id: number): Promise<Outcome> {
    const h = this.handles.get(id);
    return h === undefined ? this.destroyId(id) : Real.outcome(() => h.destroy());
  }

  start(id: number): Promise<Outcome> {
    const h = this.handles.get(id);
    if (h === undefined) return Promise.resolve('skip');
    return Real.outcome(() => h.start(this.guest.counter, counterAddr(id)));
  }

  close(): Promise<Outcome> {
    return Real.outcome(this.vm.close());
  }
}

// Ids are biased towards 0 and 1 so that the same vCPU is created, started, destroyed and created again often.
const goodId = fc.oneof(fc.constant(0), fc.constant(1), fc.integer({ min: 0, max: MAX_VCPUS - 1 }));
const anyId = fc.oneof({ arbitrary: goodId, weight: 4 }, { arbitrary: fc.constantFrom(-1, MAX_VCPUS, 1.5), weight: 1 });

function opArb(withClose: boolean): fc.Arbitrary<Op> {
  const ops: fc.Arbitrary<Op>[] = [
    anyId.map((id) => ({ k: 'create', id }) as const),
    anyId.map((id) => ({ k: 'create', id }) as const),
    goodId.map((id) => ({ k: 'destroy', id }) as const),
    anyId.map((id) => ({ k: 'destroyId', id }) as const),
    goodId.map((id) => ({ k: 'start', id }) as const),
    fc.array(fc.oneof(
      goodId.map((id) => ({ k: 'create', id }) as const),
      goodId.map((id) => ({ k: 'destroyId', id }) as const),
    ), { minLength: 2, maxLength: 6 }).map((b) => ({ k: 'batch', ops: b }) as const),
  ];
  const rare: fc.WeightedArbitrary<Op>[] = [{ arbitrary: fc.constant({ k: 'run' } as const), weight: 1 }];
  if (withClose) rare.push({ arbitrary: fc.constant({ k: 'close' } as const), weight: 1 });
  return fc.oneof({ arbitrary: fc.oneof(...ops), weight: 20 }, ...rare);
}

function checkState(vm: Vm, m: Model, step: string): void {
  assert.equal(vm.references, m.refs, `${step}: references`);
  assert.equal(vm.isTornDown, m.refs === 0, `${step}: torn down exactly when the model's count is 0`);
  assert.equal(vm.onlineVcpus, m.present.size, `${step}: onlineVcpus`);
  assert.deepEqual(vm.vcpuIds(), [...m.present.keys()].sort((a, b) => a - b), `${step}: vcpuIds`);
  for (const [id, p] of m.present) {
    const hsm = vm.vcpuInfo(id).hsm;
    if (p.started) assert.ok(hsm === 'started' || hsm === 'start_pending', `${step}: vCPU ${id} started, HSM ${hsm}`);
    else assert.equal(hsm, 'stopped', `${step}: vCPU ${id} never started, HSM ${hsm}`);
  }
}

async function runSequence(executor: 'deterministic' | 'threads', ops: Op[]): Promise<void> {
  const vm = await createVm({ memoryMiB: 1, maxVcpus: MAX_VCPUS, executor, onOutput: () => {}, onWarn: () => {} });
  const real = new Real(vm, loadGuest(vm.mem));
  const m = new Model();
  try {
    checkState(vm, m, 'start');
    for (const [i, op] of ops.entries()) {
      const step = `op ${i} ${JSON.stringify(op)}`;
      switch (op.k) {
        case 'create': assert.equal(await real.create(op.id), m.create(op.id), step); break;
        case 'destroy': assert.equal(await real.destroy(op.id), m.destroy(op.id), step); break;
        case 'destroyId': assert.equal(await real.destroyId(op.id), m.destroyId(op.id), step); break;
        case 'start': assert.equal(await real.start(op.id), m.start(op.id), step); break;
        case 'close': assert.equal(await real.close(), m.close(), step); break;
        case 'run': await new Promise((r) => (executor === 'threads' ? setTimeout(r, 5) : setImmediate(r))); break;
        case 'batch': {
          const got = await Promise.all(op.ops.map((o) => (o.k === 'create' ? real.create(o.id) : real.destroyId(o.id))));
          const want = op.ops.map((o) => (o.k === 'create' ? m.create(o.id) : m.destroyId(o.id)));
          assert.deepEqual(got, want, step);
          break;
        }
      }
      checkState(vm, m, step);
    }
    // Closing at the end takes every reference away.
    assert.equal(await real.close(), m.close());
    checkState(vm, m, 'final close');
    assert.equal(vm.threads, 0, 'no executor thread left');
  } finally {
    await vm.close();
  }
}

describe('VM life cycle against a reference model', () => {
  it('deterministic executor: 400 sequences of up to 40 operations', async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb(true), { maxLength: 40 }), (ops) => runSequence('deterministic', ops)), {
      numRuns: 400,
    });
  });

  it('threaded executor: 25 sequences of up to 12 operations', async () => {
    await fc.assert(fc.asyncProperty(fc.array(opArb(true), { maxLength: 12 }), (ops) => runSequence('threads', ops)), {
      numRuns: 25,
    });
  });

  it('the model agrees on known sequences (re-create after destroy, start before destroy, close)', async () => {
    const seq: Op[] = [
      { k: 'create', id: 1 }, { k: 'start', id: 1 }, { k: 'destroy', id: 1 }, { k: 'create', id: 1 }, { k: 'start', id: 1 },
      { k: 'start', id: 1 }, { k: 'destroy', id: 1 }, { k: 'destroy', id: 1 }, { k: 'destroyId', id: 1 },
      { k: 'batch', ops: [{ k: 'create', id: 2 }, { k: 'create', id: 2 }, { k: 'destroyId', id: 2 }, { k: 'create', id: 2 }] },
      { k: 'create', id: 4 }, { k: 'close' }, { k: 'create', id: 0 }, { k: 'destroyId', id: 2 }, { k: 'start', id: 2 },
    ];
    for (const executor of ['deterministic', 'threads'] as const) await runSequence(executor, seq);
  });
});
