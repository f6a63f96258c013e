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
 * Transmission is instantaneous: a THR write goes straight to `onOutput`, so THRE and TEMT always read 1.
 * Reception: bytes pushed by the host wait in a queue; the first 16 of them (1 with FIFOs off) are what the
 * guest-visible receive FIFO holds, the rest stand for data the host side has not delivered yet. So a long
 * paste is never lost to overrun (the queue is only capped, at {@link UART_RX_BACKLOG_LIMIT}, against
 * runaway hosts), and a FIFO reset discards just the FIFO's share.
 *
 * Interrupts are computed, not wired: {@link Uart16550.interruptPending} tells whether the IRQ line would be
 * high (IER-enabled cause pending, regardless of MCR.OUT2, as in QEMU). Character timeout is modelled as
 * already elapsed: with FIFOs on and fewer bytes than the trigger level, IIR reports a timeout (0xc).
 *
 * Nothing here throws on guest input: unknown offsets read 0 and ignore writes, values are masked to 8 bits.
 */

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
/** Most bytes of host input held at once; pushes beyond it are dropped and flagged as an overrun. */
export const UART_RX_BACKLOG_LIMIT = 1 << 20;

const TRIGGER_LEVELS = [1, 4, 8, 14];

/** A 16550A UART register model. Single-threaded: call it from the thread that owns the device. */
export class Uart16550 {
  private readonly onOutput: (byte: number) => void;
  private rx: number[] = [];
  private rxHead = 0;
  private rbr = 0;
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 0;
  private dlm = 0;
  private fifoEnabled = false;
  private triggerLevel = 1;
  private thrIntPending = false;
  private overrun = false;
  /** Modem input lines (MSR bits 7..4) as last latched, and the pending delta bits (3..0). */
  private msrLines = MSR_DCD | MSR_DSR | MSR_CTS;
  private msrDeltas = 0;

  /** `onOutput` receives every byte the guest transmits, one call per byte (the caller batches). */
  constructor(onOutput: (byte: number) => void) {
    this.onOutput = onOutput;
  }

  /** Returns every register to its power-on value and drops all pending input. */
  reset(): void {
    this.rx = [];
    this.rxHead = 0;
    this.rbr = this.ier = this.lcr = this.mcr = this.scr = this.dll = this.dlm = 0;
    this.fifoEnabled = false;
    this.triggerLevel = 1;
    this.thrIntPending = false;
    this.overrun = false;
    this.msrLines = MSR_DCD | MSR_DSR | MSR_CTS;
    this.msrDeltas = 0;
  }

