/**
 * Linux boot benchmark (issues 5 and 9): wall time from start to `init: Linux guest up` and to power-off, on
 * hartvisor (threaded executor) with 1 and 4 vCPUs, beside QEMU TCG booting the same kernel under the RV32 OpenSBI in
 * the same run. Targets to power-off with 4 vCPUs: no slower than 2x QEMU (issue 5), than QEMU (issue 9).
 * The threads rows are timed in this process from `createVm` (no Node start-up, no module loading). The `-cli` row
 * times `hartvisor run` as a process, as a user runs it (the command file itself, through its first line) and as
 * QEMU is timed: Node's start-up, the modules, the threads' exit included. The `-det` rows boot with the deterministic executor (every vCPU on one thread) as a
 * process, `hartvisor run --executor deterministic`: how fast the engine is without the threads' costs.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createVm } from '../src/hv/vm.js';
import { BenchContext, BenchGroup, Row, metric } from './types.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHARED = path.resolve(repo, '../shared');
const IMAGE = path.join(SHARED, 'guests/linux/Image');
const OPENSBI = path.join(SHARED, 'reference/opensbi-rv32/fw_dynamic.bin');
const BOOTARGS = 'console=hvc0 earlycon=sbi';
const UP = 'init: Linux guest up';

interface Timing { up: number | null; off: number | null; ok: boolean; error?: string }

async function bootHartvisor(vcpus: number, timeoutSec: number): Promise<Timing> {
  const t0 = performance.now();
  let up: number | null = null;
  let text = '';
  const vm = await createVm({
    // warmUp as `hartvisor run` does (src/cli/smode.ts).
    image: readFileSync(IMAGE), memoryMiB: 256, maxVcpus: vcpus, bootargs: BOOTARGS, onWarn: () => {}, warmUp: true,
    onOutput: (b) => {
      text += Buffer.from(b).toString('latin1');
      if (up === null && text.includes(UP)) up = (performance.now() - t0) / 1000;
    },
  });
  const timer = setTimeout(() => void vm.close(), timeoutSec * 1000);
  const exit = await vm.wait();
  const off = (performance.now() - t0) / 1000;
  clearTimeout(timer);
  await vm.close();
  const ok = exit.reason === 'shutdown' && exit.exitCode === 0 && up !== null;
  return { up, off: ok ? off : null, ok, error: ok ? undefined : `hartvisor: ${exit.reason}, exit ${exit.exitCode}` };
}

function bootQemu(qemu: string, vcpus: number, timeoutSec: number): Promise<Timing> {
  return bootProcess(qemu, ['-M', 'virt', '-smp', String(vcpus), '-m', '256', '-nographic', '-bios', OPENSBI,
    '-kernel', IMAGE, '-append', BOOTARGS], 'QEMU', timeoutSec);
}

/** Node's flags for the `hartvisor` command (the first line of src/cli/main.ts): one V8 helper thread. */
const HARTVISOR_NODE_FLAGS = ['--v8-pool-size=1'];

/** `hartvisor run` with either executor, as a process: the command itself, through its first line (the node flags and
 *  environment it sets, src/cli/main.ts), as a user runs it. */
function bootCli(vcpus: number, executor: 'threads' | 'deterministic', timeoutSec: number): Promise<Timing> {
  return bootProcess(path.join(repo, 'dist/src/cli/hartvisor.js'), ['run', IMAGE, '--vcpus', String(vcpus),
    '--memory', '256', '--executor', executor, '--append', BOOTARGS], 'hartvisor', timeoutSec);
}

/** Times a process that boots the kernel: to the `UP` line on its stdout and to its exit (0: powered off). */
function bootProcess(cmd: string, args: string[], who: string, timeoutSec: number): Promise<Timing> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let up: number | null = null;
    let text = '';
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutSec * 1000);
    p.stdout.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (up === null && text.includes(UP)) up = (performance.now() - t0) / 1000;
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      const off = (performance.now() - t0) / 1000;
      const ok = code === 0 && up !== null;
      resolve({ up, off: ok ? off : null, ok, error: ok ? undefined : `${who} exited with ${code}` });
    });
  });
}

