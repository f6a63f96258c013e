/**
 * Console plumbing that any thread may touch: a byte ring in a SharedArrayBuffer, and the small lock it and the
 * UART share.
 *
 * A `ByteRing` carries console bytes between threads: vCPU workers produce guest output and the host consumes it,
 * or the host produces keyboard input and the guest's UART consumes it. Every thread builds its own `ByteRing` view
 * over the same buffer (`ByteRing.attach(ring.sab)` after a `postMessage`); the views hold no state of their own.
 *
 * Roles. Any number of producers, on any threads, at once. One consumer at a time: `drain`, `shift`, `skip` and
 * `waitForData` must not run on two threads concurrently (the UART calls them only under its own state lock, which
 * makes "whoever holds that lock" the single consumer). `available` and `dropped` are snapshots anyone may read.
 *
 * Protocol. HEAD is written only by the consumer, TAIL only by a producer holding the producer lock (LOCK). Both are
 * positions in [0, 2 * capacity): the byte at position p sits at data[p mod capacity], and the ring holds
 * (TAIL - HEAD) mod (2 * capacity) bytes, so full (= capacity) and empty (= 0) differ without a spare slot and
 * without requiring a power-of-two capacity.
 * - push: take LOCK; load HEAD; copy as many bytes as fit after TAIL (plain stores); store TAIL; release LOCK;
 *   add the bytes that did not fit to DROPPED; if WAITERS > 0, notify TAIL. A push never waits for space.
 * - drain: load TAIL; copy the bytes from HEAD up to it (plain loads); store HEAD. The consumer takes no lock,
 *   so producers never wait for it and it never waits for them.
 * Every Atomics operation is sequentially consistent, so the TAIL store publishes the data bytes written before it
 * to whoever loads that TAIL (and the HEAD store hands the space read before it back to the producers).
 *
 * The lock (`acquireSharedLock`/`releaseSharedLock`) is a three-state futex lock: 0 free, 1 held, 2 held and maybe
 * waited on. It spins briefly with compareExchange, then sleeps with `Atomics.wait` until the holder's notify. Its
 * critical sections are a bounded copy or a few register updates, so waits are short; on the main thread (the host
 * pushing input, or the deterministic executor) it is taken only briefly and, in the single-threaded executor,
 * never contended. A holder that dies inside its critical section (a worker terminated mid-push) would leave it
 * held: acquisition therefore gives up after {@link LOCK_TIMEOUT_MS} and the caller drops its work (a push counts
 * its bytes as dropped), so the VM degrades instead of hanging. Stop vCPU workers cooperatively before freeing them.
 */

/**
 * Header words of a ring's SharedArrayBuffer (Int32 indices): the one layout table, exported for debuggers and
 * tests to derive views from. The data bytes follow the header.
 */
export const BYTE_RING_LAYOUT = {
  /** {@link RING_MAGIC}: tells a ring buffer from any other SAB at attach time. */
  MAGIC: 0,
  /** Capacity in bytes (1 .. {@link RING_MAX_CAPACITY}); fixed at creation. */
  CAPACITY: 1,
  /** Consumer position in [0, 2 * capacity); written by the consumer only. */
  HEAD: 2,
  /** Producer position in [0, 2 * capacity); written only under LOCK. */
  TAIL: 3,
  /** Producer lock (see {@link acquireSharedLock}). */
  LOCK: 4,
  /** Bytes refused because the ring was full (or its lock timed out), as a wrapping uint32. */
  DROPPED: 5,
  /** Consumers currently inside `waitForData`; producers notify TAIL only when it is non-zero. */
  WAITERS: 6,
  /** Times a producer gave up on LOCK (see {@link LOCK_TIMEOUT_MS}); non-zero means a holder died. */
  LOCK_TIMEOUTS: 7,
  /** Header size in words; the data bytes start at byte offset 4 * WORDS. Padded to 64 bytes. */
  WORDS: 16,
} as const;
const R = BYTE_RING_LAYOUT;

const RING_MAGIC = 0x474e4952; // "RING", little-endian
const HEADER_BYTES = R.WORDS * 4;
/** Largest ring: positions run up to 2 * capacity, which must stay an int32. */
export const RING_MAX_CAPACITY = 1 << 30;

