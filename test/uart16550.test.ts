import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  Uart16550,
  FCR_CLEAR_RCVR,
  FCR_ENABLE_FIFO,
  IER_MSI,
  IER_RDI,
  IER_THRI,
  IIR_FIFO_BITS,
  IIR_MSI,
  IIR_NO_INT,
  IIR_RDI,
  IIR_RX_TIMEOUT,
  IIR_THRI,
  LCR_DLAB,
  LSR_DR,
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
} from '../src/devices/uart16550.js';

function make(): { uart: Uart16550; out: number[] } {
  const out: number[] = [];
  return { uart: new Uart16550((b) => out.push(b)), out };
}

/** kvm-unit-tests / earlycon style: wait for THRE, then write THR. */
function putsPolling(uart: Uart16550, s: string): void {
  for (const ch of Buffer.from(s)) {
    let spins = 0;
    while (!(uart.read(UART_LSR) & LSR_THRE)) assert.ok(++spins < 10, 'THRE never set');
    uart.write(UART_THR, ch);
  }
}

test('uart: THR writes reach onOutput; THRE and TEMT always set', () => {
  const { uart, out } = make();
  assert.equal(uart.read(UART_LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
  putsPolling(uart, 'hello\n');
  assert.equal(Buffer.from(out).toString(), 'hello\n');
  uart.write(UART_THR, 0x1ff); // masked to a byte
  assert.equal(out.at(-1), 0xff);
});

test('uart: DLAB switches offsets 0 and 1 to the divisor latch', () => {
  const { uart, out } = make();
  uart.write(UART_IER, 0x05);
  uart.write(UART_LCR, LCR_DLAB | 0x03);
  uart.write(UART_DLL, 0x01);
  uart.write(UART_DLM, 0x02);
  assert.equal(out.length, 0, 'DLL write is not a transmission');
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
  assert.equal(out.length, 0);
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
  assert.equal(out.length, 0, 'no stray output');
  assert.equal(uart.read(UART_LCR), 0, 'no stray register writes');
  for (let off = 0; off < 8; off++) {
    for (const v of [NaN, -1, 2 ** 40, 3.7, Infinity, 0x100]) {
      uart.write(off, v);
      const r = uart.read(off);
      assert.ok(Number.isInteger(r) && r >= 0 && r <= 0xff, `offset ${off} read ${r}`);
    }
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
