import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

import { BYTE_RING_LAYOUT, ByteRing, LOCK_TIMEOUT_MS, RING_MAX_CAPACITY } from '../src/devices/console.js';

/** What a producer worker is told (this file doubles as the worker's script). */
interface ProducerJob {
  role: 'ring-producer';
  sab: SharedArrayBuffer;
  id: number;
  count: number;
}

/** What a producer worker reports when done. */
interface ProducerReport {
  id: number;
  refused: number;
}

/**
 * Worker side: pushes `count` bytes tagged `(id << 6) | (seq & 63)`, in chunks of 1..7 bytes through all three
 * argument shapes of `push`, pushing again whatever a full ring refused.
 */
function produce(job: ProducerJob): void {
  const ring = ByteRing.attach(job.sab);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let seq = 0;
  let refused = 0;
  let turn = job.id;
  while (seq < job.count) {
    const len = Math.min(1 + (turn++ % 7), job.count - seq);
    const bytes = new Uint8Array(len);
    for (let i = 0; i < len; i++) bytes[i] = (job.id << 6) | ((seq + i) & 63);
    const got = ring.push(len === 1 ? bytes[0]! : len === 2 ? Array.from(bytes) : bytes);
    refused += len - got;
    seq += got;
    if (got < len) Atomics.wait(nap, 0, 0, 0.2); // full: let the consumer run
  }
  const report: ProducerReport = { id: job.id, refused };
  parentPort!.postMessage(report);
}

if (!isMainThread && (workerData as ProducerJob | undefined)?.role === 'ring-producer') {
  produce(workerData as ProducerJob);
} else {
  defineTests();
}