/** The median of `xs`, or null when empty. */
function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const v = [...xs].sort((a, b) => a - b), k = v.length >> 1;
  return v.length % 2 === 1 ? v[k] : (v[k - 1] + v[k]) / 2;
}

export const linuxBootGroup: BenchGroup = {
  name: 'linux',
  title: 'Linux 6.1 boot to init and power-off (hartvisor threads, in-process; -cli: `hartvisor run` as a process; -det: deterministic executor, as a process; vs QEMU TCG + OpenSBI)',
  rows: ['linux-1vcpu', 'linux-4vcpu', 'linux-4vcpu-cli', 'linux-4vcpu-det'],
  async run(ctx: BenchContext): Promise<Row[]> {
    const rows: Row[] = [];
    if (!existsSync(IMAGE)) { ctx.note(`skipped: no Linux image at ${IMAGE}`); return rows; }
    // The in-process rows run with this process's flags: `npm run bench` gives it those of the hartvisor command.
    const missing = HARTVISOR_NODE_FLAGS.filter((f) => !process.execArgv.includes(f));
    if (missing.length > 0) ctx.note(`this process runs without ${missing.join(' ')} (the hartvisor command's node flags): the threads rows are slower so`);
    for (const [vcpus, how] of [[1, 'in-process'], [4, 'in-process'], [4, 'cli'], [4, 'det']] as const) {
      const name = `linux-${vcpus}vcpu${how === 'in-process' ? '' : `-${how}`}`;
      if (!ctx.wants(name)) continue;
      // Boots alternate, hartvisor then QEMU, so that a slow spell of the host falls on both sides: on a 2-core
      // host the ratio of one pair moved by ~20% from run to run (bench/README.md, seventeenth session).
      let hv: Timing = { up: null, off: null, ok: false };
      let q: Timing | null = null;
      const pairRatios: number[] = [];
      const qemu = existsSync(OPENSBI) ? ctx.qemu : null;
      for (let i = 0; i < ctx.repeat; i++) {
        ctx.log(`${name}: hartvisor (${i + 1}/${ctx.repeat})`);
        const t = how === 'in-process' ? await bootHartvisor(vcpus, ctx.timeoutSec)
          : await bootCli(vcpus, how === 'det' ? 'deterministic' : 'threads', ctx.timeoutSec);
        if (!hv.ok || (t.ok && (t.off ?? Infinity) < (hv.off ?? Infinity))) hv = t;
        if (qemu === null) continue;
        ctx.log(`${name}: QEMU (${i + 1}/${ctx.repeat})`);
        const u = await bootQemu(qemu, vcpus, ctx.timeoutSec);
        if (!q || (u.ok && (u.off ?? Infinity) < (q.off ?? Infinity))) q = u;
        if (t.off !== null && u.off !== null) pairRatios.push(t.off / u.off);
      }
      const errors = [hv.error, q && !q.ok ? q.error : undefined].filter((e): e is string => !!e);
      rows.push({
        name, ok: hv.ok, errors,
        metrics: {
          hvUp: metric('hartvisor up s', 's', hv.up),
          hvOff: metric('hartvisor off s', 's', hv.off),
          qUp: metric('QEMU up s', 's', q?.up ?? null),
          qOff: metric('QEMU off s', 's', q?.off ?? null),
          ratio: metric('off hartvisor/QEMU', 'x', hv.off !== null && q?.off ? hv.off / q.off : null),
          // (with --repeat N: the median over the N alternating pairs, and in how many hartvisor was faster)
          pairRatio: metric('off ratio, median of pairs', 'x', median(pairRatios)),
          pairsFaster: metric('pairs hartvisor faster', 'pairs', pairRatios.length > 0 ? pairRatios.filter((r) => r < 1).length : null, 0),
        },
      });
    }
    return rows;
  },
};
