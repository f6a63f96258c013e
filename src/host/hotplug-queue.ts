/**
 * The queue of hotplug events the guest reads with HOTPLUG_GET_EVENT (docs/sbi-hartvisor-extension.md), in shared
 * memory: the VM's owner thread posts, any vCPU thread takes. A tiny shared lock guards it (events are rare).
 */
import { acquireSharedLock, releaseSharedLock } from '../devices/console.js';

const enum Q { LOCK = 0, HEAD = 1, TAIL = 2, NOTIFY = 3, ENTRIES = 8 }
const CAPACITY = 256;

export const HotplugEvent = { ADD: 1, REMOVE: 2 } as const;

export function allocHotplugQueue(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer((Q.ENTRIES + CAPACITY) * 4);
  new Int32Array(sab)[Q.NOTIFY] = -1;
  return sab;
}

export class HotplugQueue {
  private readonly w: Int32Array;
  constructor(sab: SharedArrayBuffer) { this.w = new Int32Array(sab); }

  /** Posts `(kind << 24) | hart`; false if the queue is full. */
  post(kind: number, hart: number): boolean {
    if (!acquireSharedLock(this.w, Q.LOCK)) return false;
    try {
      const head = this.w[Q.HEAD], tail = this.w[Q.TAIL];
      if (tail - head >= CAPACITY) return false;
      this.w[Q.ENTRIES + (tail % CAPACITY)] = (kind << 24) | hart;
      this.w[Q.TAIL] = tail + 1;
      return true;
    } finally {
      releaseSharedLock(this.w, Q.LOCK);
    }
  }

  /** Takes the oldest event, or 0 when there is none. */
  take(): number {
    if (!acquireSharedLock(this.w, Q.LOCK)) return 0;
    try {
      const head = this.w[Q.HEAD];
      if (head === this.w[Q.TAIL]) return 0;
      this.w[Q.HEAD] = head + 1;
      return this.w[Q.ENTRIES + (head % CAPACITY)];
    } finally {
      releaseSharedLock(this.w, Q.LOCK);
    }
  }

  /** Drops pending events naming `hart` (a request that was cancelled or forced). */
  cancel(hart: number): void {
    if (!acquireSharedLock(this.w, Q.LOCK)) return;
    try {
      const head = this.w[Q.HEAD], tail = this.w[Q.TAIL];
      const keep: number[] = [];
      for (let i = head; i < tail; i++) {
        const e = this.w[Q.ENTRIES + (i % CAPACITY)];
        if ((e & 0xffffff) !== hart) keep.push(e);
      }
      keep.forEach((e, k) => { this.w[Q.ENTRIES + ((head + k) % CAPACITY)] = e; });
      this.w[Q.TAIL] = head + keep.length;
    } finally {
      releaseSharedLock(this.w, Q.LOCK);
    }
  }

  pending(): number { return Atomics.load(this.w, Q.TAIL) - Atomics.load(this.w, Q.HEAD); }

  get notifyHart(): number { return Atomics.load(this.w, Q.NOTIFY); }
  set notifyHart(h: number) { Atomics.store(this.w, Q.NOTIFY, h); }
}
