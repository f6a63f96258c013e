/**
 * Hotplug schedules for `hartvisor run --hotplug`: either a compact list, `200ms:+2,500ms:-1,1.5s:-3!`
 * (`+N` adds vCPU N, `-N` removes it gracefully, a trailing `!` forces the removal after the timeout), or a JSON
 * file holding `[{ "at": "200ms" | 200, "add": 2 }, { "at": "1s", "remove": 3, "force": true, "timeoutMs": 500 }]`.
 */
import type { HotplugStep } from './vm.js';

export class ScheduleError extends Error {
  constructor(message: string) { super(message); this.name = 'ScheduleError'; }
}

/** Parses "250", "250ms", "1.5s" into milliseconds. */
function parseTime(t: string | number, where: string): number {
  if (typeof t === 'number') {
    if (!Number.isFinite(t) || t < 0) throw new ScheduleError(`${where}: time must be a non-negative number of milliseconds`);
    return t;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$/.exec(t);
  if (!m) throw new ScheduleError(`${where}: bad time '${t}' (use e.g. 200ms or 1.5s)`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

function checkId(id: unknown, where: string): number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 1023) throw new ScheduleError(`${where}: vCPU id must be an integer from 0 to 1023`);
  return id;
}

/** Parses the compact form. */
export function parseHotplugList(text: string): HotplugStep[] {
  const steps: HotplugStep[] = [];
  for (const [i, raw] of text.split(',').entries()) {
    const item = raw.trim();
    if (!item) continue;
    const m = /^(.+?):\s*([+-])(\d+)(!?)$/.exec(item);
    if (!m) throw new ScheduleError(`hotplug step ${i + 1} '${item}': expected TIME:+ID or TIME:-ID (e.g. 200ms:+2)`);
    const where = `hotplug step ${i + 1} '${item}'`;
    const id = checkId(Number(m[3]), where);
    if (m[4] && m[2] === '+') throw new ScheduleError(`${where}: '!' (force) applies to removals only`);
    steps.push({ atMs: parseTime(m[1], where), op: m[2] === '+' ? 'add' : 'remove', id, ...(m[4] ? { force: true } : {}) });
  }
  if (steps.length === 0) throw new ScheduleError('the hotplug schedule is empty');
  return steps.sort((a, b) => a.atMs - b.atMs);
}

/** Parses the JSON form (already read from its file). */
export function parseHotplugJson(text: string): HotplugStep[] {
  let doc: unknown;
  try { doc = JSON.parse(text); } catch (e) { throw new ScheduleError(`hotplug schedule is not valid JSON: ${(e as Error).message}`); }
  if (!Array.isArray(doc)) throw new ScheduleError('hotplug schedule JSON must be an array of steps');
  const steps = doc.map((s: unknown, i: number): HotplugStep => {
    const where = `hotplug step ${i + 1}`;
    if (typeof s !== 'object' || s === null) throw new ScheduleError(`${where}: must be an object`);
    const o = s as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!['at', 'add', 'remove', 'force', 'timeoutMs'].includes(k)) throw new ScheduleError(`${where}: unknown field '${k}'`);
    if (!('at' in o)) throw new ScheduleError(`${where}: missing 'at'`);
    if (('add' in o) === ('remove' in o)) throw new ScheduleError(`${where}: needs exactly one of 'add' or 'remove'`);
    const step: HotplugStep = { atMs: parseTime(o.at as string | number, where), op: 'add' in o ? 'add' : 'remove', id: checkId('add' in o ? o.add : o.remove, where) };
    if ('force' in o) {
      if (typeof o.force !== 'boolean') throw new ScheduleError(`${where}: 'force' must be true or false`);
      if (step.op === 'add' && o.force) throw new ScheduleError(`${where}: 'force' applies to removals only`);
      step.force = o.force;
    }
    if ('timeoutMs' in o) step.timeoutMs = parseTime(o.timeoutMs as number, where);
    return step;
  });
  if (steps.length === 0) throw new ScheduleError('the hotplug schedule is empty');
  return steps.sort((a, b) => a.atMs - b.atMs);
}