/** Lock word values. */
const UNLOCKED = 0;
const LOCKED = 1;
const CONTENDED = 2;
/** compareExchange attempts before a contended acquirer goes to sleep. */
const LOCK_SPINS = 128;
/** Longest an acquirer waits for a shared lock before giving up, in ms (only a dead holder takes this long). */
export const LOCK_TIMEOUT_MS = 250;

/**
 * Takes the lock in word `at` of `i32` (which must view a SharedArrayBuffer). Returns false, holding nothing, when
 * the lock stayed held for {@link LOCK_TIMEOUT_MS}: the caller then skips its critical section. Never throws on a
 * Node thread (Node lets every thread, the main one included, use `Atomics.wait`).
 */
export function acquireSharedLock(i32: Int32Array, at: number): boolean {
  // ORDER: a successful CAS is the acquire: nothing of the critical section moves above it.
  if (Atomics.compareExchange(i32, at, UNLOCKED, LOCKED) === UNLOCKED) return true;
  return acquireContended(i32, at);
}

/** Releases a lock taken with {@link acquireSharedLock}, waking one sleeper if any may be waiting. */
export function releaseSharedLock(i32: Int32Array, at: number): void {
  // ORDER: the exchange is the release: every write of the critical section is visible to the next holder.
  if (Atomics.exchange(i32, at, UNLOCKED) === CONTENDED) Atomics.notify(i32, at, 1);
}

function acquireContended(i32: Int32Array, at: number): boolean {
  for (let i = 0; i < LOCK_SPINS; i++) {
    // ORDER: load first so that spinning does not keep the line exclusive; the CAS is the acquire.
    if (Atomics.load(i32, at) === UNLOCKED && Atomics.compareExchange(i32, at, UNLOCKED, LOCKED) === UNLOCKED) return true;
  }
  const deadline = performance.now() + LOCK_TIMEOUT_MS;
  // ORDER: exchange to CONTENDED both acquires (when it returns UNLOCKED) and tells the holder to notify on release.
  // Taking it as CONTENDED rather than LOCKED may cost one needless notify, never a lost wake-up.
  while (Atomics.exchange(i32, at, CONTENDED) !== UNLOCKED) {
    const left = deadline - performance.now();
    if (left <= 0) return false; // the word stays CONTENDED: the holder's release just notifies nobody
    // ORDER: sleeps only while the word still reads CONTENDED, so a release between the exchange and here is seen.
    Atomics.wait(i32, at, CONTENDED, left);
  }
  return true;
}

/** Atomics.waitAsync as Node 20 has it (the project's TS lib level predates its typings). */
type WaitAsyncResult =
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> };
const atomicsWaitAsync = (Atomics as unknown as {
  waitAsync: (ta: Int32Array, index: number, value: number, timeout?: number) => WaitAsyncResult;
}).waitAsync;

/** Longest delay a Node timer takes; longer finite waits are treated as unbounded. */
const MAX_TIMER_MS = 0x7fffffff;

/**
 * A byte ring in a SharedArrayBuffer: many producers on any threads, one consumer at a time; see the module
 * comment for the protocol. Producers never block on a full ring: what does not fit is dropped and counted.
 */
export class ByteRing {
  /** The shared buffer; send it to another thread and `ByteRing.attach` it there. */
  readonly sab: SharedArrayBuffer;
  /** Bytes the ring holds when full. */
  readonly capacity: number;
  private readonly h: Int32Array;
  private readonly data: Uint8Array;

  private constructor(sab: SharedArrayBuffer, capacity: number) {
    this.sab = sab;
    this.capacity = capacity;
    this.h = new Int32Array(sab, 0, R.WORDS);
    this.data = new Uint8Array(sab, HEADER_BYTES, capacity);
  }

