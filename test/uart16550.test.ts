import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

import { ByteRing, LOCK_TIMEOUT_MS } from '../src/devices/console.js';
import {
  Uart16550,
  type Uart16550Shared,
  FCR_CLEAR_RCVR,
  FCR_ENABLE_FIFO,
  IER_MSI,
  IER_RDI,
  IER_RLSI,
  IER_THRI,
  IIR_FIFO_BITS,
  IIR_MSI,
  IIR_NO_INT,
  IIR_RDI,
  IIR_RLSI,
  IIR_RX_TIMEOUT,
  IIR_THRI,
  LCR_DLAB,
  LSR_DR,
  LSR_OE,
  LSR_TEMT,
  LSR_THRE,
  MCR_LOOP,
  UART_DLL,
  UART_DLM,
  UART_FCR,
  UART_IER,
  UART_IIR,
  UART_LCR,
  UART_LSR,
  UART_MCR,
  UART_MSR,
  UART_RBR,
  UART_SCR,
  UART_THR,
  UART_STATE_LAYOUT,
  UART_TX_RING_SIZE,
} from '../src/devices/uart16550.js';

/**
 * The UART as a vCPU thread sees it: an attached view over state that `Uart16550.create` made on the "host" side,
 * so every behaviour test below also checks that the registers live in the shared state. `out()` drains the output
 * ring from the host's view and returns everything transmitted so far.
 */
function make(): { uart: Uart16550; host: Uart16550; out: () => number[] } {
  const host = Uart16550.create();
  const uart = Uart16550.attach(host.sharedState());
  const sent: number[] = [];
  return {
    uart,
    host,
    out: () => {
      sent.push(...host.output.drain());
      return sent;
    },
  };
}

/** kvm-unit-tests / earlycon style: wait for THRE, then write THR. */
function putsPolling(uart: Uart16550, s: string): void {
  for (const ch of Buffer.from(s)) {
    let spins = 0;
    while (!(uart.read(UART_LSR) & LSR_THRE)) assert.ok(++spins < 10, 'THRE never set');
    uart.write(UART_THR, ch);
  }
}

/** What a vCPU worker is told (this file doubles as the worker's script). */
interface VcpuJob {
  role: 'uart-vcpu';
  shared: Uart16550Shared;
  /** Int32 words: see `C`. */
  control: SharedArrayBuffer;
  id: number;
  /** Bytes to transmit, tagged `(id << 7) | (seq & 127)`. */
  txCount: number;
  /** Bytes the host sends in all; the workers stop receiving once that many were received between them. */
  rxTotal: number;
  /**
   * When set, the worker instead reads RBR exactly this many times with no guest lock and no LSR check, and
   * transmits nothing: only the UART's own state lock keeps two such readers from taking the same byte.
   */
  rawReads?: number;
}

/** Words of a vCPU test's control buffer. */
const C = {
  /** A guest-level lock the workers take around "LSR.DR? then RBR" (as a guest driver's port lock would). */
  GUEST_LOCK: 0,
  /** Bytes received so far by all workers; written under GUEST_LOCK. */
  RECEIVED: 1,
  /** 0 until the host lets the workers start. */
  GO: 2,
  /** Workers attached and waiting for GO. */
  READY: 3,
  WORDS: 4,
} as const;

/** What a vCPU worker reports: pairs of (receive order index, byte); in raw mode, just the bytes read. */
interface VcpuReport {
  id: number;
  received: number[];
}

