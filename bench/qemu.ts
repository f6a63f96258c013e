/**
 * Running an image on QEMU as the speed reference.
 *
 * Bare-metal M-mode images (HTIF exit) run on `qemu-system-riscv32 -M spike -nographic -bios none -m 256 -kernel
 * IMAGE`; QEMU's exit status is then the guest's HTIF exit code (low 8 bits). The wall time is measured around the
 * whole process, so it includes QEMU's start-up and tear-down; `measureStartup` runs a guest that exits at once to
 * estimate that cost, which callers subtract.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

export const QEMU_RISCV32 = 'qemu-system-riscv32';
/** Guest RAM given to QEMU for bare-metal runs, in MiB. */
export const QEMU_BARE_MEMORY_MIB = 256;
/** Output kept from QEMU's stdout/stderr, per stream, in bytes. */
const OUTPUT_CAP = 64 * 1024;

/** Full path of an executable named `name` on PATH, or null. */
export function findOnPath(name: string, path: string = process.env['PATH'] ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (dir === '' || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** First line of `qemu --version`, or null when it cannot be run. */
export function qemuVersion(qemu: string): string | null {
  const r = spawnSync(qemu, ['--version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  if (r.status !== 0 || typeof r.stdout !== 'string') return null;
  return r.stdout.split('\n')[0]?.trim() || null;
}

/** The command-line arguments of a bare-metal run. */
export function qemuBareArgs(image: string, memoryMiB: number = QEMU_BARE_MEMORY_MIB): string[] {
  return ['-M', 'spike', '-nographic', '-bios', 'none', '-m', String(memoryMiB), '-kernel', image];
}

/** How one QEMU process ended. */
export interface QemuRun {
  /** Process exit status (the guest's HTIF exit code & 0xff), or null when killed by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** True when it was killed for passing `timeoutSec`. */
  timedOut: boolean;
  /** Wall time from spawn to process exit, in seconds (start-up included). */
  seconds: number;
  stdout: string;
  stderr: string;
  /** Set when the process could not be started at all. */
  spawnError?: string;
}

/** A one-line account of a QEMU run that did not exit with status 0. */
export function describeQemuFailure(r: QemuRun): string {
  if (r.spawnError !== undefined) return `qemu could not be started: ${r.spawnError}`;
  if (r.timedOut) return `qemu: timeout after ${r.seconds.toFixed(1)} s (killed)`;
  if (r.signal !== null) return `qemu: killed by ${r.signal}`;
  const err = r.stderr.trim().split('\n').filter((l) => l.trim() !== '').slice(-1)[0];
  return `qemu: guest exit code ${r.exitCode}` + (err ? ` (qemu stderr: ${err.trim()})` : '');
}

/** Runs QEMU with `args` and measures its wall time. Never rejects. */
export function runQemu(qemu: string, args: readonly string[], timeoutSec: number): Promise<QemuRun> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    let settled = false;
    let end = 0n;
    const start = process.hrtime.bigint();
    const child = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutSec * 1000);
    child.stdout.on('data', (b: Buffer) => {
      if (outBytes < OUTPUT_CAP) out.push(b);
      outBytes += b.length;
    });
    child.stderr.on('data', (b: Buffer) => {
      if (errBytes < OUTPUT_CAP) err.push(b);
      errBytes += b.length;
    });
    // 'exit' marks the end of the run; 'close' (streams drained) reports it.
    child.on('exit', () => {
      end = process.hrtime.bigint();
    });
    const done = (exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (end === 0n) end = process.hrtime.bigint();
      const run: QemuRun = {
        exitCode,
        signal,
        timedOut,
        seconds: Number(end - start) / 1e9,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (spawnError !== undefined) run.spawnError = spawnError;
      resolve(run);
    };
    child.on('error', (e) => done(null, null, e.message));
    child.on('close', (code, signal) => done(code, signal));
  });
}

/** Runs a bare-metal M-mode image (HTIF exit) on QEMU `spike`. */
export function runQemuBare(
  qemu: string,
  image: string,
  opts: { memoryMiB?: number; timeoutSec?: number } = {},
): Promise<QemuRun> {
  return runQemu(qemu, qemuBareArgs(image, opts.memoryMiB), opts.timeoutSec ?? 600);
}

/**
 * QEMU's fixed cost per run, in seconds: the best of `runs` runs of `emptyImage`, a guest that exits at once.
 * @throws Error when the empty guest does not exit with code 0 (then no QEMU figure can be trusted).
 */
export async function measureStartup(qemu: string, emptyImage: string, runs = 3, timeoutSec = 60): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const r = await runQemuBare(qemu, emptyImage, { timeoutSec });
    if (r.exitCode !== 0) throw new Error(`start-up probe failed: ${describeQemuFailure(r)}`);
    best = Math.min(best, r.seconds);
  }
  return best;
}