  /**
   * A new, empty ring holding up to `capacity` bytes (an integer from 1 to {@link RING_MAX_CAPACITY}).
   * @throws RangeError for any other capacity
   */
  static create(capacity: number): ByteRing {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > RING_MAX_CAPACITY) {
      throw new RangeError(`ring capacity must be an integer from 1 to ${RING_MAX_CAPACITY}, got ${capacity}`);
    }
    const sab = new SharedArrayBuffer(HEADER_BYTES + capacity);
    const h = new Int32Array(sab, 0, R.WORDS);
    h[R.CAPACITY] = capacity;
    // ORDER: written before the SAB is shared; postMessage publishes it to the receiving thread.
    Atomics.store(h, R.MAGIC, RING_MAGIC);
    return new ByteRing(sab, capacity);
  }

  /**
   * A view of an existing ring, e.g. one whose `sab` another thread sent here.
   * @throws TypeError when `sab` is not a ring's buffer
   */
  static attach(sab: SharedArrayBuffer): ByteRing {
    if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < HEADER_BYTES) {
      throw new TypeError('not a ByteRing buffer: expected the SharedArrayBuffer of ByteRing.create');
    }
    const h = new Int32Array(sab, 0, R.WORDS);
    const capacity = h[R.CAPACITY]!;
    // ORDER: pairs with the MAGIC store in create (the buffer arrived through postMessage, which also orders it).
    if (Atomics.load(h, R.MAGIC) !== RING_MAGIC || capacity < 1 || sab.byteLength !== HEADER_BYTES + capacity) {
      throw new TypeError('not a ByteRing buffer: bad magic or size');
    }
    return new ByteRing(sab, capacity);
  }

  /**
   * Producer: appends `bytes` (each masked to 8 bits), or the single byte `bytes`, in order. Returns how many were
   * accepted: all of them, or the prefix that fit; the rest are dropped and added to `dropped()`. Never waits for
   * the consumer; may wait briefly for another producer (see the module comment). Safe from any thread.
   */
  push(bytes: Uint8Array | ArrayLike<number> | number): number {
    const n = typeof bytes === 'number' ? 1 : bytes.length;
    if (n === 0) return 0;
    const h = this.h;
    if (!acquireSharedLock(h, R.LOCK)) {
      // ORDER: counters only; nothing is published.
      Atomics.add(h, R.LOCK_TIMEOUTS, 1);
      Atomics.add(h, R.DROPPED, n);
      return 0;
    }
    const cap = this.capacity;
    const tail = h[R.TAIL]!; // ours while the lock is held
    // ORDER: acquire the consumer's HEAD: the bytes it read before storing HEAD may now be overwritten.
    const used = ringDistance(Atomics.load(h, R.HEAD), tail, cap);
    const accepted = Math.min(n, cap - used);
    if (accepted > 0) {
      const at = tail >= cap ? tail - cap : tail;
      if (typeof bytes === 'number') {
        this.data[at] = bytes & 0xff;
      } else {
        const first = Math.min(accepted, cap - at); // up to the end of the data area, then from its start
        if (bytes instanceof Uint8Array) {
          this.data.set(bytes.subarray(0, first), at);
          if (first < accepted) this.data.set(bytes.subarray(first, accepted), 0);
        } else {
          for (let i = 0; i < first; i++) this.data[at + i] = bytes[i]! & 0xff;
          for (let i = first; i < accepted; i++) this.data[i - first] = bytes[i]! & 0xff;
        }
      }
      // ORDER: publishes the data bytes above to the consumer's TAIL load.
      Atomics.store(h, R.TAIL, ringAdvance(tail, accepted, cap));
    }
    releaseSharedLock(h, R.LOCK);
    // ORDER: counter only.
    if (accepted < n) Atomics.add(h, R.DROPPED, n - accepted);
    // ORDER: the TAIL store came first, so a consumer that registered before this load is woken, and one that
    // registers after it sees the new TAIL in its own check (all SC atomics).
    if (accepted > 0 && Atomics.load(h, R.WAITERS) !== 0) Atomics.notify(h, R.TAIL);
    return accepted;
  }

  /**
   * Consumer: removes and returns up to `max` bytes (default: all), oldest first. A `max` that is not a positive
   * number yields an empty array.
   */
  drain(max = Infinity): Uint8Array {
    const h = this.h;
    const cap = this.capacity;
    const head = h[R.HEAD]!; // ours: only the consumer writes it
    // ORDER: acquire the producers' TAIL: the bytes before it are written.
    const tail = Atomics.load(h, R.TAIL);
    const want = max >= 1 ? Math.floor(Math.min(max, cap)) : 0;
    const n = Math.min(ringDistance(head, tail, cap), want);
    const out = new Uint8Array(n);
    if (n === 0) return out;
    const at = head >= cap ? head - cap : head;
    const first = Math.min(n, cap - at);
    out.set(this.data.subarray(at, at + first), 0);
    if (first < n) out.set(this.data.subarray(0, n - first), first);
    // ORDER: releases the space just read back to the producers.
    Atomics.store(h, R.HEAD, ringAdvance(head, n, cap));
    return out;
  }

  /** Consumer: removes and returns the oldest byte, or -1 when the ring is empty. Allocates nothing. */
  shift(): number {
    const h = this.h;
    const cap = this.capacity;
    const head = h[R.HEAD]!;
    // ORDER: acquire TAIL, as in drain.
    if (Atomics.load(h, R.TAIL) === head) return -1;
    const b = this.data[head >= cap ? head - cap : head]!;
    // ORDER: releases the slot just read.
    Atomics.store(h, R.HEAD, ringAdvance(head, 1, cap));
    return b;
  }

  /** Consumer: discards up to `n` of the oldest bytes; returns how many were discarded. */
  skip(n: number): number {
    const h = this.h;
    const cap = this.capacity;
    const head = h[R.HEAD]!;
    // ORDER: acquire TAIL, as in drain.
    const k = Math.min(ringDistance(head, Atomics.load(h, R.TAIL), cap), n >= 1 ? Math.floor(Math.min(n, cap)) : 0);
    // ORDER: releases the discarded slots.
    if (k > 0) Atomics.store(h, R.HEAD, ringAdvance(head, k, cap));
    return k;
  }

  /**
   * Bytes waiting for the consumer. On the consumer's thread: exact as of the TAIL load (producers may add more
   * at any time). On another thread: an estimate, which may overstate if the consumer runs between the two loads.
   */
  available(): number {
    // ORDER: HEAD, then TAIL; both only move forward, so the result is never below the true count at either load.
    return ringDistance(Atomics.load(this.h, R.HEAD), Atomics.load(this.h, R.TAIL), this.capacity);
  }

  /** Bytes refused since creation because the ring was full (wraps at 2^32). */
  dropped(): number {
    return Atomics.load(this.h, R.DROPPED) >>> 0;
  }

  /** Pushes that gave up on the producer lock since creation; non-zero only if a producer died holding it. */
  lockTimeouts(): number {
    return Atomics.load(this.h, R.LOCK_TIMEOUTS) >>> 0;
  }

  /**
   * Consumer: resolves true as soon as the ring holds data, or false when `timeoutMs` passes first (default: no
   * limit). Uses `Atomics.waitAsync`, so the calling thread's event loop keeps running. A finite wait keeps the
   * event loop alive until it ends; an unbounded one does not (it ends with the process like an unref'd handle).
   */
  async waitForData(timeoutMs = Infinity): Promise<boolean> {
    const h = this.h;
    if (this.available() > 0) return true;
    const timeout = timeoutMs > 0 ? timeoutMs : 0; // NaN and negatives: just look
    if (timeout === 0) return false;
    // ORDER: register before re-reading TAIL; pairs with push's TAIL store then WAITERS load (see there).
    Atomics.add(h, R.WAITERS, 1);
    let keepAlive: ReturnType<typeof setTimeout> | undefined;
    try {
      const tail = Atomics.load(h, R.TAIL);
      if (tail !== h[R.HEAD]) return true;
      // Sleeps only while TAIL still holds `tail`; it cannot come back to that value while HEAD stays put.
      const r = atomicsWaitAsync(h, R.TAIL, tail, timeout);
      if (r.async) {
        if (timeout <= MAX_TIMER_MS) {
          // V8's own timeout for waitAsync does not keep Node's event loop alive; this timer does, and ends the
          // wait itself should it fire first.
          const timer = new Promise<void>((resolve) => {
            keepAlive = setTimeout(resolve, timeout);
          });
          await Promise.race([r.value, timer]);
        } else {
          await r.value;
        }
      }
      return this.available() > 0;
    } finally {
      if (keepAlive !== undefined) clearTimeout(keepAlive);
      // ORDER: deregistration; a notify that finds the count still raised just wakes nobody.
      Atomics.sub(h, R.WAITERS, 1);
    }
  }
}

/** Bytes from position `head` to position `tail` in a ring of `cap` bytes (positions in [0, 2 * cap)). */
function ringDistance(head: number, tail: number, cap: number): number {
  const d = tail - head;
  return d < 0 ? d + 2 * cap : d;
}

/** Position `pos` moved on by `n` bytes (n <= cap), wrapped into [0, 2 * cap). */
function ringAdvance(pos: number, n: number, cap: number): number {
  const p = pos + n;
  return p >= 2 * cap ? p - 2 * cap : p;
}
