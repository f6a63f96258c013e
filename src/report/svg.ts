/**
 * Small helpers for the report's inline SVG plots: escaping, number formats, axis ticks and colours.
 */

/** Escapes text for HTML and SVG (element content and attribute values). */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A coordinate with at most two decimals (keeps the SVG small). */
export function px(n: number): string {
  return String(Math.round(n * 100) / 100);
}

/** 1234567 → "1.23M", 1234 → "1234", 0.5 → "0.5". */
export function formatCount(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e9) return `${+(n / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(n / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(n / 1e3).toPrecision(3)}k`;
  if (Number.isInteger(n)) return String(n);
  return String(+n.toPrecision(3));
}

/**
 * Round tick values from 0 up to the first at or above `max`: about `count` of them, 1/2/5 times a power of ten
 * apart (the last one is the top of the axis).
 */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0];
  const raw = max / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out = [0];
  for (let i = 1; out[out.length - 1] < max - step * 1e-9; i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

/** The scheduling states' colours (and the legend's order). */
export const STATE_COLORS: Readonly<Record<string, string>> = {
  running: '#2f9e44',
  spinning: '#f59f00',
  preempted: '#e03131',
  halted: '#74c0fc',
  stopped: '#adb5bd',
};

/** Distinct colours for vCPUs on the CPU slot rows (cycled). */
export const VCPU_PALETTE = ['#4263eb', '#d6336c', '#0ca678', '#f76707', '#7048e8', '#1098ad', '#5c940d', '#c2255c', '#e8590c', '#364fc7'];

/** Colours of directed yield policies in the throughput plot. */
export const POLICY_COLORS: Readonly<Record<string, string>> = { off: '#868e96', on: '#1c7ed6', pv: '#2f9e44' };
