/**
 * Benchmark group `bare-metal`: the M-mode bench guests of guests/ (HTIF exit), on hartvisor's bare-metal executor
 * and, when it is installed, on QEMU `spike`.
 *
 * Speed is given in millions of guest instructions per second. hartvisor counts retired instructions exactly; the
 * image is the same on both, so QEMU's figure uses hartvisor's count, divided by QEMU's wall time less its
 * start-up cost (measured once with the `bench-empty` guest). hartvisor's time excludes loading the image.
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

const mips = (instret: number | null, seconds: number | null): number | null =>
  instret !== null && seconds !== null && seconds > 0 ? instret / seconds / 1e6 : null;

export const bareMetalGroup: BenchGroup = {
  name: 'bare-metal',
  title: 'bare-metal M-mode guests (guests/images), hartvisor vs QEMU spike, millions of guest instructions/s',
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

      // hartvisor
      let instret: number | null = null;
      let hvSeconds: number | null = null;
      let image: Uint8Array | null = null;
      try {
        image = new Uint8Array(await readFile(path));
      } catch (e) {
        errors.push(`cannot read ${path}: ${(e as Error).message} (build it with: make -C guests)`);
      }
      if (image !== null) {
        for (let i = 0; i < ctx.repeat; i++) {
          ctx.log(`bare-metal/${g.name}: hartvisor run ${i + 1}/${ctx.repeat}`);
          let r: BareRunResult;
          try {
            r = await runBareMetal(image, { timeoutSec: ctx.timeoutSec });
          } catch (e) {
            errors.push(`hartvisor: ${(e as Error).message}`);
            break;
          }
          if (r.reason !== 'exit' || r.exitCode !== 0) {
            errors.push(describeBareFailure(r));
            break;
          }
          if (instret !== null && r.instret !== instret) {
            errors.push(`hartvisor: instruction count changed between runs (${instret} then ${r.instret})`);
            break;
          }
          instret = r.instret;
          hvSeconds = hvSeconds === null ? r.seconds : Math.min(hvSeconds, r.seconds);
        }
        if (errors.length > 0) {
          instret = null;
          hvSeconds = null;
        }
      }

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

      const hvMips = mips(instret, hvSeconds);
      const qemuMips = mips(instret, qemuSeconds);
      rows.push({
        name: g.name,
        ok: errors.length === 0,
        errors,
        metrics: {
          instret: metric('instructions', 'instructions', instret, 0),
          hartvisor_seconds: metric('hartvisor s', 's', hvSeconds, 3),
          hartvisor_mips: metric('hartvisor MIPS', 'MIPS', hvMips, 1),
          qemu_seconds: metric('QEMU s', 's', qemuSeconds, 3),
          qemu_mips: metric('QEMU MIPS', 'MIPS', qemuMips, 1),
          ratio: metric('hartvisor/QEMU', 'x', hvMips !== null && qemuMips !== null ? hvMips / qemuMips : null, 3),
        },
      });
    }
    return rows;
  },
};
