/**
 * A 16550A UART, as on QEMU virt at 0x10000000: eight one-byte registers spaced one byte apart
 * (reg-shift 0, reg-io-width 1).
 *
 * | off | read (DLAB=0) | write (DLAB=0) | DLAB=1      |
 * |-----|---------------|----------------|-------------|
 * | 0   | RBR           | THR            | DLL         |
 * | 1   | IER           | IER            | DLM         |
 * | 2   | IIR           | FCR            | (as DLAB=0) |
 * | 3   | LCR           | LCR            |             |
 * | 4   | MCR           | MCR            |             |
 * | 5   | LSR           | (ignored)      |             |
 * | 6   | MSR           | (ignored)      |             |
 * | 7   | SCR           | SCR            |             |
 *
 * Threads. Every vCPU thread may access the registers, so the device's state lives in shared memory: an
 * Int32Array over a SharedArrayBuffer (layout table {@link UART_STATE_LAYOUT}) plus two {@link ByteRing}s. Each
 * thread builds its own `Uart16550` view over the same buffers: `Uart16550.create(outputRing, inputRing)` on the
 * owner side, `sharedState()` sent with postMessage, `Uart16550.attach(shared)` in the worker. The views hold no
 * state of their own. A register access takes the state lock (word LOCK, the compareExchange lock the rings use
 * too, `acquireSharedLock` in console.ts), does a few word updates and releases it. Rings are pushed to only after
 * the state lock is released, so the state lock and a ring's producer lock never nest.
 *
 * Transmission is instantaneous: a THR write is pushed to the output ring at once, so THRE and TEMT always read 1.
 * The host drains that ring (`uart.output.drain()` or `waitForData`); bytes that find it full are dropped and
 * counted in `output.dropped()`. Two vCPUs writing THR concurrently interleave their bytes in push order.
 *
 * Reception: the host pushes bytes into the input ring (`pushInput`, or `input.push` from any thread). The oldest
 * 16 bytes held there (1 with FIFOs off) are what the guest-visible receive FIFO holds, the rest stand for data the
 * host side has not delivered yet. So a long paste is never lost to overrun (the ring is only capped, at its
 * capacity, {@link UART_RX_BACKLOG_LIMIT} by default, against runaway hosts; bytes that do not fit are dropped and
 * reported to the guest as an overrun, LSR.OE), and a FIFO reset discards just the FIFO's share. RBR reads consume
 * the ring; since they run under the state lock, whichever view holds it is the ring's single consumer, and each
 * byte is received exactly once, by one vCPU.
 *
 * Interrupts are computed, not wired: {@link Uart16550.interruptPending} tells whether the IRQ line would be
 * high (IER-enabled cause pending, regardless of MCR.OUT2, as in QEMU). Character timeout is modelled as
 * already elapsed: with FIFOs on and fewer bytes than the trigger level, IIR reports a timeout (0xc).
 *
 * Nothing here throws on guest input: unknown offsets read 0 and ignore writes, values are masked to 8 bits. If the
 * state lock cannot be had within LOCK_TIMEOUT_MS (only when a thread died holding it), a read returns 0 and a
 * write is dropped, and `lockTimeouts()` counts it.
 */
import { ByteRing, acquireSharedLock, releaseSharedLock } from './console.js';

/** Register offsets (reg-shift 0). */
export const UART_RBR = 0; // receive buffer (read, DLAB=0)
export const UART_THR = 0; // transmit holding (write, DLAB=0)
export const UART_DLL = 0; // divisor latch low (DLAB=1)
export const UART_IER = 1; // interrupt enable (DLAB=0)
export const UART_DLM = 1; // divisor latch high (DLAB=1)
export const UART_IIR = 2; // interrupt identification (read)
export const UART_FCR = 2; // FIFO control (write)
export const UART_LCR = 3; // line control
export const UART_MCR = 4; // modem control
export const UART_LSR = 5; // line status
export const UART_MSR = 6; // modem status
export const UART_SCR = 7; // scratch

export const IER_RDI = 0x01; // received data available
export const IER_THRI = 0x02; // transmit holding register empty
export const IER_RLSI = 0x04; // receiver line status
export const IER_MSI = 0x08; // modem status

export const IIR_NO_INT = 0x01;
export const IIR_MSI = 0x00;
export const IIR_THRI = 0x02;
export const IIR_RDI = 0x04;
export const IIR_RLSI = 0x06;
export const IIR_RX_TIMEOUT = 0x0c;
export const IIR_FIFO_BITS = 0xc0; // both set when FIFOs are enabled (a 16550A)

