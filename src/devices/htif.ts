/**
 * HTIF (host-target interface), the mailbox protocol of Spike that riscv-tests and simple bare-metal guests use
 * to end a run and print.
 *
 * The guest owns two 64-bit words in RAM, `tohost` and `fromhost`, found through the ELF symbols of those names.
 * A request is written to `tohost` as device (bits 63:56), command (55:48) and payload (47:0); on RV32 that is two
 * stores, low word first. There is no trap: the run loop calls `poll()` between engine slices.
 *
 * Requests served:
 * - device 0, command 0, payload odd: exit with code payload >> 1 (so 1 = pass = 0, `(n << 1) | 1` = test n failed);
 * - device 0, command 0, payload even and non-zero: a syscall block at that address (the riscv-tests benchmark
 *   convention: 64-bit words `which, arg0, arg1, arg2`); SYS_write (64) to fd 1/2 and SYS_exit (93) are served,
 *   others answer -ENOSYS; the result goes to word 0 and fromhost is set to 1;
 * - device 1 (console), command 1: write the byte in payload[7:0], then ack in fromhost;
 * - device 1, command 0 (read a byte): there is no input in bare mode, so the request is dropped unanswered.
 * After handling a request `tohost` is cleared, which is what a guest waits for before its next one.
 *
 * Torn writes: between the two stores the high word is still 0, so a console request for an odd byte would read as
 * "exit". A value with a zero high word is therefore acted on only when the next poll sees it unchanged
 * (`HtifPoll.Unsettled` asks the caller to run the guest a few instructions first). The exit loop of riscv-tests
 * rewrites the same value forever, and a guest waiting for its syscall's answer does not touch tohost, so both settle.
 */
import type { GuestMemory } from '../cpu/memory.js';
import { ImageError, hex } from '../boot/image-error.js';

/** What `Htif.poll()` found. Numbers, so that polling allocates nothing. */
export const HtifPoll = {
  /** Nothing to do (or a request was served): keep running. */
  Idle: 0,
  /** The guest asked to exit; see `exitCode`. */
  Exit: 1,
  /** A value with a zero high word appeared: run the guest a few instructions, then poll again. */
  Unsettled: 2,
  /** The guest made a request that cannot be served; see `error`. The run should stop. */
  Error: 3,
} as const;
export type HtifPollResult = (typeof HtifPoll)[keyof typeof HtifPoll];

const SYS_WRITE = 64;
const SYS_EXIT = 93;
const EBADF = 9;
const EFAULT = 14;
const ENOSYS = 38;

/** The HTIF mailbox pair of one guest. */
export class Htif {
  /** Valid after `poll()` returned `HtifPoll.Exit`: the guest's exit code (payload >> 1). */
  exitCode = 0;
  /** Valid after `poll()` returned `HtifPoll.Error`: one line describing the bad request. */
  error = '';
  /** Number of requests served (console bytes, syscalls). */
  requests = 0;

  private out: number[] = [];
  /** Low word of a high-word-zero value seen once and not yet acted on, or -1. */
  private unsettled = -1;

  /**
   * @param tohost guest-physical address of the 64-bit `tohost` word (8 bytes inside RAM)
   * @param fromhost address of `fromhost`, or undefined when the image has none (requests are then not acked)
   */
  constructor(
    private readonly mem: GuestMemory,
    readonly tohost: number,
    readonly fromhost: number | undefined,
  ) {
    if (!mem.contains(tohost, 8)) throw new ImageError('bad-htif', `HTIF tohost at ${hex(tohost)} is outside guest RAM`);
    if (fromhost !== undefined && !mem.contains(fromhost, 8)) throw new ImageError('bad-htif', `HTIF fromhost at ${hex(fromhost)} is outside guest RAM`);
  }

