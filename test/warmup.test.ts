/**
 * The engine warm-up program (cpu/warmup.ts) must go through the paths it is there to show V8: if a change to it
 * stopped reaching one (a trap handler that no longer returns, a loop that never runs), vCPU threads would again
 * recompile the interpreter over and over during a guest's run. Checked through what a hart can report: traps
 * by cause, run exits, translator counters; and the two engines must end in the same state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Exit, Hart } from '../src/cpu/hart.js';
import type { HartOptions } from '../src/cpu/hart.js';
import { GuestMemory } from '../src/cpu/memory.js';
import { runWarmUp, warmedUp } from '../src/cpu/warmup.js';
import { createVm } from '../src/hv/vm.js';

class Recording extends Hart {
  readonly causes = new Set<number>();
  readonly exits = new Set<number>();
  constructor(mem: GuestMemory, opts: HartOptions) { super(mem, opts); }
  override raise(cause: number, tval: number): void { this.causes.add(cause); super.raise(cause, tval); }
  override run(budget: number): number { const e = super.run(budget); this.exits.add(e); return e; }
}

test('warm-up: the program reaches every trap, exit and translator path it is meant to, in both engines alike', () => {
  const harts = runWarmUp((m, o) => new Recording(m, o)) as Recording[];
  assert.equal(harts.length, 2);
  for (const h of harts) {
    assert.ok(!h.exits.has(Exit.TrapLoop), "the trap handler faulted");
    // instruction access fault (the call outside RAM), illegal instruction, breakpoint, load and store access
    // faults (past the end of RAM), ECALL from S and from M.
    for (const cause of [1, 2, 3, 5, 7, 9, 11]) assert.ok(h.causes.has(cause), `cause ${cause} never raised`);
    for (const e of [Exit.Budget, Exit.Wfi, Exit.Pause]) assert.ok(h.exits.has(e), `exit ${e} never returned`);
    assert.ok(h.instret > 4000, `only ${h.instret} instructions retired`);
  }
  const [interp, jit] = harts;
  assert.equal(interp.jitStats, null);
  const js = jit.jitStats!;
  assert.ok(js.regions >= 1, 'no loop was translated');
  assert.ok(js.pageInvalidations >= 1, 'the store into code never invalidated a translated page');
  // Same program, same budgets: the translator must end exactly where the interpreter does.
  assert.deepEqual([...jit.regs], [...interp.regs]);
  assert.equal(jit.pc, interp.pc);
  assert.equal(jit.instret, interp.instret);
});

test('warm-up: a spare without VmConfig.warmUp primes with two rounds, on the one engine asked for', () => {
  const harts = runWarmUp((m, o) => new Recording(m, o), 'jit', 2) as Recording[];
  assert.equal(harts.length, 1);
  assert.notEqual(harts[0].jitStats, null, 'the translating engine');
  assert.ok(harts[0].instret > 0 && harts[0].instret < 100, `a few instructions, got ${harts[0].instret}`);
  assert.ok(!harts[0].exits.has(Exit.TrapLoop));
});

test('deterministic executor: VmConfig.warmUp warms this thread up before its first vCPU, and only then', async () => {
  const quiet = { onOutput: (): void => {}, onWarn: (): void => {}, executor: 'deterministic' as const, memoryMiB: 1 };
  assert.equal(warmedUp(), false, 'nothing in this test file warmed the thread up before');
  const cold = await createVm({ ...quiet, warmUp: false });
  await cold.createVcpu(0);
  await cold.close();
  assert.equal(warmedUp(), false, 'warmUp: false does not');
  const warm = await createVm({ ...quiet, warmUp: true });
  assert.equal(warmedUp(), false, 'not before a vCPU is made');
  await warm.createVcpu(0);
  await warm.close();
  assert.equal(warmedUp(), true);
});