export const FCR_ENABLE_FIFO = 0x01;
export const FCR_CLEAR_RCVR = 0x02;
export const FCR_CLEAR_XMIT = 0x04;

export const LCR_DLAB = 0x80;

export const MCR_DTR = 0x01;
export const MCR_RTS = 0x02;
export const MCR_OUT1 = 0x04;
export const MCR_OUT2 = 0x08;
export const MCR_LOOP = 0x10;

export const LSR_DR = 0x01; // data ready
export const LSR_OE = 0x02; // overrun error
export const LSR_THRE = 0x20; // transmit holding register empty
export const LSR_TEMT = 0x40; // transmitter empty

export const MSR_DCTS = 0x01;
export const MSR_DDSR = 0x02;
export const MSR_TERI = 0x04;
export const MSR_DDCD = 0x08;
export const MSR_CTS = 0x10;
export const MSR_DSR = 0x20;
export const MSR_RI = 0x40;
export const MSR_DCD = 0x80;

/** Receive FIFO depth of a 16550A. */
export const UART_FIFO_SIZE = 16;
/**
 * Capacity of the input ring `create` and the convenience constructor make: the most bytes of host input held at
 * once; pushes beyond it are dropped and flagged as an overrun.
 */
export const UART_RX_BACKLOG_LIMIT = 1 << 20;
/** Capacity of the output ring `create` and the convenience constructor make. */
export const UART_TX_RING_SIZE = 1 << 16;

const TRIGGER_LEVELS = [1, 4, 8, 14];

/**
 * The UART's shared state: word indices of its Int32Array, the one layout table (exported for debuggers and tests to
 * derive views from). Every word but MAGIC, LOCK and LOCK_TIMEOUTS is read and written only while LOCK is held, with
 * plain accesses (the lock's acquire and release order them).
 */
export const UART_STATE_LAYOUT = {
  /** {@link STATE_MAGIC}: tells a UART state buffer from any other SAB at attach time. */
  MAGIC: 0,
  /** State lock (`acquireSharedLock`). */
  LOCK: 1,
  /** Last byte received, as RBR reads it when the receive FIFO is empty. */
  RBR: 2,
  IER: 3,
  LCR: 4,
  MCR: 5,
  SCR: 6,
  DLL: 7,
  DLM: 8,
  /** 1 when FCR enabled the FIFOs. */
  FIFO_ENABLED: 9,
  /** Receive trigger level from FCR bits 7..6 (1 with FIFOs off). */
  TRIGGER_LEVEL: 10,
  /** 1 while a THRE interrupt is pending (set when THR empties, cleared by an IIR read that reports it). */
  THR_INT_PENDING: 11,
  /** 1 when input was lost since LSR was last read (LSR.OE). */
  OVERRUN: 12,
  /** Modem input lines as last latched (MSR bits 7..4). */
  MSR_LINES: 13,
  /** Pending modem status deltas (MSR bits 3..0). */
  MSR_DELTAS: 14,
  /** The input ring's `dropped()` count (as int32) when last folded into OVERRUN. */
  RX_DROPS_SEEN: 15,
  /** Accesses dropped because the state lock timed out (a thread died holding it). */
  LOCK_TIMEOUTS: 16,
  /** Words in the state buffer. */
  WORDS: 32,
} as const;
const S = UART_STATE_LAYOUT;

const STATE_MAGIC = 0x54524155; // "UART", little-endian
const STATE_BYTES = S.WORDS * 4;
const POWER_ON_MSR_LINES = MSR_DCD | MSR_DSR | MSR_CTS;
/** `writeLocked` result: nothing to transmit. */
const TX_NONE = -1;
/** `writeLocked` result flag: the byte goes to the input ring (loopback), not the output ring. */
const TX_LOOPBACK = 0x100;

/** The shared buffers behind a UART: post them to a worker and `Uart16550.attach` them there. */
export interface Uart16550Shared {
  /** Register state (layout table {@link UART_STATE_LAYOUT}). */
  readonly state: SharedArrayBuffer;
  /** Output ring: guest to host. */
  readonly output: SharedArrayBuffer;
  /** Input ring: host to guest. */
  readonly input: SharedArrayBuffer;
}

/**
 * One thread's view of a 16550A UART whose state is shared (see the module comment). Any number of views, on any
 * threads, may access the registers at once.
 *
 * Single-threaded convenience: `new Uart16550(onOutput)` makes fresh shared state and rings, and after each THR
 * write through this view drains the output ring into `onOutput`, one call per byte, before `write` returns. That
 * view is then the output ring's consumer: do not also drain `output` elsewhere.
 */