  /** Reads the register at `offset` (0..7); anything else reads 0. Some reads have side effects (RBR, IIR, LSR, MSR). */
  read(offset: number): number {
    if (!isRegOffset(offset)) return 0;
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case 0:
        if (dlab) return this.dll;
        if (this.rxQueued() > 0) {
          this.rbr = this.rx[this.rxHead++]!;
          this.compactRx();
        }
        return this.rbr;
      case 1:
        return dlab ? this.dlm : this.ier;
      case 2: {
        const id = this.interruptId();
        if (id === IIR_THRI) this.thrIntPending = false; // reading IIR acknowledges THRE
        return id | (this.fifoEnabled ? IIR_FIFO_BITS : 0);
      }
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5: {
        const lsr = (this.rxQueued() > 0 ? LSR_DR : 0) | (this.overrun ? LSR_OE : 0) | LSR_THRE | LSR_TEMT;
        this.overrun = false; // error bits clear on read
        return lsr;
      }
      case 6: {
        this.latchModemLines();
        const msr = this.msrLines | this.msrDeltas;
        this.msrDeltas = 0;
        return msr;
      }
      default:
        return this.scr;
    }
  }

  /** Writes `value` (masked to 8 bits) to the register at `offset` (0..7); anything else is ignored. */
  write(offset: number, value: number): void {
    if (!isRegOffset(offset)) return;
    const v = value & 0xff;
    const dlab = (this.lcr & LCR_DLAB) !== 0;
    switch (offset) {
      case 0:
        if (dlab) {
          this.dll = v;
        } else {
          if (this.mcr & MCR_LOOP) this.enqueue(v); // loopback: transmitter feeds the receiver
          else this.onOutput(v);
          this.thrIntPending = true; // THR empties at once, re-raising THRE
        }
        return;
      case 1:
        if (dlab) {
          this.dlm = v;
        } else {
          const changed = (this.ier ^ v) & 0x0f;
          this.ier = v & 0x0f;
          // Enabling THRI while THR is empty (always, here) raises THRE; disabling drops it.
          if (changed & IER_THRI) this.thrIntPending = (v & IER_THRI) !== 0;
        }
        return;
      case 2: {
        const enable = (v & FCR_ENABLE_FIFO) !== 0;
        // Toggling the enable bit resets both FIFOs, like writing the clear bits.
        if (v & FCR_CLEAR_RCVR || enable !== this.fifoEnabled) this.clearRxFifo();
        this.fifoEnabled = enable;
        this.triggerLevel = enable ? TRIGGER_LEVELS[v >> 6]! : 1;
        // The transmit FIFO is always empty, so clearing it changes nothing.
        return;
      }
      case 3:
        this.lcr = v;
        return;
      case 4:
        this.mcr = v & 0x1f;
        this.latchModemLines();
        return;
      case 7:
        this.scr = v;
        return;
      default:
        return; // LSR and MSR are read-only
    }
  }

  /** Host input: queues bytes (masked to 8 bits) for the guest to receive, in order. */
  pushInput(bytes: Uint8Array | number[]): void {
    for (let i = 0; i < bytes.length; i++) this.enqueue(bytes[i]! & 0xff);
  }

  /** True when an interrupt enabled in IER is pending, i.e. the UART's IRQ line would be asserted. */
  interruptPending(): boolean {
    return this.interruptId() !== IIR_NO_INT;
  }

  /** Bytes of host input not yet read by the guest. */
  get pendingInput(): number {
    return this.rxQueued();
  }

  private rxQueued(): number {
    return this.rx.length - this.rxHead;
  }

  /** Bytes the guest-visible receive FIFO (or holding register) holds. */
  private rxFifoCount(): number {
    return Math.min(this.rxQueued(), this.fifoEnabled ? UART_FIFO_SIZE : 1);
  }

  private enqueue(byte: number): void {
    if (this.rxQueued() >= UART_RX_BACKLOG_LIMIT) {
      this.overrun = true;
      return;
    }
    this.rx.push(byte);
  }

  private clearRxFifo(): void {
    this.rxHead += this.rxFifoCount();
    this.compactRx();
  }

  private compactRx(): void {
    if (this.rxHead === this.rx.length) {
      this.rx = [];
      this.rxHead = 0;
    } else if (this.rxHead >= 4096 && this.rxHead * 2 >= this.rx.length) {
      this.rx = this.rx.slice(this.rxHead);
      this.rxHead = 0;
    }
  }

  /** Highest-priority pending, enabled interrupt, as an IIR id (without the FIFO bits). */
  private interruptId(): number {
    if (this.ier & IER_RLSI && this.overrun) return IIR_RLSI;
    if (this.ier & IER_RDI) {
      const n = this.rxFifoCount();
      if (n > 0) return n >= this.triggerLevel ? IIR_RDI : IIR_RX_TIMEOUT;
    }
    if (this.ier & IER_THRI && this.thrIntPending) return IIR_THRI;
    if (this.ier & IER_MSI && this.msrDeltas !== 0) return IIR_MSI;
    return IIR_NO_INT;
  }

  /**
   * Updates the modem input lines and their delta bits. Outside loopback the lines are fixed
   * (carrier, data set ready and clear to send all asserted, as QEMU reports); in loopback they mirror
   * MCR: CTS = RTS, DSR = DTR, RI = OUT1, DCD = OUT2.
   */
  private latchModemLines(): void {
    const m = this.mcr;
    const lines =
      m & MCR_LOOP
        ? (m & MCR_RTS ? MSR_CTS : 0) | (m & MCR_DTR ? MSR_DSR : 0) | (m & MCR_OUT1 ? MSR_RI : 0) | (m & MCR_OUT2 ? MSR_DCD : 0)
        : MSR_DCD | MSR_DSR | MSR_CTS;
    const changed = lines ^ this.msrLines;
    if (changed & MSR_CTS) this.msrDeltas |= MSR_DCTS;
    if (changed & MSR_DSR) this.msrDeltas |= MSR_DDSR;
    if (changed & MSR_DCD) this.msrDeltas |= MSR_DDCD;
    if (changed & MSR_RI && !(lines & MSR_RI)) this.msrDeltas |= MSR_TERI; // trailing edge only
    this.msrLines = lines;
  }
}

function isRegOffset(offset: number): boolean {
  return Number.isInteger(offset) && offset >= 0 && offset <= 7;
}