/** Worker side: transmits its tagged bytes while competing with the other worker for input. */
function runVcpu(job: VcpuJob): void {
  const uart = Uart16550.attach(job.shared);
  const c = new Int32Array(job.control);
  Atomics.add(c, C.READY, 1); // ORDER: tells the host we are about to wait for GO
  Atomics.wait(c, C.GO, 0); // ORDER: the host's store of GO, then notify, releases us
  const received: number[] = [];
  if (job.rawReads !== undefined) {
    for (let i = 0; i < job.rawReads; i++) received.push(uart.read(UART_RBR));
    const report: VcpuReport = { id: job.id, received };
    parentPort!.postMessage(report);
    return;
  }
  let sent = 0;
  while (sent < job.txCount || Atomics.load(c, C.RECEIVED) < job.rxTotal) {
    if (sent < job.txCount && uart.read(UART_LSR) & LSR_THRE) {
      uart.write(UART_THR, (job.id << 7) | (sent & 127));
      sent++;
    }
    // ORDER: CAS acquires the guest lock; the store below releases it (with the RECEIVED update).
    if (Atomics.compareExchange(c, C.GUEST_LOCK, 0, 1) === 0) {
      if (uart.read(UART_LSR) & LSR_DR) {
        const index = c[C.RECEIVED]!;
        received.push(index, uart.read(UART_RBR));
        c[C.RECEIVED] = index + 1;
      }
      Atomics.store(c, C.GUEST_LOCK, 0);
    }
  }
  const report: VcpuReport = { id: job.id, received };
  parentPort!.postMessage(report);
}

if (!isMainThread && (workerData as VcpuJob | undefined)?.role === 'uart-vcpu') {
  runVcpu(workerData as VcpuJob);
} else {
  defineTests();
}

/** vCPU workers of one test: their reports, whether they all ended, and their end as a promise. */
interface VcpuGroup {
  reports: VcpuReport[];
  /** True once every worker exited (or one failed). */
  ended: () => boolean;
  /** Resolves when all exited with code 0; rejects with the first failure. */
  done: Promise<void>;
  /** Opens the GO gate once every worker waits at it. */
  start: () => Promise<void>;
  /** Terminates whatever still runs (after a failed assert). */
  stop: () => void;
}

/** Starts one worker per job, all held at the GO gate of `control`. */
function spawnVcpus(jobs: VcpuJob[], control: SharedArrayBuffer): VcpuGroup {
  const ctl = new Int32Array(control);
  const reports: VcpuReport[] = [];
  let ended = false;
  const workers = jobs.map((job) => new Worker(new URL(import.meta.url), { workerData: job }));
  const done = Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.on('message', (r: VcpuReport) => reports.push(r));
          w.on('error', reject);
          w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`vCPU worker exited with ${code}`))));
        }),
    ),
  )
    .then(() => {})
    .finally(() => {
      ended = true;
    });
  done.catch(() => {}); // observed by the test's own await
  return {
    reports,
    ended: () => ended,
    done,
    start: async () => {
      while (Atomics.load(ctl, C.READY) < jobs.length && !ended) await new Promise((r) => setTimeout(r, 1));
      // ORDER: GO published with a store, then the sleepers are woken.
      Atomics.store(ctl, C.GO, 1);
      Atomics.notify(ctl, C.GO);
    },
    stop: () => {
      for (const w of workers) void w.terminate();
    },
  };
}