export class Uart16550 {
  /** Guest-to-host bytes: the host drains it (it is its single consumer). */
  readonly output: ByteRing;
  /**
   * Host-to-guest bytes: any thread pushes; the guest's RBR reads (and `takeInput`) consume it under the state
   * lock. Nothing else may consume it while the UART is in use.
   */
  readonly input: ByteRing;
  private readonly s: Int32Array;
  private readonly onOutput: ((byte: number) => void) | undefined;

  /**
   * A view over `shared`, or over fresh state and rings when it is omitted. With `onOutput`, each THR write through
   * this view is followed by draining the output ring into it (see the class comment).
   * @throws TypeError when `shared` does not hold a UART state buffer and two distinct rings
   */
  constructor(onOutput?: (byte: number) => void, shared?: Uart16550Shared) {
    const sh = shared ?? newShared(ByteRing.create(UART_TX_RING_SIZE), ByteRing.create(UART_RX_BACKLOG_LIMIT));
    const state = sh.state;
    if (!(state instanceof SharedArrayBuffer) || state.byteLength !== STATE_BYTES) {
      throw new TypeError('not a Uart16550 state buffer: expected sharedState().state');
    }
    this.s = new Int32Array(state);
    // ORDER: pairs with the MAGIC store in newShared (postMessage also orders it).
    if (Atomics.load(this.s, S.MAGIC) !== STATE_MAGIC) throw new TypeError('not a Uart16550 state buffer: bad magic');
    if (sh.output === sh.input) throw new TypeError('a Uart16550 needs two distinct rings for output and input');
    this.output = ByteRing.attach(sh.output);
    this.input = ByteRing.attach(sh.input);
    this.onOutput = onOutput;
  }

  /**
   * Owner side: a UART at power-on over new shared state, transmitting into `output` and receiving from `input`
   * (new rings of {@link UART_TX_RING_SIZE} and {@link UART_RX_BACKLOG_LIMIT} bytes when omitted). Drops already
   * counted in `input` are not reported as an overrun.
   * @throws TypeError when `output` and `input` are the same ring
   */
  static create(output?: ByteRing, input?: ByteRing): Uart16550 {
    return new Uart16550(
      undefined,
      newShared(output ?? ByteRing.create(UART_TX_RING_SIZE), input ?? ByteRing.create(UART_RX_BACKLOG_LIMIT)),
    );
  }

  /**
   * Another thread's view of the UART whose `sharedState()` is `shared`.
   * @throws TypeError when `shared` is not such a state
   */
  static attach(shared: Uart16550Shared): Uart16550 {
    return new Uart16550(undefined, shared);
  }

  /** The buffers to post to another thread for `Uart16550.attach` (structured-cloneable). */
  sharedState(): Uart16550Shared {
    return { state: this.s.buffer as SharedArrayBuffer, output: this.output.sab, input: this.input.sab };
  }

  /** Returns every register to its power-on value and drops all pending input (not pending output). */
  reset(): void {
    const s = this.s;
    if (!this.lock()) return;
    this.input.skip(Infinity); // consumer role: we hold the state lock
    powerOn(s, this.input);
    releaseSharedLock(s, S.LOCK);
  }

  /** Reads the register at `offset` (0..7); anything else reads 0. Some reads have side effects (RBR, IIR, LSR, MSR). */
  read(offset: number): number {
    if (!isRegOffset(offset)) return 0;
    if (!this.lock()) return 0;
    const v = this.readLocked(offset);
    releaseSharedLock(this.s, S.LOCK);
    return v;
  }

  /** Writes `value` (masked to 8 bits) to the register at `offset` (0..7); anything else is ignored. */
  write(offset: number, value: number): void {
    if (!isRegOffset(offset)) return;
    const v = typeof value === 'number' ? value & 0xff : 0;
    if (!this.lock()) return;
    const tx = this.writeLocked(offset, v);
    releaseSharedLock(this.s, S.LOCK);
    if (tx === TX_NONE) return;
    // Pushed outside the state lock to keep it short. A guest that orders its writes (one hart, or harts that
    // synchronize) still sees its bytes in order: each push completes before its write() returns.
    if (tx & TX_LOOPBACK) {
      this.input.push(tx & 0xff); // loopback: transmitter feeds the receiver
    } else {
      this.output.push(tx);
      if (this.onOutput !== undefined) this.flushOutput(this.onOutput);
    }
  }

  /**
   * Host input: queues bytes (masked to 8 bits) for the guest to receive, in order. Returns how many were queued;
   * the rest did not fit in the input ring and will read as an overrun (LSR.OE). Safe from any thread.
   */
  pushInput(bytes: Uint8Array | ArrayLike<number>): number {
    return this.input.push(bytes);
  }

