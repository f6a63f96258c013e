/**
 * Bare-metal executor: one vCPU on the main thread, an M-mode image with nothing around it but RAM and HTIF.
 *
 * This is how riscv-tests and the bench guests run: the hart starts in M-mode at the image entry, there are no
 * devices, no firmware and no interrupt sources, and the guest ends the run through HTIF `tohost`. The loop gives
 * the engine a slice of instructions, advances guest time from the wall clock (10 MHz timebase), polls HTIF and
 * checks the deadline. It yields to the event loop now and then, so timers and signals keep working.
 */
import type { Engine } from '../cpu/jit.js';
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import { Exit, Hart } from '../cpu/hart.js';
import { GuestMemory } from '../cpu/memory.js';
import { Priv } from '../cpu/csr.js';
import { loadImage } from '../boot/image.js';
import { Htif, HtifPoll } from '../devices/htif.js';

/** Guest RAM of a bare-metal run when the caller does not say. */
export const DEFAULT_BARE_MEMORY_MIB = 128;
/** Largest guest RAM: RAM starts at 0x80000000 and must end below 4 GiB. */
export const MAX_MEMORY_MIB = 2047;
/** Guest timebase: ticks of the `time` CSR per second. */
export const TIMEBASE_HZ = 10_000_000;
/** Instructions per engine slice; HTIF and the clock are looked at between slices. */
export const SLICE = 1 << 16;
/** Instructions run to let a half-written tohost settle (see `HtifPoll.Unsettled`). */
const SETTLE_BUDGET = 64;
/** Longest stretch without yielding to the event loop, in ms. */
const YIELD_MS = 50;
/** Idle time after a WFI, in ms: there is no interrupt source to wait for in bare mode. */
const WFI_IDLE_MS = 1;
/** Console text kept in `BareRunResult.output`, in characters; later output only goes to `onOutput`. */
const OUTPUT_CAP = 1 << 20;

/** How a bare-metal run ended. */
export interface BareRunResult {
  /** The guest's HTIF exit code when `reason` is 'exit', else null. */
  exitCode: number | null;
  /**
   * 'exit': the guest exited through HTIF. 'timeout': the deadline passed first. 'trap': the guest trapped into a
   * handler that faults at once (unrecoverable). 'error': the guest made a request the host cannot serve.
   */
  reason: 'exit' | 'timeout' | 'trap' | 'error';
  /** Instructions retired by the hart. */
  instret: number;
  /** Execution wall time in seconds, loading excluded. */
  seconds: number;
  /** One line for 'timeout', 'trap' and 'error' (e.g. the trap description). */
  message?: string;
  /** Console output (HTIF), decoded as UTF-8; at most the first 2^20 characters. */
  output?: string;
}

/** Options of `runBareMetal`. */
export interface BareRunOptions {
  /** Guest RAM in MiB (integer, 1..2047); default 128. */
  memoryMiB?: number;
  /** Execution engine (default: `defaultEngine()`, the translator). */
  engine?: Engine;
  /** Wall-clock limit in seconds (> 0); default none. */
  timeoutSec?: number;
  /** Receives console output as it is produced, in chunks. */
  onOutput?: (s: string) => void;
}

/**
 * Loads `image` (ELF32 RISC-V, or a flat binary at 0x80000000) into fresh guest RAM and runs it in M-mode on
 * hart 0 until it exits, times out or dies.
 * @throws ImageError when the image cannot be loaded; RangeError for bad options. Once the guest runs, every
 * outcome is a result, not an exception (an exception from the engine itself is a hartvisor bug and propagates).
 */
export async function runBareMetal(image: Uint8Array, opts: BareRunOptions = {}): Promise<BareRunResult> {
  const memoryMiB = opts.memoryMiB ?? DEFAULT_BARE_MEMORY_MIB;
  if (!Number.isInteger(memoryMiB) || memoryMiB < 1 || memoryMiB > MAX_MEMORY_MIB) {
    throw new RangeError(`memory must be a whole number of MiB from 1 to ${MAX_MEMORY_MIB}, got ${memoryMiB}`);
  }
  const timeoutSec = opts.timeoutSec;
  if (timeoutSec !== undefined && !(timeoutSec > 0 && Number.isFinite(timeoutSec))) {
    throw new RangeError(`timeout must be a positive number of seconds, got ${timeoutSec}`);
  }

  const mem = new GuestMemory(memoryMiB * 1024 * 1024);
  const loaded = loadImage(mem, image);
  const htif = Htif.fromSymbols(mem, loaded.symbols);
  const hart = new Hart(mem, { hartId: 0, ...(opts.engine ? { engine: opts.engine } : {}) });
  hart.reset(loaded.entry, Priv.M);

  const decoder = new TextDecoder('utf-8');
  let output = '';
  const flush = (final: boolean) => {
    const text = htif && htif.hasOutput() ? decoder.decode(htif.takeOutput(), { stream: !final }) : final ? decoder.decode() : '';
    if (text.length === 0) return;
    if (output.length < OUTPUT_CAP) output += text.slice(0, OUTPUT_CAP - output.length);
    opts.onOutput?.(text);
  };

  const start = performance.now();
  const deadline = timeoutSec === undefined ? Infinity : start + timeoutSec * 1000;
  let lastYield = start;
  const finish = (reason: BareRunResult['reason'], exitCode: number | null, message?: string): BareRunResult => {
    const seconds = (performance.now() - start) / 1000;
    flush(true);
    const result: BareRunResult = { exitCode, reason, instret: hart.instret, seconds, output };
    if (message !== undefined) result.message = message;
    return result;
  };

  for (;;) {
    hart.time = Math.floor((performance.now() - start) * (TIMEBASE_HZ / 1000));
    const exit = hart.run(SLICE);

    if (htif) {
      let st = htif.poll();
      if (st === HtifPoll.Unsettled) {
        hart.run(SETTLE_BUDGET);
        st = htif.poll();
      }
      flush(false);
      if (st === HtifPoll.Exit) return finish('exit', htif.exitCode);
      if (st === HtifPoll.Error) return finish('error', null, htif.error);
    }
    if (exit === Exit.TrapLoop) return finish('trap', null, hart.trapInfo());
    if (exit !== Exit.Budget && exit !== Exit.Wfi && exit !== Exit.Pause) {
      // Ecall (SBI) and the like: bare-metal mode has no firmware or hypervisor service to answer them.
      return finish('error', null, `unexpected engine exit ${exit} at pc 0x${(hart.pc >>> 0).toString(16)}: bare-metal mode has no SBI or debugger`);
    }

    const now = performance.now();
    if (now >= deadline) {
      const hint = htif ? '' : ' (the image has no tohost symbol, so it cannot exit through HTIF)';
      return finish('timeout', null, `timeout after ${timeoutSec} s${hint}`);
    }
    if (exit === Exit.Wfi) {
      await sleep(Math.min(WFI_IDLE_MS, deadline - now));
      lastYield = performance.now();
    } else if (now - lastYield >= YIELD_MS) {
      await yieldToEventLoop();
      lastYield = performance.now();
    }
  }
}
