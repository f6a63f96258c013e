/**
 * Benchmark group `bare-metal`: the M-mode bench guests of guests/ (HTIF exit), on hartvisor's bare-metal executor
 * with each engine (the interpreter, and the default translating engine) and, when it is installed, on QEMU TCG.
 *
 * Speed is given in millions of guest instructions per second. hartvisor counts retired instructions exactly (both
 * engines must count the same, or the row fails); the image is the same everywhere, so QEMU's figure uses
 * hartvisor's count, divided by QEMU's wall time less its start-up cost (measured once with the `bench-empty`
 * guest). hartvisor's time excludes loading the image. The engine is chosen through HARTVISOR_ENGINE, which each
 * hart reads when it is made (src/cpu/jit.ts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runBareMetal, type BareRunResult } from '../src/host/bare.js';
import { describeQemuFailure, measureStartup, runQemuBare } from './qemu.js';
import { metric, type BenchContext, type BenchGroup, type Row } from './types.js';

interface BareGuest {
  /** Row name. */
  name: string;
  /** File in guests/images. */
  image: string;
}

/** The guests measured, in order; see guests/README.md. */
export const BARE_GUESTS: readonly BareGuest[] = [
  { name: 'loop', image: 'bench-loop.elf' },
  { name: 'sort', image: 'bench-sort.elf' },
];
/** The guest that exits at once, for QEMU's start-up cost. */
export const EMPTY_GUEST_IMAGE = 'bench-empty.elf';
/** Runs of the empty guest; the fastest is taken as the start-up cost. */
const STARTUP_RUNS = 3;

function describeBareFailure(r: BareRunResult): string {
  if (r.reason === 'exit') return `hartvisor: guest exit code ${r.exitCode}`;
  return `hartvisor: ${r.reason}${r.message !== undefined ? `: ${r.message}` : ''}`;
}

type Engine = 'interp' | 'jit';
/** Engines measured, in column order. */
const ENGINES: readonly Engine[] = ['interp', 'jit'];
interface EngineRun { instret: number | null; seconds: number | null }

/** Runs `image` ctx.repeat times on one engine; the best time is kept. Failures go to `errors` (and give nulls). */
async function runEngine(ctx: BenchContext, name: string, image: Uint8Array, engine: Engine, errors: string[]): Promise<EngineRun> {
  let instret: number | null = null;
  let best: number | null = null;
  const saved = process.env.HARTVISOR_ENGINE;
  process.env.HARTVISOR_ENGINE = engine; // read by the hart runBareMetal makes
  try {
    for (let i = 0; i < ctx.repeat; i++) {
      ctx.log(`bare-metal/${name}: hartvisor (${engine}) run ${i + 1}/${ctx.repeat}`);
      let r: BareRunResult;
      try {
        r = await runBareMetal(image, { timeoutSec: ctx.timeoutSec });
      } catch (e) {
        errors.push(`hartvisor (${engine}): ${(e as Error).message}`);
        return { instret: null, seconds: null };
      }
      if (r.reason !== 'exit' || r.exitCode !== 0) {
        errors.push(`${describeBareFailure(r)} (${engine})`);
        return { instret: null, seconds: null };
      }
      if (instret !== null && r.instret !== instret) {
        errors.push(`hartvisor (${engine}): instruction count changed between runs (${instret} then ${r.instret})`);
        return { instret: null, seconds: null };
      }
      instret = r.instret;
      best = best === null ? r.seconds : Math.min(best, r.seconds);
    }
  } finally {
    if (saved === undefined) delete process.env.HARTVISOR_ENGINE; else process.env.HARTVISOR_ENGINE = saved;
  }
  return { instret, seconds: best };
}

const mips = (instret: number | null, seconds: number | null): number | null =>
  instret !== null && seconds !== null && seconds > 0 ? instret / seconds / 1e6 : null;