  /**
   * Guest-side bulk read that bypasses the registers (e.g. SBI DBCN console read): removes and returns up to `max`
   * bytes of pending input. Takes the state lock, so it shares the input ring's single-consumer role with RBR reads
   * safely; draining `input` directly from a vCPU thread would not. Returns nothing if the lock times out.
   */
  takeInput(max: number): Uint8Array {
    if (!this.lock()) return new Uint8Array(0);
    const bytes = this.input.drain(max);
    releaseSharedLock(this.s, S.LOCK);
    return bytes;
  }

  /** True when an interrupt enabled in IER is pending, i.e. the UART's IRQ line would be asserted. */
  interruptPending(): boolean {
    if (!this.lock()) return false;
    const id = this.interruptId();
    releaseSharedLock(this.s, S.LOCK);
    return id !== IIR_NO_INT;
  }

  /** Bytes of host input not yet read by the guest. */
  get pendingInput(): number {
    return this.input.available();
  }

  /** Register accesses dropped because the state lock timed out (non-zero only if a thread died holding it). */
  lockTimeouts(): number {
    return Atomics.load(this.s, S.LOCK_TIMEOUTS) >>> 0;
  }

  /** Takes the state lock, or counts a timeout and returns false. */
  private lock(): boolean {
    // ORDER: acquire; the critical section's plain reads see the previous holder's writes.
    if (acquireSharedLock(this.s, S.LOCK)) return true;
    Atomics.add(this.s, S.LOCK_TIMEOUTS, 1); // ORDER: counter only
    return false;
  }

  private flushOutput(onOutput: (byte: number) => void): void {
    for (let b = this.output.shift(); b >= 0; b = this.output.shift()) onOutput(b);
  }

  private readLocked(offset: number): number {
    const s = this.s;
    const dlab = (s[S.LCR]! & LCR_DLAB) !== 0;
    switch (offset) {
      case 0: {
        if (dlab) return s[S.DLL]!;
        const b = this.input.shift(); // consumer role: we hold the state lock
        if (b >= 0) s[S.RBR] = b;
        return s[S.RBR]!;
      }
      case 1:
        return dlab ? s[S.DLM]! : s[S.IER]!;
      case 2: {
        const id = this.interruptId();
        if (id === IIR_THRI) s[S.THR_INT_PENDING] = 0; // reading IIR acknowledges THRE
        return id | (s[S.FIFO_ENABLED] ? IIR_FIFO_BITS : 0);
      }
      case 3:
        return s[S.LCR]!;
      case 4:
        return s[S.MCR]!;
      case 5: {
        this.foldInputDrops();
        const lsr = (this.input.available() > 0 ? LSR_DR : 0) | (s[S.OVERRUN] ? LSR_OE : 0) | LSR_THRE | LSR_TEMT;
        s[S.OVERRUN] = 0; // error bits clear on read
        return lsr;
      }
      case 6: {
        this.latchModemLines();
        const msr = s[S.MSR_LINES]! | s[S.MSR_DELTAS]!;
        s[S.MSR_DELTAS] = 0;
        return msr;
      }
      default:
        return s[S.SCR]!;
    }
  }

  /** Applies a register write; returns the byte to transmit (| TX_LOOPBACK to loop it back) or TX_NONE. */
  private writeLocked(offset: number, v: number): number {
    const s = this.s;
    const dlab = (s[S.LCR]! & LCR_DLAB) !== 0;
    switch (offset) {
      case 0:
        if (dlab) {
          s[S.DLL] = v;
          return TX_NONE;
        }
        s[S.THR_INT_PENDING] = 1; // THR empties at once, re-raising THRE
        return s[S.MCR]! & MCR_LOOP ? v | TX_LOOPBACK : v;
      case 1:
        if (dlab) {
          s[S.DLM] = v;
        } else {
          const changed = (s[S.IER]! ^ v) & 0x0f;
          s[S.IER] = v & 0x0f;
          // Enabling THRI while THR is empty (always, here) raises THRE; disabling drops it.
          if (changed & IER_THRI) s[S.THR_INT_PENDING] = v & IER_THRI ? 1 : 0;
        }
        return TX_NONE;
      case 2: {
        const enable = (v & FCR_ENABLE_FIFO) !== 0;
        // Toggling the enable bit resets both FIFOs, like writing the clear bits.
        if (v & FCR_CLEAR_RCVR || enable !== (s[S.FIFO_ENABLED] === 1)) this.input.skip(this.rxFifoCount());
        s[S.FIFO_ENABLED] = enable ? 1 : 0;
        s[S.TRIGGER_LEVEL] = enable ? TRIGGER_LEVELS[v >> 6]! : 1;
        // The transmit FIFO is always empty, so clearing it changes nothing.
        return TX_NONE;
      }
      case 3:
        s[S.LCR] = v;
        return TX_NONE;
      case 4:
        s[S.MCR] = v & 0x1f;
        this.latchModemLines();
        return TX_NONE;
      case 7:
        s[S.SCR] = v;
        return TX_NONE;
      default:
        return TX_NONE; // LSR and MSR are read-only
    }
  }

