/** HTIF mailbox protocol, driven by writing guest RAM directly (no engine). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../src/cpu/memory.js';
import { Htif, HtifPoll } from '../src/devices/htif.js';
import { ImageError } from '../src/boot/image-error.js';

const TOHOST = 0x80001000;
const FROMHOST = 0x80001040;

function setup() {
  const mem = new GuestMemory(1 << 16);
  const htif = new Htif(mem, TOHOST, FROMHOST);
  const put = (lo: number, hi: number) => { mem.writeU32(TOHOST, lo); mem.writeU32(TOHOST + 4, hi); };
  const text = () => new TextDecoder().decode(htif.takeOutput());
  return { mem, htif, put, text };
}

test('an empty mailbox is idle', () => {
  const { htif } = setup();
  assert.equal(htif.poll(), HtifPoll.Idle);
});

test('exit: 1 is a pass (code 0), (n << 1) | 1 is code n; acted on once the value is seen twice', () => {
  const { htif, put } = setup();
  put(1, 0);
  assert.equal(htif.poll(), HtifPoll.Unsettled);
  assert.equal(htif.poll(), HtifPoll.Exit);
  assert.equal(htif.exitCode, 0);
  put((5 << 1) | 1, 0);
  assert.equal(htif.poll(), HtifPoll.Unsettled);
  assert.equal(htif.poll(), HtifPoll.Exit);
  assert.equal(htif.exitCode, 5);
  put(0xffffffff, 0);
  htif.poll();
  assert.equal(htif.poll(), HtifPoll.Exit);
  assert.equal(htif.exitCode, 0x7fffffff);
});

test('console putchar: byte out, tohost cleared, fromhost acked', () => {
  const { mem, htif, put, text } = setup();
  put(0x41, 0x01010000);
  assert.equal(htif.poll(), HtifPoll.Idle);
  assert.equal(text(), 'A');
  assert.equal(mem.readU32(TOHOST), 0);
  assert.equal(mem.readU32(TOHOST + 4), 0);
  assert.equal(mem.readU32(FROMHOST + 4), 0x01010000);
  assert.notEqual(mem.readU32(FROMHOST), 0);
  assert.equal(htif.hasOutput(), false);
});

test('a half-written putchar of an odd byte is not taken for an exit', () => {
  const { htif, put, mem, text } = setup();
  put(0x61, 0); // 'a' written, high word not yet
  assert.equal(htif.poll(), HtifPoll.Unsettled);
  mem.writeU32(TOHOST + 4, 0x01010000); // the guest finishes the request
  assert.equal(htif.poll(), HtifPoll.Idle);
  assert.equal(text(), 'a');
});

test('console read requests are dropped (no input in bare mode)', () => {
  const { htif, put, mem } = setup();
  put(0, 0x01000000);
  assert.equal(htif.poll(), HtifPoll.Idle);
  assert.equal(mem.readU32(TOHOST + 4), 0);
  assert.equal(mem.readU32(FROMHOST), 0);
});

test('syscall block: SYS_write to stdout, unknown syscall, SYS_exit', () => {
  const { htif, put, mem, text } = setup();
  const block = 0x80002000;
  const msg = new TextEncoder().encode('hello\n');
  mem.write(0x80003000, msg);
  const call = (which: number, a0: number, a1: number, a2: number) => {
    for (const [i, v] of [which, a0, a1, a2].entries()) { mem.writeU32(block + 8 * i, v); mem.writeU32(block + 8 * i + 4, 0); }
    mem.writeU32(FROMHOST, 0);
    put(block, 0);
    assert.equal(htif.poll(), HtifPoll.Unsettled);
    return htif.poll();
  };
  assert.equal(call(64, 1, 0x80003000, msg.length), HtifPoll.Idle);
  assert.equal(text(), 'hello\n');
  assert.equal(mem.readU32(block), msg.length);
  assert.equal(mem.readU32(FROMHOST), 1);
  assert.equal(mem.readU32(TOHOST), 0);
  assert.equal(call(64, 7, 0x80003000, 1), HtifPoll.Idle);
  assert.equal(mem.readU32(block) | 0, -9, 'EBADF');
  assert.equal(call(64, 1, 0x70000000, 4), HtifPoll.Idle);
  assert.equal(mem.readU32(block) | 0, -14, 'EFAULT');
  assert.equal(call(1234, 0, 0, 0), HtifPoll.Idle);
  assert.equal(mem.readU32(block) | 0, -38, 'ENOSYS');
  assert.equal(call(93, 42, 0, 0), HtifPoll.Exit);
  assert.equal(htif.exitCode, 42);
});

test('requests that cannot be served are errors', () => {
  const { htif, put } = setup();
  put(0, 0x05000000);
  assert.equal(htif.poll(), HtifPoll.Error);
  assert.match(htif.error, /device 5/);
  put(0x10, 0);
  htif.poll();
  assert.equal(htif.poll(), HtifPoll.Error);
  assert.match(htif.error, /outside guest RAM/);
});

test('mailboxes come from the tohost/fromhost symbols and must be in RAM', () => {
  const mem = new GuestMemory(1 << 16);
  assert.equal(Htif.fromSymbols(mem, new Map()), null);
  const h = Htif.fromSymbols(mem, new Map([['tohost', TOHOST]]));
  assert.ok(h);
  assert.equal(h.fromhost, undefined);
  assert.throws(() => Htif.fromSymbols(mem, new Map([['tohost', 0x1000]])), ImageError);
  assert.throws(() => Htif.fromSymbols(mem, new Map([['tohost', TOHOST], ['fromhost', 0x8000fffc]])), ImageError);
});