export const bareMetalGroup: BenchGroup = {
  name: 'bare-metal',
  title: 'bare-metal M-mode guests (guests/images), hartvisor interpreter and translator vs QEMU TCG, millions of guest instructions/s',
  rows: BARE_GUESTS.map((g) => g.name),

  async run(ctx: BenchContext): Promise<Row[]> {
    const guests = BARE_GUESTS.filter((g) => ctx.wants(g.name));
    const rows: Row[] = [];

    let qemuStartup: number | null = null;
    let qemuError: string | null = null;
    if (ctx.qemu !== null && guests.length > 0) {
      ctx.log(`bare-metal: measuring QEMU start-up (${EMPTY_GUEST_IMAGE}, best of ${STARTUP_RUNS})`);
      try {
        qemuStartup = await measureStartup(ctx.qemu, join(ctx.imagesDir, EMPTY_GUEST_IMAGE), STARTUP_RUNS, ctx.timeoutSec);
        ctx.note(`QEMU start-up cost ${qemuStartup.toFixed(3)} s (${EMPTY_GUEST_IMAGE}, best of ${STARTUP_RUNS}), subtracted from QEMU times`);
      } catch (e) {
        qemuError = `qemu ${(e as Error).message}`;
      }
    } else if (ctx.qemu === null) {
      ctx.note('QEMU not measured (qemu-system-riscv32 not on PATH, or --no-qemu)');
    }

    for (const g of guests) {
      const path = join(ctx.imagesDir, g.image);
      const errors: string[] = [];

      // hartvisor, once per engine: the interpreter (reference) and the translator (default).
      let image: Uint8Array | null = null;
      try {
        image = new Uint8Array(await readFile(path));
      } catch (e) {
        errors.push(`cannot read ${path}: ${(e as Error).message} (build it with: make -C guests)`);
      }
      const runs: Record<Engine, EngineRun> = { interp: { instret: null, seconds: null }, jit: { instret: null, seconds: null } };
      if (image !== null) {
        for (const engine of ENGINES) runs[engine] = await runEngine(ctx, g.name, image, engine, errors);
        if (runs.interp.instret !== null && runs.jit.instret !== null && runs.interp.instret !== runs.jit.instret) {
          errors.push(`hartvisor: the engines retired different instruction counts (interp ${runs.interp.instret}, jit ${runs.jit.instret})`);
        }
      }
      const instret = runs.jit.instret ?? runs.interp.instret;

      // QEMU
      let qemuSeconds: number | null = null;
      if (qemuError !== null) {
        errors.push(qemuError);
      } else if (ctx.qemu !== null && qemuStartup !== null && image !== null) {
        let best = Infinity;
        for (let i = 0; i < ctx.repeat; i++) {
          ctx.log(`bare-metal/${g.name}: QEMU run ${i + 1}/${ctx.repeat}`);
          const r = await runQemuBare(ctx.qemu, path, { timeoutSec: ctx.timeoutSec });
          if (r.exitCode !== 0) {
            errors.push(describeQemuFailure(r));
            best = Infinity;
            break;
          }
          best = Math.min(best, r.seconds);
        }
        if (best !== Infinity) {
          qemuSeconds = best - qemuStartup;
          if (qemuSeconds <= 0) {
            ctx.note(`${g.name}: QEMU run (${best.toFixed(3)} s) not longer than its start-up cost; no QEMU rate`);
            qemuSeconds = null;
          }
        }
      }

      const interpMips = mips(runs.interp.instret, runs.interp.seconds);
      const jitMips = mips(runs.jit.instret, runs.jit.seconds);
      const qemuMips = mips(instret, qemuSeconds);
      rows.push({
        name: g.name,
        ok: errors.length === 0,
        errors,
        metrics: {
          instret: metric('instructions', 'instructions', instret, 0),
          interp_seconds: metric('interp s', 's', runs.interp.seconds, 3),
          interp_mips: metric('interp MIPS', 'MIPS', interpMips, 1),
          hartvisor_seconds: metric('jit s', 's', runs.jit.seconds, 3),
          hartvisor_mips: metric('jit MIPS', 'MIPS', jitMips, 1),
          qemu_seconds: metric('QEMU s', 's', qemuSeconds, 3),
          qemu_mips: metric('QEMU MIPS', 'MIPS', qemuMips, 1),
          jit_vs_interp: metric('jit/interp', 'x', jitMips !== null && interpMips !== null ? jitMips / interpMips : null, 2),
          ratio: metric('jit/QEMU', 'x', jitMips !== null && qemuMips !== null ? jitMips / qemuMips : null, 3),
        },
      });
    }
    return rows;
  },
};