  /** Bytes the guest-visible receive FIFO (or holding register) holds. */
  private rxFifoCount(): number {
    return Math.min(this.input.available(), this.s[S.FIFO_ENABLED] ? UART_FIFO_SIZE : 1);
  }

  /** Turns input the ring dropped since the last look (from any producer) into an overrun. */
  private foldInputDrops(): void {
    const d = this.input.dropped() | 0;
    if (d !== this.s[S.RX_DROPS_SEEN]) {
      this.s[S.RX_DROPS_SEEN] = d;
      this.s[S.OVERRUN] = 1;
    }
  }

  /** Highest-priority pending, enabled interrupt, as an IIR id (without the FIFO bits). */
  private interruptId(): number {
    const s = this.s;
    const ier = s[S.IER]!;
    this.foldInputDrops();
    if (ier & IER_RLSI && s[S.OVERRUN]) return IIR_RLSI;
    if (ier & IER_RDI) {
      const n = this.rxFifoCount();
      if (n > 0) return n >= s[S.TRIGGER_LEVEL]! ? IIR_RDI : IIR_RX_TIMEOUT;
    }
    if (ier & IER_THRI && s[S.THR_INT_PENDING]) return IIR_THRI;
    if (ier & IER_MSI && s[S.MSR_DELTAS] !== 0) return IIR_MSI;
    return IIR_NO_INT;
  }

  /**
   * Updates the modem input lines and their delta bits. Outside loopback the lines are fixed
   * (carrier, data set ready and clear to send all asserted, as QEMU reports); in loopback they mirror
   * MCR: CTS = RTS, DSR = DTR, RI = OUT1, DCD = OUT2.
   */
  private latchModemLines(): void {
    const s = this.s;
    const m = s[S.MCR]!;
    const lines =
      m & MCR_LOOP
        ? (m & MCR_RTS ? MSR_CTS : 0) | (m & MCR_DTR ? MSR_DSR : 0) | (m & MCR_OUT1 ? MSR_RI : 0) | (m & MCR_OUT2 ? MSR_DCD : 0)
        : POWER_ON_MSR_LINES;
    const changed = lines ^ s[S.MSR_LINES]!;
    let deltas = s[S.MSR_DELTAS]!;
    if (changed & MSR_CTS) deltas |= MSR_DCTS;
    if (changed & MSR_DSR) deltas |= MSR_DDSR;
    if (changed & MSR_DCD) deltas |= MSR_DDCD;
    if (changed & MSR_RI && !(lines & MSR_RI)) deltas |= MSR_TERI; // trailing edge only
    s[S.MSR_DELTAS] = deltas;
    s[S.MSR_LINES] = lines;
  }
}

/** New state buffer at power-on over the given rings. */
function newShared(output: ByteRing, input: ByteRing): Uart16550Shared {
  const state = new SharedArrayBuffer(STATE_BYTES);
  const s = new Int32Array(state);
  powerOn(s, input);
  // ORDER: written before the buffer is shared; postMessage publishes the whole state to the receiving thread.
  Atomics.store(s, S.MAGIC, STATE_MAGIC);
  return { state, output: output.sab, input: input.sab };
}

/** Power-on register values. Call with the state lock held, or before the state is shared. Leaves LOCK alone. */
function powerOn(s: Int32Array, input: ByteRing): void {
  s[S.RBR] = s[S.IER] = s[S.LCR] = s[S.MCR] = s[S.SCR] = s[S.DLL] = s[S.DLM] = 0;
  s[S.FIFO_ENABLED] = 0;
  s[S.TRIGGER_LEVEL] = 1;
  s[S.THR_INT_PENDING] = 0;
  s[S.OVERRUN] = 0;
  s[S.MSR_LINES] = POWER_ON_MSR_LINES;
  s[S.MSR_DELTAS] = 0;
  s[S.RX_DROPS_SEEN] = input.dropped() | 0; // earlier drops are not this UART's overrun
}

function isRegOffset(offset: number): boolean {
  return Number.isInteger(offset) && offset >= 0 && offset <= 7;
}