  /** The HTIF of an image with a `tohost` symbol, or null when it has none (the guest cannot end the run itself). */
  static fromSymbols(mem: GuestMemory, symbols: ReadonlyMap<string, number>): Htif | null {
    const tohost = symbols.get('tohost');
    if (tohost === undefined) return null;
    return new Htif(mem, tohost, symbols.get('fromhost'));
  }

  /** Looks at `tohost` once and serves what is there. Call between engine slices, never while the hart runs. */
  poll(): HtifPollResult {
    const lo = this.mem.readU32(this.tohost);
    const hi = this.mem.readU32(this.tohost + 4);
    if (lo === 0 && hi === 0) {
      this.unsettled = -1;
      return HtifPoll.Idle;
    }
    if (hi === 0 && this.unsettled !== lo) {
      this.unsettled = lo;
      return HtifPoll.Unsettled;
    }
    this.unsettled = -1;

    const device = hi >>> 24;
    const command = (hi >>> 16) & 0xff;
    const payloadHi = hi & 0xffff;
    if (device === 0 && command === 0) {
      if (lo & 1) {
        this.exitCode = payloadHi * 0x8000_0000 + (lo >>> 1);
        return HtifPoll.Exit;
      }
      if (payloadHi !== 0) return this.fail(`HTIF syscall block at ${hex(payloadHi * 0x1_0000_0000 + lo)} is beyond 4 GiB`);
      return this.syscall(lo);
    }
    if (device === 1 && command === 1) {
      this.out.push(lo & 0xff);
      this.requests++;
      this.clear();
      this.ack(hi & 0xffff_0000, 1);
      return HtifPoll.Idle;
    }
    if (device === 1 && command === 0) {
      this.clear(); // console read: no input in bare mode; dropped, never answered
      return HtifPoll.Idle;
    }
    return this.fail(`unsupported HTIF request: device ${device}, command ${command}, payload ${hex(lo)}`);
  }

  /** True when console bytes are waiting for `takeOutput()`. */
  hasOutput(): boolean {
    return this.out.length > 0;
  }

  /** Returns and forgets the console bytes written since the last call. */
  takeOutput(): Uint8Array {
    const bytes = Uint8Array.from(this.out);
    this.out.length = 0;
    return bytes;
  }

  /** Serves the syscall block at `addr` (64-bit words: which, arg0, arg1, arg2; the result goes to word 0). */
  private syscall(addr: number): HtifPollResult {
    if (!this.mem.contains(addr, 32)) return this.fail(`HTIF syscall block at ${hex(addr)} is outside guest RAM`);
    const which = this.mem.readU32(addr);
    const arg0 = this.mem.readU32(addr + 8);
    const arg1 = this.mem.readU32(addr + 16);
    const arg2 = this.mem.readU32(addr + 24);
    let result: number;
    if (which === SYS_EXIT) {
      this.exitCode = arg0;
      return HtifPoll.Exit;
    } else if (which === SYS_WRITE) {
      if (arg0 !== 1 && arg0 !== 2) result = -EBADF;
      else if (!this.mem.contains(arg1, arg2)) result = -EFAULT;
      else {
        const bytes = this.mem.read(arg1, arg2);
        for (let i = 0; i < bytes.length; i++) this.out.push(bytes[i]);
        result = arg2;
      }
    } else {
      result = -ENOSYS;
    }
    this.requests++;
    this.mem.writeU32(addr, result);
    this.mem.writeU32(addr + 4, result < 0 ? -1 : 0);
    this.clear();
    this.ack(0, 1);
    return HtifPoll.Idle;
  }

  private clear(): void {
    this.mem.writeU32(this.tohost, 0);
    this.mem.writeU32(this.tohost + 4, 0);
  }

  /** Writes fromhost (high word, then low word), if the image has one. */
  private ack(hi: number, lo: number): void {
    if (this.fromhost === undefined) return;
    this.mem.writeU32(this.fromhost + 4, hi);
    this.mem.writeU32(this.fromhost, lo);
  }

  private fail(message: string): HtifPollResult {
    this.error = message;
    return HtifPoll.Error;
  }
}
