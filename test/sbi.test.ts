/** SBI call decoding and argument validation against a recording host: garbage in, the spec's errors out. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HSM_SUSPEND_NON_RETENTIVE, SbiError, SbiExt, SbiHost, handleSbiCall, SBI_SPEC_VERSION } from '../src/devices/sbi.js';

const RAM = 0x80000000, RAM_SIZE = 1 << 20;

function host(maxHarts = 4) {
  const log: string[] = [];
  const h: SbiHost = {
    hartId: 0, maxHarts,
    validHart: (id) => id >= 0 && id < maxHarts,
    ramContains: (a, n) => a >= RAM && a + n <= RAM + RAM_SIZE,
    readRam: (_a, n) => new Uint8Array(n).fill(0x41),
    writeRam: () => {},
    setTimer: (v) => log.push(`timer ${v}`),
    sendIpi: (t) => log.push(`ipi ${t}`),
    clearIpi: () => log.push('clear'),
    remoteFence: (t, k) => log.push(`${k} ${t}`),
    hartStart: (t, a, o) => { log.push(`start ${t} ${a.toString(16)} ${o}`); return 0; },
    hartStop: () => 0,
    hartStatus: () => 1,
    hartSuspend: () => 0,
    systemReset: (t, r) => log.push(`reset ${t} ${r}`),
    consoleWrite: (b) => log.push(`out ${Buffer.from(b).toString()}`),
    consoleRead: () => new Uint8Array(0),
  };
  return { h, log };
}

function call(h: SbiHost, ext: number, fid: number, ...args: number[]): { error: number; value: number; unsupported: boolean } {
  const regs = new Int32Array(34);
  regs[17] = ext; regs[16] = fid;
  args.forEach((v, i) => { regs[10 + i] = v; });
  const out = handleSbiCall(regs, h);
  return { error: regs[10], value: regs[11], unsupported: out.unsupported };
}

test('sbi: base reports spec 2.0 and probes extensions', () => {
  const { h } = host();
  assert.equal(call(h, SbiExt.BASE, 0).value, SBI_SPEC_VERSION);
  assert.equal(call(h, SbiExt.BASE, 3, SbiExt.HSM).value, 1);
  assert.equal(call(h, SbiExt.BASE, 3, 0x12345678).value, 0);
  assert.equal(call(h, SbiExt.BASE, 99).error, SbiError.NOT_SUPPORTED);
});

test('sbi: unknown extensions and functions return NOT_SUPPORTED', () => {
  const { h } = host();
  for (const [ext, fid] of [[0x7fffffff, 0], [SbiExt.TIME, 1], [SbiExt.IPI, 5], [SbiExt.HSM, 4], [SbiExt.SRST, 1], [SbiExt.DBCN, 3], [SbiExt.RFENCE, 3]]) {
    const r = call(h, ext, fid);
    assert.equal(r.error, SbiError.NOT_SUPPORTED, `ext 0x${ext.toString(16)} fid ${fid}`);
    assert.equal(r.unsupported, true);
  }
});

test('sbi: IPI and RFENCE validate hart masks', () => {
  const { h, log } = host(4);
  assert.equal(call(h, SbiExt.IPI, 0, 0b101, 0).error, SbiError.SUCCESS);
  assert.deepEqual(log.splice(0), ['ipi 0', 'ipi 2']);
  assert.equal(call(h, SbiExt.IPI, 0, 0b1, 4).error, SbiError.INVALID_PARAM); // base past the last hart
  assert.equal(call(h, SbiExt.IPI, 0, 0b10000, 0).error, SbiError.INVALID_PARAM); // bit 4 names hart 4
  assert.equal(log.length, 0, 'an invalid mask sends nothing');
  assert.equal(call(h, SbiExt.IPI, 0, 0, -1).error, SbiError.SUCCESS); // base -1: all harts
  assert.deepEqual(log.splice(0), ['ipi 0', 'ipi 1', 'ipi 2', 'ipi 3']);
  assert.equal(call(h, SbiExt.RFENCE, 1, 0b11, 2, 0, 4096).error, SbiError.SUCCESS);
  assert.deepEqual(log.splice(0), ['sfence.vma 2', 'sfence.vma 3']);
  assert.equal(call(h, SbiExt.RFENCE, 0, 1, 9).error, SbiError.INVALID_PARAM);
});

test('sbi: DBCN rejects addresses outside RAM and above 4 GiB', () => {
  const { h, log } = host();
  assert.deepEqual([call(h, SbiExt.DBCN, 0, 3, RAM, 0).error, call(h, SbiExt.DBCN, 0, 3, RAM, 0).value], [0, 3]);
  assert.equal(call(h, SbiExt.DBCN, 0, 3, RAM, 1).error, SbiError.INVALID_PARAM);
  assert.equal(call(h, SbiExt.DBCN, 0, 16, RAM + RAM_SIZE - 8, 0).error, SbiError.INVALID_PARAM);
  assert.equal(call(h, SbiExt.DBCN, 0, 4, 0x1000, 0).error, SbiError.INVALID_PARAM);
  assert.equal(call(h, SbiExt.DBCN, 2, 0x42).error, 0);
  assert.ok(log.includes('out B'));
});

test('sbi: SRST validates type and reason', () => {
  const { h, log } = host();
  assert.equal(call(h, SbiExt.SRST, 0, 3, 0).error, SbiError.INVALID_PARAM);
  assert.equal(call(h, SbiExt.SRST, 0, 0, 2).error, SbiError.INVALID_PARAM);
  assert.equal(call(h, SbiExt.SRST, 0, 0xf0000000, 0).error, SbiError.NOT_SUPPORTED);
  assert.equal(log.length, 0);
  assert.equal(call(h, SbiExt.SRST, 0, 0, 1).error, 0);
  assert.deepEqual(log, ['reset 0 1']);
});

test('sbi: HSM get_status validates the hart id; start passes arguments through', () => {
  const { h, log } = host(2);
  assert.equal(call(h, SbiExt.HSM, 2, 5).error, SbiError.INVALID_PARAM);
  assert.deepEqual([call(h, SbiExt.HSM, 2, 1).error, call(h, SbiExt.HSM, 2, 1).value], [0, 1]);
  call(h, SbiExt.HSM, 0, 1, RAM + 0x100, 7);
  assert.deepEqual(log, ['start 1 80000100 7']);
  assert.equal(call(h, SbiExt.HSM, 3, HSM_SUSPEND_NON_RETENTIVE, RAM, 0).error, 0);
});

test('sbi: random garbage never throws and always answers a defined error code', () => {
  const codes = new Set<number>(Object.values(SbiError));
  fc.assert(fc.property(fc.array(fc.integer({ min: -0x80000000, max: 0x7fffffff }), { minLength: 8, maxLength: 8 }), (a) => {
    const { h } = host(3);
    const regs = new Int32Array(34);
    for (let i = 0; i < 8; i++) regs[10 + i] = a[i];
    // Half the time aim at a real extension so argument checks are exercised.
    if (a[0] & 1) regs[17] = [SbiExt.BASE, SbiExt.TIME, SbiExt.IPI, SbiExt.RFENCE, SbiExt.HSM, SbiExt.SRST, SbiExt.DBCN][(a[1] >>> 0) % 7];
    if (a[2] & 1) regs[16] = (a[3] >>> 0) % 5;
    const legacy = (regs[17] >>> 0) <= 8;
    handleSbiCall(regs, h);
    if (!legacy) assert.ok(codes.has(regs[10]), `error ${regs[10]}`);
  }), { numRuns: 3000 });
});
