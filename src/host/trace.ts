/**
 * Trace events recorded by the vCPU threads (or the deterministic executor) into one shared ring, drained by
 * the VM's owner thread. Producers are many, the consumer is one; a small shared lock guards the producers
 * (one event per scheduling transition, so contention is low). Recording is off unless the VM asks for it.
 */
import { acquireSharedLock, releaseSharedLock } from '../devices/console.js';

/** What happened. `arg` depends on the kind. */
export const enum TraceKind {
  /** The vCPU's scheduling state changed; arg = RunState (layout.ts). */
  RUN = 1,
  /** Directed yield: the vCPU gave its CPU slot to vCPU `arg`. */
  YIELD_TO = 2,
  /** The vCPU started spinning (pause-loop exit); arg = PLE window. */
  SPIN = 3,
  /** The vCPU got CPU slot `arg` (or -1 when it gave it up). */
  CPU = 4,
  /** Hotplug: vCPU added (arg 1) / removed (arg 2) / forced out (arg 3), recorded by the owner. */
  HOTPLUG = 5,
  /** The vCPU was created (arg 1) or destroyed (arg 0). */
  LIFE = 6,
}

export interface TraceEvent { t: number; vcpu: number; kind: TraceKind; arg: number }

const enum H { LOCK = 0, HEAD = 1, TAIL = 2, DROPPED = 3, WORDS = 4 }

export function allocTraceRing(capacity = 1 << 16): SharedArrayBuffer {
  // Int32 header, then per event: [vcpu, kind, arg, pad] as Int32 and the time as Float64 (two words).
  return new SharedArrayBuffer(H.WORDS * 4 + capacity * 24);
}

export class TraceRing {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly cap: number;
  constructor(sab: SharedArrayBuffer) {
    this.cap = (sab.byteLength - H.WORDS * 4) / 24;
    this.i32 = new Int32Array(sab);
    this.f64 = new Float64Array(sab, H.WORDS * 4, this.cap * 3);
  }

  /** Records one event; drops it (and counts the drop) when the ring is full. */
  record(t: number, vcpu: number, kind: TraceKind, arg: number): void {
    const w = this.i32;
    if (!acquireSharedLock(w, H.LOCK)) return;
    try {
      const head = w[H.HEAD], tail = w[H.TAIL];
      if (tail - head >= this.cap) { w[H.DROPPED]++; return; }
      const slot = tail % this.cap;
      this.f64[slot * 3] = t;
      const i = (H.WORDS * 4 + slot * 24 + 8) >> 2; // after the Float64 time
      w[i] = vcpu; w[i + 1] = kind; w[i + 2] = arg;
      // ORDER: the event is complete before the tail that publishes it.
      Atomics.store(w, H.TAIL, tail + 1);
    } finally {
      releaseSharedLock(w, H.LOCK);
    }
  }

  /** Takes every recorded event (consumer side). */
  drain(): TraceEvent[] {
    const w = this.i32;
    const head = Atomics.load(w, H.HEAD), tail = Atomics.load(w, H.TAIL);
    const out: TraceEvent[] = [];
    for (let n = head; n < tail; n++) {
      const slot = n % this.cap;
      const i = (H.WORDS * 4 + slot * 24 + 8) >> 2;
      out.push({ t: this.f64[slot * 3], vcpu: w[i], kind: w[i + 1] as TraceKind, arg: w[i + 2] });
    }
    Atomics.store(w, H.HEAD, tail);
    return out;
  }

  dropped(): number { return Atomics.load(this.i32, H.DROPPED); }
}