function defineTests(): void {
  test('uart: THR writes reach the output ring; THRE and TEMT always set', () => {
    const { uart, out } = make();
    assert.equal(uart.read(UART_LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
    putsPolling(uart, 'hello\n');
    assert.equal(Buffer.from(out()).toString(), 'hello\n');
    uart.write(UART_THR, 0x1ff); // masked to a byte
    assert.equal(out().at(-1), 0xff);
  });

  test('uart: DLAB switches offsets 0 and 1 to the divisor latch', () => {
    const { uart, out } = make();
    uart.write(UART_IER, 0x05);
    uart.write(UART_LCR, LCR_DLAB | 0x03);
    uart.write(UART_DLL, 0x01);
    uart.write(UART_DLM, 0x02);
    assert.equal(out().length, 0, 'DLL write is not a transmission');
    assert.equal(uart.read(UART_DLL), 0x01);
    assert.equal(uart.read(UART_DLM), 0x02);
    uart.pushInput([0x41]);
    assert.equal(uart.read(UART_DLL), 0x01, 'reading DLL does not consume input');
    assert.equal(uart.read(UART_LCR), LCR_DLAB | 0x03);
    uart.write(UART_LCR, 0x03);
    assert.equal(uart.read(UART_IER), 0x05, 'IER kept while DLAB was set');
    assert.equal(uart.read(UART_RBR), 0x41);
    uart.write(UART_LCR, LCR_DLAB);
    assert.equal(uart.read(UART_DLM), 0x02, 'divisor kept');
  });

  test('uart: LSR.DR follows the receive queue; bytes come out in order', () => {
    const { uart } = make();
    assert.equal(uart.read(UART_LSR) & LSR_DR, 0);
    uart.pushInput(new Uint8Array([1, 2, 3]));
    uart.pushInput([4, 0x105]);
    const got: number[] = [];
    while (uart.read(UART_LSR) & LSR_DR) got.push(uart.read(UART_RBR));
    assert.deepEqual(got, [1, 2, 3, 4, 5]);
    assert.equal(uart.pendingInput, 0);
  });

  test('uart: large input is not lost and stays in order', () => {
    const { uart } = make();
    uart.write(UART_FCR, FCR_ENABLE_FIFO);
    const data = Array.from({ length: 20000 }, (_, i) => (i * 7) & 0xff);
    uart.pushInput(data);
    const got: number[] = [];
    while (uart.read(UART_LSR) & LSR_DR) got.push(uart.read(UART_RBR));
    assert.deepEqual(got, data);
  });

  test('uart: IIR reports RX data, then THRE, according to IER', () => {
    const { uart } = make();
    assert.equal(uart.read(UART_IIR), IIR_NO_INT);
    assert.equal(uart.interruptPending(), false);

    uart.pushInput([0x61]);
    assert.equal(uart.interruptPending(), false, 'RDI not enabled');
    uart.write(UART_IER, IER_RDI);
    assert.equal(uart.read(UART_IIR), IIR_RDI);
    assert.equal(uart.interruptPending(), true);
    uart.read(UART_RBR);
    assert.equal(uart.read(UART_IIR), IIR_NO_INT);
    assert.equal(uart.interruptPending(), false);

    // Enabling THRI with the transmitter empty raises THRE at once; reading IIR acknowledges it.
    uart.write(UART_IER, IER_RDI | IER_THRI);
    assert.equal(uart.interruptPending(), true);
    uart.pushInput([0x62]);
    assert.equal(uart.read(UART_IIR), IIR_RDI, 'RX data outranks THRE');
    uart.read(UART_RBR);
    assert.equal(uart.read(UART_IIR), IIR_THRI);
    assert.equal(uart.read(UART_IIR), IIR_NO_INT, 'THRE cleared by the IIR read');
    // Writing THR re-arms it (the byte leaves immediately).
    uart.write(UART_THR, 0x63);
    assert.equal(uart.interruptPending(), true);
    assert.equal(uart.read(UART_IIR), IIR_THRI);
    // Disabling THRI drops it.
    uart.write(UART_THR, 0x64);
    uart.write(UART_IER, 0);
    assert.equal(uart.interruptPending(), false);
    assert.equal(uart.read(UART_IIR), IIR_NO_INT);
  });

  test('uart: Linux 8250 THRE test sees THRE re-asserted on IER toggle', () => {
    // serial8250_do_startup: enable THRI, read LSR+IIR, disable, enable again, read IIR.
    const { uart } = make();
    uart.write(UART_IER, IER_THRI);
    const lsr = uart.read(UART_LSR);
    const iir = uart.read(UART_IIR);
    uart.write(UART_IER, 0);
    uart.write(UART_IER, IER_THRI);
    const iir1 = uart.read(UART_IIR);
    uart.write(UART_IER, 0);
    assert.ok(lsr & LSR_TEMT);
    assert.equal(iir & IIR_NO_INT, 0);
    assert.equal(iir1 & IIR_NO_INT, 0);
  });

  test('uart: FIFO control: IIR FIFO bits, trigger level, timeout and clearing', () => {
    const { uart } = make();
    uart.write(UART_FCR, FCR_ENABLE_FIFO | 0x80); // trigger level 8
    assert.equal(uart.read(UART_IIR), IIR_FIFO_BITS | IIR_NO_INT);
    uart.write(UART_IER, IER_RDI);
    uart.pushInput([1, 2, 3]);
    assert.equal(uart.read(UART_IIR), IIR_FIFO_BITS | IIR_RX_TIMEOUT, 'below trigger: character timeout');
    uart.pushInput([4, 5, 6, 7, 8]);
    assert.equal(uart.read(UART_IIR), IIR_FIFO_BITS | IIR_RDI, 'trigger level reached');
    uart.pushInput(Array.from({ length: 20 }, (_, i) => 100 + i));
    uart.write(UART_FCR, FCR_ENABLE_FIFO | FCR_CLEAR_RCVR);
    // The 16 bytes in the FIFO are gone; host input not yet delivered (the rest) remains.
    assert.equal(uart.pendingInput, 28 - 16);
    assert.equal(uart.read(UART_RBR), 100 + 20 - 12);
    uart.write(UART_FCR, 0); // FIFOs off: resets the FIFO, taking the remaining 11
    assert.equal(uart.read(UART_IIR) & IIR_FIFO_BITS, 0);
    assert.equal(uart.pendingInput, 0);
  });

  test('uart: scratch register and MCR', () => {
    const { uart } = make();
    assert.equal(uart.read(UART_SCR), 0);
    uart.write(UART_SCR, 0xa5);
    assert.equal(uart.read(UART_SCR), 0xa5);
    uart.write(UART_SCR, -1);
    assert.equal(uart.read(UART_SCR), 0xff);
    uart.write(UART_MCR, 0xff);
    assert.equal(uart.read(UART_MCR), 0x1f);
  });

  test('uart: IER keeps only its four bits (Linux autoconfig probe)', () => {
    const { uart } = make();
    uart.write(UART_IER, 0);
    assert.equal(uart.read(UART_IER) & 0x0f, 0);
    uart.write(UART_IER, 0xff);
    assert.equal(uart.read(UART_IER), 0x0f);
  });

  test('uart: loopback mirrors MCR into MSR and THR into RBR', () => {
    const { uart, out } = make();
    assert.equal(uart.read(UART_MSR) & 0xf0, 0xb0, 'DCD, DSR, CTS asserted normally');
    uart.write(UART_MCR, MCR_LOOP | 0x0a); // RTS | OUT2 -> CTS | DCD (Linux autoconfig expects 0x90)
    assert.equal(uart.read(UART_MSR) & 0xf0, 0x90);
    uart.write(UART_THR, 0x42);
    assert.equal(out().length, 0);
    assert.ok(uart.read(UART_LSR) & LSR_DR);
    assert.equal(uart.read(UART_RBR), 0x42);
    uart.write(UART_MCR, 0);
    uart.write(UART_IER, IER_MSI);
    uart.write(UART_MCR, MCR_LOOP); // all lines drop: deltas set, modem status interrupt
    assert.equal(uart.read(UART_IIR), IIR_MSI);
    const msr = uart.read(UART_MSR);
    assert.equal(msr & 0xf0, 0);
    assert.notEqual(msr & 0x0f, 0);
    assert.equal(uart.read(UART_MSR) & 0x0f, 0, 'deltas clear on read');
    assert.equal(uart.read(UART_IIR), IIR_NO_INT);
  });

  test('uart: garbage offsets and values never throw', () => {
    const { uart, out } = make();
    const offsets = [-1, 8, 9, 0xff, 0x100, 2 ** 31, -(2 ** 31), 1.5, NaN, Infinity, -Infinity];
    for (const off of offsets) {
      assert.equal(uart.read(off), 0);
      uart.write(off, 0x41);
    }
    assert.equal(out().length, 0, 'no stray output');
    assert.equal(uart.read(UART_LCR), 0, 'no stray register writes');
    for (let off = 0; off < 8; off++) {
      for (const v of [NaN, -1, 2 ** 40, 3.7, Infinity, 0x100]) {
        uart.write(off, v);
        const r = uart.read(off);
        assert.ok(Number.isInteger(r) && r >= 0 && r <= 0xff, `offset ${off} read ${r}`);
      }
    }
    // Not even numbers (a caller bug, but still no throw): treated as 0 or as a bad offset.
    for (const junk of [1n, '1', undefined, null, {}, Symbol('x')] as unknown as number[]) {
      uart.write(UART_SCR, junk);
      assert.equal(uart.read(UART_SCR), 0);
      assert.equal(uart.read(junk), 0);
      uart.write(junk, 0x41);
    }
    uart.write(UART_LCR, 0);
    uart.write(UART_MCR, 0);
    for (let i = 0; i < 1000; i++) {
      const off = (i * 37) % 8;
      uart.write(off, (i * 101) & 0xff);
      uart.read(off);
    }
  });

  test('uart: reset restores power-on state', () => {
    const { uart } = make();
    uart.pushInput([1, 2]);
    uart.write(UART_IER, 0x0f);
    uart.write(UART_SCR, 9);
    uart.write(UART_FCR, FCR_ENABLE_FIFO);
    uart.reset();
    assert.equal(uart.read(UART_IER), 0);
    assert.equal(uart.read(UART_SCR), 0);
    assert.equal(uart.read(UART_IIR), IIR_NO_INT);
    assert.equal(uart.read(UART_LSR), LSR_THRE | LSR_TEMT);
  });

  test('uart: the convenience constructor hands each transmitted byte to onOutput before write returns', () => {
    const out: number[] = [];
    const uart = new Uart16550((b) => out.push(b));
    putsPolling(uart, 'hi');
    assert.deepEqual(out, [0x68, 0x69]);
    assert.equal(uart.output.available(), 0, 'the view drained the ring');
    uart.pushInput([0x21]);
    assert.equal(uart.read(UART_RBR), 0x21);
  });

  test('uart: two views of one state share registers; output from both; input consumed once', () => {
    const output = ByteRing.create(64);
    const input = ByteRing.create(64);
    const a = Uart16550.create(output, input);
    const b = Uart16550.attach(a.sharedState());
    a.write(UART_SCR, 0x5a);
    assert.equal(b.read(UART_SCR), 0x5a);
    b.write(UART_LCR, 0x03);
    assert.equal(a.read(UART_LCR), 0x03);

    a.write(UART_THR, 0x41);
    b.write(UART_THR, 0x42);
    a.write(UART_THR, 0x43);
    assert.equal(Buffer.from(output.drain()).toString(), 'ABC', 'the ring given to create is the one used');

    a.pushInput([1, 2, 3]);
    assert.equal(b.pendingInput, 3);
    assert.equal(b.read(UART_RBR), 1);
    assert.equal(a.read(UART_RBR), 2);
    assert.ok(b.read(UART_LSR) & LSR_DR);
    assert.equal(b.read(UART_RBR), 3);
    assert.equal(a.read(UART_LSR) & LSR_DR, 0, 'each byte was received once');
    assert.equal(a.read(UART_RBR), 3, 'an empty RBR reads the last byte again, as on hardware');
    assert.equal(input.available(), 0);

    b.write(UART_IER, IER_RDI);
    ByteRing.attach(input.sab).push(9); // any thread may feed the input ring directly
    assert.equal(a.interruptPending(), true);
    assert.equal(a.read(UART_IIR), IIR_RDI);
    assert.equal(b.read(UART_RBR), 9);
    assert.equal(a.interruptPending(), false);

    a.pushInput([4, 5, 6]);
    assert.equal(b.read(UART_RBR), 4);
    assert.deepEqual(a.takeInput(1), new Uint8Array([5]), 'bulk reads share the consumer role with RBR');
    assert.equal(b.read(UART_RBR), 6);
    assert.deepEqual(b.takeInput(10), new Uint8Array(0));

    b.write(UART_MCR, MCR_LOOP);
    b.write(UART_THR, 0x7e);
    assert.equal(a.read(UART_RBR), 0x7e, 'loopback through one view, received through the other');
    assert.equal(output.available(), 0);
    assert.equal(a.lockTimeouts() + b.lockTimeouts(), 0);
  });

  test('uart: input the ring could not hold reads as an overrun (LSR.OE, RLSI)', () => {
    const input = ByteRing.create(4);
    input.push([0, 0, 0, 0, 0]); // drops from before the UART existed are not its overrun
    input.drain();
    const uart = Uart16550.create(undefined, input);
    assert.equal(uart.read(UART_LSR) & LSR_OE, 0);
    uart.write(UART_IER, IER_RLSI | IER_RDI);
    assert.equal(uart.pushInput([1, 2, 3, 4, 5, 6]), 4);
    assert.equal(uart.read(UART_IIR), IIR_RLSI, 'line status outranks data');
    assert.equal(uart.read(UART_LSR), LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT);
    assert.equal(uart.read(UART_LSR) & LSR_OE, 0, 'OE clears on read');
    assert.equal(uart.read(UART_IIR), IIR_RDI);
    ByteRing.attach(input.sab).push(7); // a drop by another producer view counts too
    assert.ok(uart.read(UART_LSR) & LSR_OE);
    assert.deepEqual([1, 2, 3, 4].map(() => uart.read(UART_RBR)), [1, 2, 3, 4]);
    input.push(8);
    uart.reset();
    input.push([1, 2, 3, 4, 5]);
    uart.reset();
    assert.equal(uart.read(UART_LSR), LSR_THRE | LSR_TEMT, 'reset forgets input and past drops');
  });

  test('uart: a full output ring drops and counts bytes; THRE stays set', () => {
    const output = ByteRing.create(2);
    const uart = Uart16550.create(output);
    for (const ch of [1, 2, 3]) uart.write(UART_THR, ch);
    assert.equal(output.dropped(), 1);
    assert.ok(uart.read(UART_LSR) & LSR_THRE);
    assert.deepEqual(output.drain(), new Uint8Array([1, 2]));
    assert.equal(Uart16550.create().output.capacity, UART_TX_RING_SIZE);
  });

  test('uart: create and attach refuse what is not a UART state', () => {
    const ring = ByteRing.create(8);
    const other = ByteRing.create(8);
    assert.throws(() => Uart16550.create(ring, ring), TypeError);
    const good = Uart16550.create(ring, other).sharedState();
    assert.throws(() => Uart16550.attach({ ...good, state: new SharedArrayBuffer(good.state.byteLength) }), TypeError);
    assert.throws(() => Uart16550.attach({ ...good, state: new SharedArrayBuffer(16) }), TypeError);
    assert.throws(() => Uart16550.attach({ ...good, output: new SharedArrayBuffer(64) }), TypeError);
    assert.throws(() => Uart16550.attach({ ...good, input: good.output }), TypeError);
    assert.doesNotThrow(() => Uart16550.attach(good));
  });

  test('uart: a state lock that is never released (a dead thread) makes accesses time out, not hang or throw', () => {
    const { uart, host, out } = make();
    uart.write(UART_SCR, 0x33);
    const state = new Int32Array(host.sharedState().state);
    Atomics.store(state, UART_STATE_LAYOUT.LOCK, 1); // as if a vCPU died inside read()
    const t0 = performance.now();
    assert.equal(uart.read(UART_SCR), 0);
    uart.write(UART_THR, 0x41);
    assert.ok(performance.now() - t0 >= 2 * LOCK_TIMEOUT_MS - 10);
    assert.equal(out().length, 0, 'the write was dropped');
    assert.equal(host.lockTimeouts(), 2);
    assert.equal(uart.pushInput([1]), 1, 'host input needs only the ring');
    Atomics.store(state, UART_STATE_LAYOUT.LOCK, 0);
    assert.equal(uart.read(UART_SCR), 0x33, 'state intact');
    assert.equal(uart.read(UART_RBR), 1);
  });

  test('uart: two vCPU threads on one UART: both transmit, each input byte is received exactly once', { timeout: 60_000 }, async () => {
    const VCPUS = 2;
    const TX = 2000;
    const RX = 5000;
    const host = Uart16550.create();
    const control = new SharedArrayBuffer(C.WORDS * 4);
    const inputBytes = Array.from({ length: RX }, (_, i) => (i * 13 + 5) & 0xff);
    host.pushInput(inputBytes.slice(0, RX / 2)); // half before the start, half while they run

    const jobs = Array.from({ length: VCPUS }, (_, id): VcpuJob => {
      return { role: 'uart-vcpu', shared: host.sharedState(), control, id, txCount: TX, rxTotal: RX };
    });
    const vcpus = spawnVcpus(jobs, control);
    const transmitted: number[] = [];
    try {
      await vcpus.start(); // both at once, so that they really compete
      for (let i = RX / 2; i < RX; i += 50) {
        host.pushInput(inputBytes.slice(i, i + 50));
        await new Promise((r) => setTimeout(r, 1)); // paced, so that both vCPUs get a share
      }
      // The host's console pump: sleep until output arrives, drain it, until the vCPUs are gone.
      while (!vcpus.ended() || host.output.available() > 0) {
        transmitted.push(...host.output.drain());
        if (!vcpus.ended()) await host.output.waitForData(20);
      }
    } finally {
      vcpus.stop();
    }
    await vcpus.done;
    const reports = vcpus.reports;

    for (let id = 0; id < VCPUS; id++) {
      const mine = transmitted.filter((b) => b >> 7 === id).map((b) => b & 127);
      assert.equal(mine.length, TX, `vCPU ${id}: bytes transmitted`);
      assert.equal(mine.findIndex((v, i) => v !== (i & 127)), -1, `vCPU ${id}: transmit order`);
    }
    const byIndex = new Array<number | undefined>(RX);
    for (const r of reports) {
      for (let k = 0; k < r.received.length; k += 2) {
        const index = r.received[k]!;
        assert.equal(byIndex[index], undefined, `receive slot ${index} filled twice`);
        byIndex[index] = r.received[k + 1]!;
      }
    }
    assert.deepEqual(byIndex, inputBytes, 'every input byte received once, in order');
    assert.ok(reports.every((r) => r.received.length > 0), 'both vCPUs received some input');
    assert.equal(host.output.dropped() + host.input.dropped() + host.lockTimeouts(), 0);
    assert.equal(host.pendingInput, 0);
  });

  test('uart: two vCPU threads reading RBR with no guest lock never take the same byte', { timeout: 60_000 }, async () => {
    const READS = 20_000;
    const host = Uart16550.create();
    const inputBytes = Array.from({ length: 2 * READS }, (_, i) => (i * 29 + 3) & 0xff);
    assert.equal(host.pushInput(inputBytes), inputBytes.length);
    const control = new SharedArrayBuffer(C.WORDS * 4);
    const jobs = [0, 1].map((id): VcpuJob => {
      return { role: 'uart-vcpu', shared: host.sharedState(), control, id, txCount: 0, rxTotal: 0, rawReads: READS };
    });
    const vcpus = spawnVcpus(jobs, control);
    try {
      await vcpus.start();
      await vcpus.done;
    } finally {
      vcpus.stop();
    }
    // The ring never runs dry before the last read, so each read consumed exactly one byte: all gone, none twice.
    assert.equal(host.pendingInput, 0, 'as many bytes consumed as RBR reads');
    const histogram = (bytes: number[]): number[] => {
      const h = new Array<number>(256).fill(0);
      for (const b of bytes) h[b]!++;
      return h;
    };
    const read = vcpus.reports.flatMap((r) => r.received);
    assert.equal(read.length, inputBytes.length);
    assert.deepEqual(histogram(read), histogram(inputBytes), 'every input byte read once');
    assert.equal(host.lockTimeouts(), 0);
  });
}