function defineTests(): void {
  test('ring: bytes come out in order; drain(max) takes a prefix; empty drains are empty', () => {
    const ring = ByteRing.create(16);
    assert.equal(ring.capacity, 16);
    assert.equal(ring.available(), 0);
    assert.deepEqual(ring.drain(), new Uint8Array(0));
    assert.equal(ring.push(new Uint8Array([1, 2, 3])), 3);
    assert.equal(ring.push(4), 1);
    assert.equal(ring.push([5, 0x106, -1]), 3, 'number arrays are masked to bytes');
    assert.equal(ring.push([]), 0);
    assert.equal(ring.available(), 7);
    assert.deepEqual(ring.drain(2), new Uint8Array([1, 2]));
    assert.equal(ring.shift(), 3);
    assert.equal(ring.skip(1), 1);
    assert.deepEqual(ring.drain(), new Uint8Array([5, 6, 0xff]));
    assert.equal(ring.shift(), -1);
    assert.equal(ring.skip(5), 0);
    for (const bad of [0, -3, NaN, 0.5]) assert.deepEqual(ring.drain(bad), new Uint8Array(0));
    assert.equal(ring.dropped(), 0);
  });

  test('ring: wrap-around against a reference queue (odd capacity, every push shape)', () => {
    const ring = ByteRing.create(7);
    const model: number[] = [];
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 16) % n;
    };
    let dropped = 0;
    let next = 0;
    for (let round = 0; round < 5000; round++) {
      if (rnd(2) === 0) {
        const len = rnd(9);
        const bytes = Array.from({ length: len }, () => next++ & 0xff);
        const shape = rnd(3);
        const got = ring.push(shape === 0 ? new Uint8Array(bytes) : shape === 1 && len === 1 ? bytes[0]! : bytes);
        const fits = Math.min(len, 7 - model.length);
        assert.equal(got, fits);
        model.push(...bytes.slice(0, fits));
        dropped += len - fits;
      } else {
        const k = rnd(3);
        if (k === 0) assert.equal(ring.shift(), model.length ? model.shift()! : -1);
        else if (k === 1) {
          const n = rnd(9);
          assert.equal(ring.skip(n), Math.min(n, model.length));
          model.splice(0, n);
        } else {
          const n = rnd(9);
          assert.deepEqual(Array.from(ring.drain(n)), model.splice(0, n));
        }
      }
      assert.equal(ring.available(), model.length);
    }
    assert.equal(ring.dropped(), dropped);
    assert.ok(dropped > 0, 'the schedule did fill the ring');
  });

  test('ring: overflow keeps the prefix that fits and counts the rest as dropped', () => {
    const ring = ByteRing.create(4);
    assert.equal(ring.push([1, 2, 3, 4, 5, 6]), 4);
    assert.equal(ring.dropped(), 2);
    assert.equal(ring.push(9), 0);
    assert.equal(ring.dropped(), 3);
    assert.deepEqual(ring.drain(3), new Uint8Array([1, 2, 3]));
    assert.equal(ring.push(new Uint8Array([7, 8, 9, 10, 11])), 3, 'wraps, then fills');
    assert.equal(ring.dropped(), 5);
    assert.deepEqual(ring.drain(), new Uint8Array([4, 7, 8, 9]));
    assert.equal(ring.lockTimeouts(), 0);
  });

  test('ring: a second view over the same buffer shares data and counters', () => {
    const a = ByteRing.create(8);
    const b = ByteRing.attach(a.sab);
    assert.equal(b.capacity, 8);
    a.push([1, 2, 3]);
    b.push(4);
    assert.equal(b.available(), 4);
    assert.deepEqual(b.drain(2), new Uint8Array([1, 2]));
    assert.equal(a.available(), 2);
    assert.deepEqual(a.drain(), new Uint8Array([3, 4]));
    b.push(new Uint8Array(10));
    assert.equal(a.dropped(), 2);
  });

  test('ring: bad capacities and foreign buffers are refused', () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity, RING_MAX_CAPACITY + 1]) {
      assert.throws(() => ByteRing.create(bad), RangeError, String(bad));
    }
    assert.throws(() => ByteRing.attach(new SharedArrayBuffer(8)), TypeError);
    assert.throws(() => ByteRing.attach(new SharedArrayBuffer(256)), TypeError, 'no magic');
    const ring = ByteRing.create(8);
    const copy = new SharedArrayBuffer(ring.sab.byteLength + 1);
    new Uint8Array(copy).set(new Uint8Array(ring.sab));
    assert.throws(() => ByteRing.attach(copy), TypeError, 'size does not match the capacity');
    assert.throws(() => ByteRing.attach(new ArrayBuffer(128) as unknown as SharedArrayBuffer), TypeError);
  });

  test('ring: a producer lock that is never released (a dead holder) costs a bounded wait and a counted drop', () => {
    const ring = ByteRing.create(8);
    ring.push(1);
    const header = new Int32Array(ring.sab, 0, BYTE_RING_LAYOUT.WORDS);
    Atomics.store(header, BYTE_RING_LAYOUT.LOCK, 1); // as if a producer died inside push
    const t0 = performance.now();
    assert.equal(ring.push([2, 3]), 0);
    const waited = performance.now() - t0;
    assert.ok(waited >= LOCK_TIMEOUT_MS - 5 && waited < LOCK_TIMEOUT_MS + 2000, `gave up after ${waited} ms`);
    assert.equal(ring.dropped(), 2);
    assert.equal(ring.lockTimeouts(), 1);
    assert.deepEqual(ring.drain(), new Uint8Array([1]), 'the consumer needs no lock');
    Atomics.store(header, BYTE_RING_LAYOUT.LOCK, 0);
    assert.equal(ring.push([4, 5]), 2);
    assert.deepEqual(ring.drain(), new Uint8Array([4, 5]));
  });

  test('ring: waitForData resolves on data, on a later push, and on timeout', async () => {
    const ring = ByteRing.create(8);
    assert.equal(await ring.waitForData(0), false, 'a zero timeout just looks');
    const t0 = performance.now();
    assert.equal(await ring.waitForData(30), false);
    assert.ok(performance.now() - t0 >= 25, 'waited for the timeout');

    setTimeout(() => ring.push(42), 10);
    assert.equal(await ring.waitForData(5000), true);
    assert.equal(ring.shift(), 42);

    ring.push(1);
    assert.equal(await ring.waitForData(), true, 'data already there');
    ring.drain();

    // The event loop keeps running during the wait (a timer fires while we wait for a later push).
    let ticks = 0;
    const timer = setInterval(() => ticks++, 2);
    setTimeout(() => ring.push(7), 40);
    assert.equal(await ring.waitForData(5000), true);
    clearInterval(timer);
    assert.ok(ticks > 0, 'timers ran while waiting');
  });

  test('ring: 4 producer threads, one consumer: every producer\'s bytes arrive complete and in order', { timeout: 60_000 }, async () => {
    const PRODUCERS = 4;
    const COUNT = 20_000;
    const ring = ByteRing.create(257); // small, odd: constant wrap-around and full rings
    const reports: ProducerReport[] = [];
    let finished = false;
    const workers = Array.from({ length: PRODUCERS }, (_, id) => {
      const job: ProducerJob = { role: 'ring-producer', sab: ring.sab, id, count: COUNT };
      return new Worker(new URL(import.meta.url), { workerData: job });
    });
    const done = Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            w.on('message', (r: ProducerReport) => reports.push(r));
            w.on('error', reject);
            w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`producer exited with ${code}`))));
          }),
      ),
    ).then(() => {
      finished = true;
    });
    let failure: unknown;
    done.catch((e: unknown) => {
      failure = e;
      finished = true;
    });

    const got: number[][] = Array.from({ length: PRODUCERS }, () => []);
    try {
      for (;;) {
        assert.ok(ring.available() <= ring.capacity, 'ring indices stay consistent');
        const chunk = ring.drain();
        for (const b of chunk) got[b >> 6]!.push(b & 63);
        if (chunk.length > 0) continue;
        if (finished && ring.available() === 0) break;
        await ring.waitForData(20);
      }
    } finally {
      for (const w of workers) void w.terminate(); // no-op once they have exited; stops them if an assert failed
    }
    if (failure !== undefined) throw failure;
    await done;

    for (let p = 0; p < PRODUCERS; p++) {
      const seq = got[p]!;
      assert.equal(seq.length, COUNT, `producer ${p}: byte count`);
      const firstBad = seq.findIndex((v, i) => v !== (i & 63));
      assert.equal(firstBad, -1, `producer ${p}: out of order at ${firstBad}`);
    }
    assert.equal(reports.length, PRODUCERS);
    const refused = reports.reduce((sum, r) => sum + r.refused, 0);
    assert.equal(ring.dropped(), refused, 'dropped() counts exactly the refused bytes');
    assert.equal(ring.lockTimeouts(), 0);
  });
}
