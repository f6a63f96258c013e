/**
 * Reads kvm-unit-tests' `unittests.cfg`, the suite's own list of how each test is run: INI-like sections
 * `[name]` with `key = value` lines, `#` comments. The keys used here: `file` (the image), `smp` (vCPUs:
 * a number or `$MAX_SMP`), `test_args` (the kernel command line; older copies put it in `extra_params` as
 * `-append '...'`), `arch`, `timeout`. Values in single or double quotes lose the quotes, as the suite's shell
 * scripts would strip them. Parsing never fails: a line that is not understood is left out.
 */

/** One `[section]` of the file, in file order. */
export interface CfgSection {
  readonly name: string;
  /** Keys as written (lower case in practice), values unquoted; a repeated key keeps its last value. */
  readonly values: ReadonlyMap<string, string>;
}

/** Parses the text of a unittests.cfg. */
export function parseUnittestsCfg(text: string): CfgSection[] {
  const sections: { name: string; values: Map<string, string> }[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) { sections.push({ name: header[1].trim(), values: new Map() }); continue; }
    const kv = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    const current = sections.at(-1);
    if (kv && current) current.values.set(kv[1], unquote(kv[2].trim()));
  }
  return sections;
}

/** Removes one pair of matching surrounding quotes. */
function unquote(value: string): string {
  if (value.length >= 2 && (value[0] === "'" || value[0] === '"') && value.at(-1) === value[0]) return value.slice(1, -1);
  return value;
}

/** The kernel command line of a section: `test_args`, else the argument of `-append` in `extra_params`, else ''. */
export function cfgBootargs(section: CfgSection): string {
  const args = section.values.get('test_args');
  if (args !== undefined) return args;
  const extra = section.values.get('extra_params') ?? '';
  const m = /(?:^|\s)-append\s+(?:'([^']*)'|"([^"]*)"|(\S+))/.exec(extra);
  return m ? (m[1] ?? m[2] ?? m[3]) : '';
}

/** What `smp` asks for: as many vCPUs as the run has (`$MAX_SMP`, the default when absent: 1), or a number. */
export type CfgSmp = { readonly kind: 'max' } | { readonly kind: 'count'; readonly count: number } | { readonly kind: 'unknown'; readonly text: string };

/** The `smp` of a section. kvm-unit-tests' own default is 1. */
export function cfgSmp(section: CfgSection): CfgSmp {
  const smp = section.values.get('smp');
  if (smp === undefined) return { kind: 'count', count: 1 };
  if (/^\$\{?MAX_SMP\}?$/.test(smp)) return { kind: 'max' };
  if (/^[0-9]+$/.test(smp) && Number(smp) >= 1) return { kind: 'count', count: Number(smp) };
  return { kind: 'unknown', text: smp };
}

/** The `timeout` of a section in seconds (`90`, `90s`, `2m`, `1h`), or undefined when absent or unreadable. */
export function cfgTimeoutSec(section: CfgSection): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?)([smh]?)$/.exec(section.values.get('timeout') ?? '');
  if (!m) return undefined;
  const n = Number(m[1]) * (m[2] === 'm' ? 60 : m[2] === 'h' ? 3600 : 1);
  return n > 0 ? n : undefined;
}
