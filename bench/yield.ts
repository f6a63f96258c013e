/**
 * The directed-yield experiment (issue 7): guest lock workloads at 1x, 2x and 4x overcommit (vCPUs per CPU
 * slot), with directed yield off, on (kvm_vcpu_on_spin on pause-loop exits) and pv (the guest's paravirtual
 * lock: YIELD_TO and KICK), in the deterministic executor (exact, reproducible) and the threaded one.
 * Throughput is the guest's own count of lock operations per second of guest time.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createVm } from '../src/hv/vm.js';
import { BenchContext, BenchGroup, Row, metric } from './types.js';

const SLOTS = 2;
const OVERCOMMIT = [1, 2, 4] as const;
const WORKLOADS = ['ticket', 'hashtable'] as const;
const EXECUTORS = ['deterministic', 'threads'] as const;
/** Guest seconds each run measures. */
const GUEST_SECONDS: Record<(typeof EXECUTORS)[number], number> = { deterministic: 0.5, threads: 1 };

export interface YieldRun { ops: number; ok: boolean; error?: string; ple: number; dyAttempted: number; dySuccessful: number; preempted: number }

export async function runYieldWorkload(image: Uint8Array, o: {
  executor: 'deterministic' | 'threads'; vcpus: number; pcpus: number; policy: 'off' | 'on' | 'pv'; seconds: number; timeoutSec: number; seed?: number;
}): Promise<YieldRun> {
  let out = '';
  const lock = o.policy === 'pv' ? 'pv' : 'ticket';
  const vm = await createVm({
    image, maxVcpus: o.vcpus, memoryMiB: 64, pcpus: o.pcpus, directedYield: o.policy, executor: o.executor, seed: o.seed ?? 1,
    bootargs: `yield.ticks=${Math.round(o.seconds * 10_000_000)} yield.lock=${lock}`,
    onOutput: (b) => { out += Buffer.from(b).toString('latin1'); }, onWarn: () => {},
  });
  const timer = setTimeout(() => void vm.close(), o.timeoutSec * 1000);
  const exit = await vm.wait();
  clearTimeout(timer);
  const stats = vm.vcpuIds().map((id) => vm.vcpuInfo(id).stats);
  await vm.close();
  const sum = (k: keyof (typeof stats)[number]) => stats.reduce((a, s) => a + s[k], 0);
  const m = /yield: ops=(\d+)/.exec(out);
  const ok = exit.reason === 'shutdown' && exit.exitCode === 0 && m !== null;
  return {
    ops: m ? Number(m[1]) : 0, ok, error: ok ? undefined : `guest ${exit.reason}, exit ${exit.exitCode}${m ? '' : ', no ops line'}`,
    ple: sum('pause_loop_exits'), dyAttempted: sum('directed_yield_attempted'), dySuccessful: sum('directed_yield_successful'), preempted: sum('preempted'),
  };
}

export const yieldGroup: BenchGroup = {
  name: 'yield',
  title: `Directed yield: lock throughput (guest ops/s) at 1x/2x/4x overcommit on ${SLOTS} CPU slots, off vs on vs pv`,
  rows: EXECUTORS.flatMap((e) => WORKLOADS.flatMap((w) => OVERCOMMIT.map((x) => `${w}-${e === 'deterministic' ? 'det' : 'thr'}-${x}x`))),
  async run(ctx: BenchContext): Promise<Row[]> {
    const rows: Row[] = [];
    for (const executor of EXECUTORS) {
      for (const w of WORKLOADS) {
        const file = path.join(ctx.imagesDir, `yield-${w}.bin`);
        if (!existsSync(file)) { ctx.note(`skipped ${w}: no ${file}`); continue; }
        const image = readFileSync(file);
        for (const x of OVERCOMMIT) {
          const name = `${w}-${executor === 'deterministic' ? 'det' : 'thr'}-${x}x`;
          if (!ctx.wants(name)) continue;
          const seconds = GUEST_SECONDS[executor];
          const res: Partial<Record<'off' | 'on' | 'pv', YieldRun>> = {};
          for (const policy of ['off', 'on', 'pv'] as const) {
            ctx.log(`${name}: ${policy}`);
            res[policy] = await runYieldWorkload(image, { executor, vcpus: SLOTS * x, pcpus: SLOTS, policy, seconds, timeoutSec: ctx.timeoutSec });
          }
          const rate = (r?: YieldRun) => (r && r.ok ? r.ops / seconds : null);
          const off = rate(res.off), on = rate(res.on), pv = rate(res.pv);
          const errors = (['off', 'on', 'pv'] as const).filter((p) => !res[p]!.ok).map((p) => `${p}: ${res[p]!.error}`);
          rows.push({
            name, ok: errors.length === 0, errors,
            metrics: {
              vcpus: metric('vCPUs', 'count', SLOTS * x, 0),
              off: metric('off ops/s', 'ops/s', off, 0),
              on: metric('on ops/s', 'ops/s', on, 0),
              pv: metric('pv ops/s', 'ops/s', pv, 0),
              onOff: metric('on/off', 'x', on !== null && off ? on / off : null),
              pvOff: metric('pv/off', 'x', pv !== null && off ? pv / off : null),
              dy: metric('on: yields ok/tried', 'ratio', res.on && res.on.dyAttempted ? res.on.dySuccessful / res.on.dyAttempted : null),
              ple: metric('on: PLE exits', 'count', res.on?.ple ?? null, 0),
            },
          });
        }
      }
    }
    return rows;
  },
};
