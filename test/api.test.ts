/**
 * The REST API end to end (`hartvisor serve`, src/api): a real server on a Unix socket (and once on TCP
 * 127.0.0.1), driven with node:http, booting the demo guest (guests/images/demo.bin) and a tiny idle guest
 * assembled here. Every route's success path, every error class, "a refused request changes nothing", metrics
 * that parse back, and no worker thread left after DELETE /vm.
 *
 * docs/openapi.yaml is checked twice: statically against the route table and the parsers' schemas, and
 * dynamically: every response this file receives must have a status the document lists for its operation and
 * a body its schema accepts.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ApiController } from '../src/api/controller.js';
import { VM_CONFIG_SCHEMA, VM_STATE_SCHEMA } from '../src/api/request/vm.js';
import { VCPU_ADD_SCHEMA, VCPU_REMOVE_QUERY_SCHEMA } from '../src/api/request/vcpus.js';
import { ROUTES, matchRoute } from '../src/api/routes.js';
import type { ObjectSchema } from '../src/api/schema.js';
import { closeServer, createApiServer, listen } from '../src/api/server.js';
import { STAT_NAMES } from '../src/host/layout.js';
import { MAX_VCPUS_LIMIT } from '../src/hv/vm.js';
import * as A from './helpers/asm.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DEMO = path.join(repo, 'guests/images/demo.bin');
const MAIN = path.join(repo, 'dist/src/cli/main.js');

// ---------------------------------------------------------------------------------------------------------
// A reader for the YAML subset docs/openapi.yaml is written in (block mappings and sequences, quoted and plain
// scalars, flow lists of scalars, comments), and a validator for the OpenAPI schema keywords the document uses.

interface YamlLine { indent: number; text: string; no: number }

/** Strips a comment: a '#' at the start or after a blank, outside quotes. */
function stripComment(line: string): string {
  let quote = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || line[i - 1] === ' ')) return line.slice(0, i);
  }
  return line;
}

function yamlScalar(text: string, no: number): unknown {
  const t = text.trim();
  if (t.startsWith('"')) return JSON.parse(t);
  if (t.startsWith("'")) {
    if (!t.endsWith("'")) throw new Error(`line ${no}: unterminated string`);
    return t.slice(1, -1).replace(/''/g, "'");
  }
  if (t === '[]') return [];
  if (t === '{}') return {};
  if (t.startsWith('[')) {
    if (!t.endsWith(']')) throw new Error(`line ${no}: unterminated flow sequence`);
    const items: string[] = [];
    let cur = '', quote = '';
    for (const c of t.slice(1, -1)) {
      if (quote) { cur += c; if (c === quote) quote = ''; continue; }
      if (c === '"' || c === "'") { quote = c; cur += c; continue; }
      if (c === ',') { items.push(cur); cur = ''; continue; }
      cur += c;
    }
    items.push(cur);
    return items.map((s) => yamlScalar(s, no));
  }
  if (t.startsWith('{') || t.startsWith('|') || t.startsWith('>') || t.startsWith('&') || t.startsWith('*')) {
    throw new Error(`line ${no}: '${t}' is outside the YAML subset`);
  }
  if (t === 'true') return true;
  if (t === 'false') return false;
  if (t === 'null' || t === '~') return null;
  if (/^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/.test(t)) return Number(t);
  return t;
}

/** Splits `key: value` (key plain or quoted); null when the line is not a mapping entry. */
function yamlKey(text: string): { key: string; rest: string } | null {
  if (text.startsWith('"') || text.startsWith("'")) {
    const q = text[0];
    let i = 1;
    while (i < text.length && text[i] !== q) i += text[i] === '\\' && q === '"' ? 2 : 1;
    const raw = text.slice(0, i + 1);
    const after = text.slice(i + 1);
    if (!/^:( |$)/.test(after)) return null;
    return { key: yamlScalar(raw, 0) as string, rest: after.slice(1).trim() };
  }
  const m = /^([^\s"'#][^:]*?):( +(.*))?$/.exec(text);
  return m ? { key: m[1], rest: (m[3] ?? '').trim() } : null;
}

/** Parses the YAML subset. Throws on anything outside it, with the line number. */
export function parseYaml(src: string): unknown {
  const lines: YamlLine[] = [];
  src.split('\n').forEach((raw, i) => {
    if (/\t/.test(raw.match(/^\s*/)![0])) throw new Error(`line ${i + 1}: tab in indentation`);
    const text = stripComment(raw).trimEnd();
    if (text.trim() === '') return;
    lines.push({ indent: text.length - text.trimStart().length, text: text.trimStart(), no: i + 1 });
  });
  let i = 0;
  const isItem = (t: string) => t === '-' || t.startsWith('- ');
  const block = (indent: number): unknown => (isItem(lines[i].text) ? seq(indent) : map(indent));
  const map = (indent: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    while (i < lines.length && lines[i].indent === indent && !isItem(lines[i].text)) {
      const line = lines[i];
      const kv = yamlKey(line.text);
      if (!kv) throw new Error(`line ${line.no}: expected 'key: value'`);
      if (Object.hasOwn(out, kv.key)) throw new Error(`line ${line.no}: duplicate key '${kv.key}'`);
      i++;
      if (kv.rest !== '') out[kv.key] = yamlScalar(kv.rest, line.no);
      else if (i < lines.length && lines[i].indent > indent) out[kv.key] = block(lines[i].indent);
      else if (i < lines.length && lines[i].indent === indent && isItem(lines[i].text)) out[kv.key] = seq(indent);
      else out[kv.key] = null;
    }
    if (i < lines.length && lines[i].indent > indent) throw new Error(`line ${lines[i].no}: unexpected indentation`);
    return out;
  };
  const seq = (indent: number): unknown[] => {
    const out: unknown[] = [];
    while (i < lines.length && lines[i].indent === indent && isItem(lines[i].text)) {
      const line = lines[i];
      const rest = line.text.slice(1).trim();
      if (rest === '') { i++; out.push(block(lines[i].indent)); continue; }
      if (yamlKey(rest)) {
        // "- key: value ...": a mapping whose first entry sits on the dash's line.
        lines[i] = { indent: indent + 2, text: rest, no: line.no };
        out.push(map(indent + 2));
        continue;
      }
      out.push(yamlScalar(rest, line.no));
      i++;
    }
    return out;
  };
  const doc = block(0);
  if (i !== lines.length) throw new Error(`line ${lines[i].no}: unexpected content`);
  return doc;
}

type Json = Record<string, unknown>;
const OPENAPI = parseYaml(readFileSync(path.join(repo, 'docs/openapi.yaml'), 'utf8')) as Json;

/** Follows `$ref`s (local ones only). */
function deref(node: unknown): Json {
  let n = node as Json;
  for (let hops = 0; typeof n.$ref === 'string'; hops++) {
    assert.ok(hops < 10 && n.$ref.startsWith('#/'), `bad $ref ${String(n.$ref)}`);
    n = n.$ref.slice(2).split('/').reduce<unknown>((o, k) => (o as Json)[k], OPENAPI) as Json;
    assert.ok(n, `dangling $ref`);
  }
  return n;
}

/** Errors of `value` against an OpenAPI 3.0 schema (the keywords the document uses); [] when it conforms. */
function validate(schemaNode: unknown, value: unknown, at = '$'): string[] {
  const s = deref(schemaNode);
  if (Array.isArray(s.oneOf)) {
    const n = s.oneOf.filter((o) => validate(o, value, at).length === 0).length;
    return n === 1 ? [] : [`${at}: matches ${n} of the oneOf schemas`];
  }
  if (value === null) return s.nullable === true ? [] : [`${at}: null is not allowed`];
  const errs: string[] = [];
  switch (s.type) {
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return [`${at}: expected an object`];
      const v = value as Json;
      const props = (s.properties ?? {}) as Json;
      for (const k of (s.required ?? []) as string[]) if (!Object.hasOwn(v, k)) errs.push(`${at}: missing '${k}'`);
      for (const [k, x] of Object.entries(v)) {
        if (Object.hasOwn(props, k)) errs.push(...validate(props[k], x, `${at}.${k}`));
        else if (s.additionalProperties === false) errs.push(`${at}: unexpected '${k}'`);
      }
      return errs;
    }
    case 'array':
      if (!Array.isArray(value)) return [`${at}: expected an array`];
      return value.flatMap((x, i) => validate(s.items, x, `${at}[${i}]`));
    case 'string':
      if (typeof value !== 'string') return [`${at}: expected a string`];
      if (Array.isArray(s.enum) && !s.enum.includes(value)) return [`${at}: '${value}' is not one of ${s.enum.join(', ')}`];
      return [];
    case 'integer':
      if (!Number.isInteger(value)) return [`${at}: expected an integer`];
      if (typeof s.minimum === 'number' && (value as number) < s.minimum) return [`${at}: below ${s.minimum}`];
      if (typeof s.maximum === 'number' && (value as number) > s.maximum) return [`${at}: above ${s.maximum}`];
      return [];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${at}: expected a boolean`];
    default:
      return [`${at}: schema has no type`];
  }
}

// ---------------------------------------------------------------------------------------------------------
// HTTP client: every reply is checked against the document.

type Target = { socketPath: string } | { port: number };

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: unknown;
}

/** A raw body (sent as is) instead of a value to serialise. */
class Raw { constructor(readonly bytes: string | Buffer) {} }

function send(target: Target, method: string, urlPath: string, body?: unknown): Promise<Reply> {
  const payload = body === undefined ? undefined : body instanceof Raw ? body.bytes : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const where = 'socketPath' in target ? { socketPath: target.socketPath } : { host: '127.0.0.1', port: target.port };
    const req = http.request({
      ...where, method, path: urlPath, agent: false,
      headers: payload === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        if (/application\/json/.test(res.headers['content-type'] ?? '')) json = JSON.parse(text);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Checks a reply against docs/openapi.yaml: a documented status, and a body its schema accepts. */
function checkAgainstDoc(method: string, urlPath: string, r: Reply): void {
  const where = `${method} ${urlPath} → ${r.status} ${r.text.slice(0, 200)}`;
  const errorBody = () => assert.deepEqual(validate({ $ref: '#/components/schemas/Error' }, r.json), [], where);
  const m = matchRoute(new URL(urlPath, 'http://x').pathname);
  if (!m) { assert.equal(r.status, 404, where); errorBody(); return; }
  const op = (OPENAPI.paths as Json)[m.route.path] as Json;
  const operation = op[method.toLowerCase()] as Json | undefined;
  if (!operation) { assert.equal(r.status, 405, where); assert.ok(r.headers.allow, 'a 405 names the allowed methods'); errorBody(); return; }
  const response = (operation.responses as Json)[String(r.status)];
  assert.ok(response, `status ${r.status} is not documented for ${method} ${m.route.path} (${where})`);
  const content = deref(response).content as Json | undefined;
  if (!content) { assert.equal(r.text, '', `${where}: no body documented`); return; }
  const [type, media] = Object.entries(content)[0];
  assert.ok((r.headers['content-type'] ?? '').startsWith(type.split(';')[0]), `${where}: content type ${r.headers['content-type']}, documented ${type}`);
  if (type === 'application/json') assert.deepEqual(validate((media as Json).schema, r.json), [], where);
}

/** A client for one server; `call` checks every reply against the document. */
function client(target: Target) {
  return async (method: string, urlPath: string, body?: unknown): Promise<Reply> => {
    const r = await send(target, method, urlPath, body);
    checkAgainstDoc(method, urlPath, r);
    return r;
  };
}
type Call = ReturnType<typeof client>;

/** Asserts a refusal: the status, and a fault message matching `re`. */
async function refused(call: Call, status: number, method: string, urlPath: string, body?: unknown, re?: RegExp): Promise<Reply> {
  const r = await call(method, urlPath, body);
  assert.equal(r.status, status, `${method} ${urlPath} ${body === undefined ? '' : JSON.stringify(body instanceof Raw ? '<raw>' : body)}: ${r.text}`);
  const msg = (r.json as { fault_message: string }).fault_message;
  assert.ok(msg.length > 0);
  if (re) assert.match(msg, re);
  return r;
}

async function until<T>(probe: () => Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface VmJson { state: string; exit: { reason: string; exit_code: number } | null; max_vcpus: number; cpu_slots: number; online_vcpus: number; vcpus: { id: number; hsm: string; run: string }[] }

/** Waits until exactly the harts `ids` are present and started. */
function startedHarts(call: Call, ids: number[]): Promise<VmJson> {
  return until(async () => {
    const vm = (await call('GET', '/vm')).json as VmJson;
    const ok = vm.vcpus.length === ids.length && vm.vcpus.every((v, i) => v.id === ids[i] && v.hsm === 'started');
    return ok ? vm : undefined;
  }, 20_000, `harts ${ids.join(',')} started`);
}

// ---------------------------------------------------------------------------------------------------------
// Prometheus text format 0.0.4, read back strictly.

interface Sample { name: string; labels: Record<string, string>; value: number }
interface Scrape { samples: Sample[]; types: Map<string, string>; get(name: string, labels?: Record<string, string>): number | undefined }

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function parseExposition(text: string): Scrape {
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  const closed = new Set<string>();
  let family = '';
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
      if (!m) continue; // another comment
      assert.match(m[2], METRIC_NAME, line);
      if (m[1] === 'TYPE') {
        assert.ok(!types.has(m[2]), `one TYPE line for ${m[2]}`);
        assert.match(m[3], /^(counter|gauge|histogram|summary|untyped)$/, line);
        types.set(m[2], m[3]);
      } else {
        assert.ok(!helps.has(m[2]), `one HELP line for ${m[2]}`);
        helps.add(m[2]);
      }
      if (family !== m[2]) { if (family) closed.add(family); family = m[2]; }
      assert.ok(!closed.has(m[2]) || family === m[2], `${m[2]}: family lines are together`);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?[0-9]+)?$/.exec(line);
    assert.ok(m, `not a sample line: '${line}'`);
    const [, name, , body = '', valueText] = m;
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
    let pos = 0;
    while (pos < body.length) {
      re.lastIndex = pos;
      const l = re.exec(body);
      assert.ok(l, `bad labels in '${line}'`);
      assert.ok(!Object.hasOwn(labels, l[1]), `label ${l[1]} twice in '${line}'`);
      labels[l[1]] = l[2].replace(/\\(.)/g, (_x, c: string) => (c === 'n' ? '\n' : c));
      pos = re.lastIndex;
    }
    assert.match(valueText, /^([-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?|NaN|[+-]Inf)$/, line);
    assert.equal(name, family, `sample ${name} belongs to the family declared above it`);
    assert.ok(types.has(name), `${name} has a TYPE line`);
    if (types.get(name) === 'counter') assert.match(name, /_total$/, 'counters end in _total');
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    assert.ok(!seen.has(key), `duplicate sample ${line}`);
    seen.add(key);
    samples.push({ name, labels, value: Number(valueText.replace('Inf', 'Infinity')) });
  }
  for (const n of types.keys()) assert.ok(helps.has(n), `${n} has a HELP line`);
  return {
    samples, types,
    get: (name, labels = {}) => samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value,
  };
}

async function scrape(call: Call): Promise<Scrape> {
  const r = await call('GET', '/metrics');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(r.text);
}

/** Every counter sample of `a` that is also in `b` has not gone down. */
function assertCountersMonotonic(a: Scrape, b: Scrape): void {
  let compared = 0;
  for (const s of a.samples) {
    if (a.types.get(s.name) !== 'counter') continue;
    const later = b.get(s.name, s.labels);
    if (later === undefined) continue;
    assert.ok(later >= s.value, `${s.name}${JSON.stringify(s.labels)} went from ${s.value} to ${later}`);
    compared++;
  }
  assert.ok(compared > 0, 'some counters were compared');
}

// ---------------------------------------------------------------------------------------------------------
// Guests.

const RAM = 0x80000000;
const FLAT_AT = RAM + 0x400000;

/**
 * An idle guest that ignores hotplug events: hart 0 starts hart 1 (SBI HSM hart_start), then both sleep in a
 * WFI loop forever. Graceful removal and hot-add time out against it; forced removal works.
 */
function idleGuest(): Uint8Array {
  const p = new A.Asm(FLAT_AT);
  p.li(A.a0, 1).la(A.a1, 'park').li(A.a2, 0).li(A.a7, 0x48534d).li(A.a6, 0).w(A.ecall());
  p.label('park').w(A.wfi()).w((pc, L) => A.jal(A.zero, L('park') - pc));
  return p.bytes();
}

/** The demo guest's bootargs: `harts` harts at boot, a count that never finishes, fast hotplug polling. */
const demoArgs = (harts: number, ops = 1_000_000_000) => `demo.harts=${harts} demo.ops=${ops} demo.poll_ms=1 demo.lock=tas`;

function workerResources(): number {
  return process.getActiveResourcesInfo().filter((r) => /worker|messageport/i.test(r)).length;
}

// ---------------------------------------------------------------------------------------------------------

describe('docs/openapi.yaml agrees with the server', () => {
  const paths = OPENAPI.paths as Json;
  const opsOf = (p: string) => Object.keys(paths[p] as Json).filter((k) => k !== 'parameters');

  it('is OpenAPI 3.0 with exactly the routes and methods of the route table', () => {
    assert.match(String(OPENAPI.openapi), /^3\.0\.\d+$/);
    assert.deepEqual(Object.keys(paths).sort(), ROUTES.map((r) => r.path).sort());
    for (const r of ROUTES) assert.deepEqual(opsOf(r.path).sort(), Object.keys(r.methods).map((m) => m.toLowerCase()).sort(), r.path);
  });

  it('lists exactly the statuses each operation can answer, plus a default (500)', () => {
    for (const r of ROUTES) {
      for (const [method, op] of Object.entries(r.methods)) {
        const responses = (paths[r.path] as Json)[method.toLowerCase()] as Json;
        const codes = Object.keys(responses.responses as Json);
        assert.ok(codes.includes('default'), `${method} ${r.path} has a default response`);
        assert.deepEqual(codes.filter((c) => c !== 'default').map(Number).sort(), [...op.statuses].sort(), `${method} ${r.path}`);
      }
    }
  });

  /** The OpenAPI keywords a field schema shares with the parser's. */
  const keywords = (s: Json) => Object.fromEntries(['type', 'minimum', 'maximum', 'enum', 'minLength', 'maxLength']
    .filter((k) => s[k] !== undefined).map((k) => [k, s[k]]));

  function sameSchema(doc: Json, code: ObjectSchema, what: string): void {
    assert.equal(doc.type, 'object', what);
    assert.equal(doc.additionalProperties, false, what);
    assert.deepEqual(((doc.required ?? []) as string[]).slice().sort(), [...code.required].sort(), `${what}: required`);
    const props = doc.properties as Json;
    assert.deepEqual(Object.keys(props).sort(), Object.keys(code.properties).sort(), `${what}: fields`);
    for (const [k, f] of Object.entries(code.properties)) {
      assert.deepEqual(keywords(deref(props[k])), keywords(f as unknown as Json), `${what}.${k}`);
    }
  }

  it('request bodies and query strings are the schemas the parsers enforce', () => {
    const bodies: Record<string, ObjectSchema> = {
      'put /vm': VM_CONFIG_SCHEMA, 'patch /vm': VM_STATE_SCHEMA, 'put /vm/vcpus/{id}': VCPU_ADD_SCHEMA,
    };
    const queries: Record<string, ObjectSchema> = { 'delete /vm/vcpus/{id}': VCPU_REMOVE_QUERY_SCHEMA };
    for (const r of ROUTES) {
      for (const m of opsOf(r.path)) {
        const op = (paths[r.path] as Json)[m] as Json;
        const key = `${m} ${r.path}`;
        const body = bodies[key];
        if (!body) {
          assert.equal(op.requestBody, undefined, `${key} takes no body`);
        } else {
          const rb = op.requestBody as Json;
          assert.equal(rb.required, body.required.length > 0, `${key}: body required`);
          sameSchema(deref(((rb.content as Json)['application/json'] as Json).schema), body, key);
        }
        const params = ((op.parameters ?? []) as unknown[]).map(deref).filter((p) => p.in === 'query');
        const q = queries[key];
        assert.deepEqual(params.map((p) => p.name).sort(), Object.keys(q?.properties ?? {}).sort(), `${key}: query parameters`);
        for (const p of params) {
          assert.equal(p.required, q!.required.includes(p.name as string), `${key}: ${String(p.name)} required`);
          assert.deepEqual(keywords(p.schema as Json), keywords(q!.properties[p.name as string] as unknown as Json), `${key} ?${String(p.name)}`);
        }
      }
    }
    const id = deref(((paths['/vm/vcpus/{id}'] as Json).parameters as unknown[])[0]);
    assert.deepEqual({ name: id.name, in: id.in, ...keywords(id.schema as Json) }, { name: 'id', in: 'path', type: 'integer', minimum: 0, maximum: MAX_VCPUS_LIMIT - 1 });
  });

  it('closes every object schema (additionalProperties: false) and lists every vCPU statistic', () => {
    const walk = (n: unknown, at: string): void => {
      if (Array.isArray(n)) { n.forEach((x, i) => walk(x, `${at}[${i}]`)); return; }
      if (!n || typeof n !== 'object') return;
      const o = n as Json;
      if (o.type === 'object') assert.equal(o.additionalProperties, false, `${at} is closed`);
      for (const [k, v] of Object.entries(o)) walk(v, `${at}.${k}`);
    };
    walk(OPENAPI, '$');
    const stats = deref({ $ref: '#/components/schemas/VcpuStats' });
    assert.deepEqual(Object.keys(stats.properties as Json), [...STAT_NAMES]);
    assert.deepEqual(stats.required, [...STAT_NAMES]);
  });

  it('the YAML reader refuses what it does not understand', () => {
    assert.throws(() => parseYaml('a: |\n  text\n'), /subset/);
    assert.throws(() => parseYaml('a: 1\na: 2\n'), /duplicate/);
    assert.deepEqual(parseYaml('a:\n  - x: 1\n    y: [p, "q r"]\n  - 2\nb: "#no comment" # comment\n'), { a: [{ x: 1, y: ['p', 'q r'] }, 2], b: '#no comment' });
  });
});

describe('hartvisor API over a Unix socket', () => {
  let dir: string;
  let server: Server;
  let controller: ApiController;
  let call: Call;
  let guestOut = '';
  const warnings: string[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'hv-api-'));
    controller = new ApiController({ onOutput: (b) => { guestOut += Buffer.from(b).toString('latin1'); }, onWarn: (m) => warnings.push(m) });
    server = createApiServer({ controller });
    const sock = path.join(dir, 'api.sock');
    assert.equal(await listen(server, { socket: sock }), `unix:${sock}`);
    call = client({ socketPath: sock });
  });

  after(async () => {
    await controller.close();
    await closeServer(server);
    rmSync(dir, { recursive: true, force: true });
  });

  it('without a VM: GET /vm says not_configured, metrics have only VM-level samples at 0, VM actions are 409', async () => {
    const r = await call('GET', '/vm');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { state: 'not_configured' });
    const m = await scrape(call);
    for (const name of ['hartvisor_vm_online_vcpus', 'hartvisor_vm_max_vcpus', 'hartvisor_vm_threads']) assert.equal(m.get(name), 0, name);
    for (const op of ['add', 'remove', 'forced']) assert.equal(m.get('hartvisor_hotplug_events_total', { op }), 0);
    assert.equal(m.get('hartvisor_vm_state', { state: 'not_configured' }), 1);
    assert.deepEqual(m.samples.filter((s) => s.name.startsWith('hartvisor_vcpu_')), []);
    for (const name of ['hartvisor_vcpu_exits_total', 'hartvisor_vcpu_state', 'hartvisor_vcpu_preempted_total']) assert.ok(m.types.has(name), name);
    await refused(call, 409, 'PATCH', '/vm', { state: 'paused' }, /PUT \/vm first/);
    await refused(call, 409, 'DELETE', '/vm');
    await refused(call, 409, 'GET', '/vm/vcpus/0');
    await refused(call, 409, 'PUT', '/vm/vcpus/1');
    await refused(call, 409, 'DELETE', '/vm/vcpus/1');
  });

  it('refuses bad requests with 400/404/405/413 and changes nothing', async () => {
    const before = await call('GET', '/vm');
    const bigImage = path.join(dir, 'big.bin');
    writeFileSync(bigImage, Buffer.alloc(2 * 1024 * 1024, 0x13));
    const emptyImage = path.join(dir, 'empty.bin');
    writeFileSync(emptyImage, Buffer.alloc(0));
    mkdirSync(path.join(dir, 'adir'));
    const ok = { image: DEMO, memory_mib: 16, executor: 'deterministic' };
    // 404: no such route
    for (const p of ['/', '//vm', '/nope', '/vm/', '/vm/vcpus', '/vm/vcpus/', '/vm/vcpus/1/x', '/metrics/x', '/VM']) await refused(call, 404, 'GET', p, undefined, /no such resource/);
    // 405: the route exists, the method does not
    for (const [m, p] of [['POST', '/vm'], ['PATCH', '/metrics'], ['DELETE', '/metrics'], ['POST', '/vm/vcpus/1'], ['PATCH', '/vm/vcpus/1']] as const) {
      const r = await call(m, p);
      assert.equal(r.status, 405, `${m} ${p}`);
    }
    assert.equal((await call('POST', '/vm')).headers.allow, 'PUT, GET, PATCH, DELETE');
    // 413: body over 64 KiB (read to its end, then refused)
    await refused(call, 413, 'PUT', '/vm', new Raw(JSON.stringify({ ...ok, boot_args: 'x'.repeat(70 * 1024) })), /limit is 65536/);
    await refused(call, 413, 'GET', '/vm', new Raw(' '.repeat(65 * 1024)));
    // 400: malformed JSON, not an object
    await refused(call, 400, 'PUT', '/vm', new Raw('{"image": '), /malformed JSON/);
    await refused(call, 400, 'PUT', '/vm', new Raw("{'image': 'x'}"), /malformed JSON/);
    for (const body of [[], 'demo.bin', 42, null]) await refused(call, 400, 'PUT', '/vm', body, /must be a JSON object/);
    await refused(call, 400, 'PUT', '/vm', undefined, /JSON object is required/);
    // 400: unknown fields, wrong types, out-of-range values, missing field
    await refused(call, 400, 'PUT', '/vm', { ...ok, vcpu_count: 2 }, /unknown field 'vcpu_count'/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, memory_mib: '16' }, /'memory_mib' must be an integer/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, memory_mib: 16.5 }, /'memory_mib' must be an integer/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, memory_mib: 4096 }, /'memory_mib' must be from 1 to 2047/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, max_vcpus: 0 }, /'max_vcpus'/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, max_vcpus: 2000 }, /'max_vcpus'/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, vcpus: 4, max_vcpus: 2 }, /'vcpus' \(4\) is more than 'max_vcpus' \(2\)/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, max_vcpus: 2, cpu_slots: 3 }, /'cpu_slots'/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, executor: 'fast' }, /'executor' must be one of threads, deterministic/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, directed_yield: true }, /'directed_yield'/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, on_hart_stop: 'park' }, /'on_hart_stop'/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, seed: -1 }, /'seed'/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, boot_args: ['a'] }, /'boot_args' must be a string/);
    await refused(call, 400, 'PUT', '/vm', { memory_mib: 16 }, /missing field 'image'/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, image: '' }, /'image'/);
    await refused(call, 400, 'PUT', '/vm?x=1', ok, /unknown query parameter 'x'/);
    // 400: images that cannot be used
    await refused(call, 400, 'PUT', '/vm', { ...ok, image: path.join(dir, 'missing.bin') }, /no such file/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, image: path.join(dir, 'adir') }, /not a regular file/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, image: bigImage, memory_mib: 1 }, /too big/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, image: emptyImage }, /unusable image: image is empty/);
    await refused(call, 400, 'PUT', '/vm', { ...ok, image: bigImage, memory_mib: 4 }, /unusable image/); // a flat image goes at RAM + 4 MiB: past the end of 4 MiB
    // 400: bodies and queries where none are taken
    await refused(call, 400, 'GET', '/vm', {}, /takes no body/);
    await refused(call, 400, 'GET', '/vm?verbose=1', undefined, /unknown query parameter/);
    await refused(call, 400, 'GET', '/metrics', { x: 1 }, /takes no body/);
    const after = await call('GET', '/vm');
    assert.deepEqual(after.json, before.json);
    assert.deepEqual(after.json, { state: 'not_configured' });
    assert.equal(controller.vm, undefined);
  });

  it('boots the demo guest (deterministic), hot-adds and hot-removes vCPUs, pauses and resumes, shuts down', async () => {
    const config = {
      image: DEMO, memory_mib: 16, vcpus: 2, max_vcpus: 4, cpu_slots: 2, boot_args: demoArgs(2),
      executor: 'deterministic', seed: 7, directed_yield: 'on', on_hart_stop: 'destroy',
    };
    assert.equal((await call('PUT', '/vm', config)).status, 204);
    await refused(call, 409, 'PUT', '/vm', config, /a VM exists and is running/);
    const vm = await startedHarts(call, [0, 1]);
    assert.equal(vm.state, 'running');
    assert.equal(vm.exit, null);
    assert.equal(vm.max_vcpus, 4);
    assert.equal(vm.cpu_slots, 2);
    assert.equal(vm.online_vcpus, 2);
    assert.match(guestOut, /demo: 2 harts running/);

    // Hot-add: 204 once the guest has started the hart. Two requests for the same id at once: one wins.
    const adds = await Promise.all([call('PUT', '/vm/vcpus/2', { timeout_ms: 15_000 }), call('PUT', '/vm/vcpus/2', { timeout_ms: 15_000 })]);
    assert.deepEqual(adds.map((r) => r.status).sort(), [204, 409], adds.map((r) => r.text).join(' | '));
    const v2 = await call('GET', '/vm/vcpus/2');
    assert.equal(v2.status, 200);
    const d2 = v2.json as { id: number; hsm: string; stats: Record<string, number> };
    assert.equal(d2.id, 2);
    assert.equal(d2.hsm, 'started');
    assert.deepEqual(Object.keys(d2.stats), [...STAT_NAMES]);
    await refused(call, 409, 'PUT', '/vm/vcpus/2', undefined, /exists already/);
    await refused(call, 400, 'PUT', '/vm/vcpus/4', undefined, /out of range: this VM has ids 0\.\.3/);
    for (const id of ['abc', '01', '-1', '1.0', '1e1', '99999999999', '1024']) await refused(call, 400, 'PUT', `/vm/vcpus/${id}`, undefined, /vCPU id/);
    await refused(call, 400, 'PUT', '/vm/vcpus/3', { timeout: 10 }, /unknown field 'timeout'/);
    await refused(call, 400, 'PUT', '/vm/vcpus/3', { timeout_ms: '10' }, /'timeout_ms' must be an integer/);
    await refused(call, 400, 'PUT', '/vm/vcpus/3', { timeout_ms: -1 }, /'timeout_ms'/);
    await refused(call, 400, 'PUT', '/vm/vcpus/3', [], /JSON object/);
    await refused(call, 400, 'GET', '/vm/vcpus/7', undefined, /out of range/);

    // Hot-remove, gracefully: the guest moves its work away and stops the hart; the vCPU is gone.
    assert.equal((await call('DELETE', '/vm/vcpus/2')).status, 204);
    await refused(call, 404, 'GET', '/vm/vcpus/2', undefined, /no vCPU 2/);
    await refused(call, 404, 'DELETE', '/vm/vcpus/2', undefined, /no vCPU 2/);
    await refused(call, 404, 'DELETE', '/vm/vcpus/3', undefined, /no vCPU 3/);
    for (const q of ['force=yes', 'force=1', 'timeout_ms=abc', 'timeout_ms=-5', 'timeout_ms=600001', 'bogus=1', 'force=true&force=false']) {
      await refused(call, 400, 'DELETE', `/vm/vcpus/1?${q}`);
    }
    await refused(call, 400, 'DELETE', '/vm/vcpus/1', { force: true }, /takes no body/);
    // force=true on a guest that cooperates: a graceful removal, nothing forced.
    assert.equal((await call('DELETE', '/vm/vcpus/1?force=true&timeout_ms=15000')).status, 204);
    await startedHarts(call, [0]);
    await refused(call, 409, 'DELETE', '/vm/vcpus/0', undefined, /last running vCPU/);

    // Metrics: every line valid; counters never go down between two scrapes.
    const m1 = await scrape(call);
    assert.equal(m1.get('hartvisor_hotplug_events_total', { op: 'add' }), 1);
    assert.equal(m1.get('hartvisor_hotplug_events_total', { op: 'remove' }), 2);
    assert.equal(m1.get('hartvisor_hotplug_events_total', { op: 'forced' }), 0);
    assert.equal(m1.get('hartvisor_vm_online_vcpus'), 1);
    assert.equal(m1.get('hartvisor_vm_max_vcpus'), 4);
    assert.equal(m1.get('hartvisor_vm_state', { state: 'running' }), 1);
    assert.equal(m1.get('hartvisor_vcpu_hsm_state', { vcpu: '0', state: 'started' }), 1);
    assert.equal(m1.samples.filter((s) => s.name === 'hartvisor_vcpu_state').length, 1);
    for (const reason of ['ecall', 'wfi', 'pause', 'budget']) assert.ok(m1.get('hartvisor_vcpu_exits_total', { vcpu: '0', reason }) !== undefined, reason);
    assert.ok(m1.get('hartvisor_vcpu_exits_total', { vcpu: '0', reason: 'ecall' })! > 0, 'the demo makes SBI calls');
    for (const n of ['pause_loop_exits', 'directed_yield_attempted', 'directed_yield_successful', 'halt_wakeup', 'preempted', 'instructions']) {
      assert.ok(m1.get(`hartvisor_vcpu_${n}_total`, { vcpu: '0' }) !== undefined, n);
    }
    await new Promise((r) => setTimeout(r, 100));
    const m2 = await scrape(call);
    assertCountersMonotonic(m1, m2);
    assert.ok(m2.get('hartvisor_vcpu_exits_total', { vcpu: '0', reason: 'budget' })! > m1.get('hartvisor_vcpu_exits_total', { vcpu: '0', reason: 'budget' })!, 'the guest ran on');

    // Pause: state paused, hotplug refused, pausing again refused; then resume.
    assert.equal((await call('PATCH', '/vm', { state: 'paused' })).status, 204);
    assert.equal(((await call('GET', '/vm')).json as VmJson).state, 'paused');
    await refused(call, 409, 'PATCH', '/vm', { state: 'paused' }, /not running/);
    await refused(call, 409, 'PUT', '/vm/vcpus/1', undefined, /needs a running VM/);
    await refused(call, 409, 'DELETE', '/vm/vcpus/0', undefined, /needs a running VM/);

    // A refused request changes nothing (the VM is paused, so its state and counters hold still).
    const snapshot = async () => ({ vm: (await call('GET', '/vm')).json, metrics: (await call('GET', '/metrics')).text, v0: (await call('GET', '/vm/vcpus/0')).json });
    const s1 = await snapshot();
    await refused(call, 400, 'PATCH', '/vm', { state: 'stopped' }, /'state' must be one of paused, running/);
    await refused(call, 400, 'PATCH', '/vm', { state: 'running', extra: 1 }, /unknown field 'extra'/);
    await refused(call, 400, 'PATCH', '/vm', { state: 1 }, /'state'/);
    await refused(call, 400, 'PATCH', '/vm', {}, /missing field 'state'/);
    await refused(call, 400, 'PATCH', '/vm', new Raw('{"state": "running"'), /malformed JSON/);
    await refused(call, 413, 'PATCH', '/vm', new Raw(JSON.stringify({ state: 'running', pad: 'x'.repeat(66 * 1024) })));
    await refused(call, 400, 'PUT', '/vm', { image: DEMO, unknown: true }, /unknown field/);
    await refused(call, 409, 'PUT', '/vm', { image: DEMO }, /a VM exists and is paused/);
    await refused(call, 400, 'PUT', '/vm/vcpus/x');
    await refused(call, 400, 'DELETE', '/vm/vcpus/0?force=1');
    await refused(call, 400, 'DELETE', '/vm', { now: true });
    await refused(call, 405, 'POST', '/vm/vcpus/0');
    await refused(call, 404, 'PUT', '/vm/vcpu/1');
    assert.deepEqual(await snapshot(), s1);

    assert.equal((await call('PATCH', '/vm', { state: 'running' })).status, 204);
    await refused(call, 409, 'PATCH', '/vm', { state: 'running' }, /not paused/);
    assert.equal(((await call('GET', '/vm')).json as VmJson).state, 'running');

    // Shut down: 204, then state shutdown with exit reason closed, nothing left, and only DELETE allowed.
    assert.equal((await call('DELETE', '/vm')).status, 204);
    const down = (await call('GET', '/vm')).json as VmJson;
    assert.equal(down.state, 'shutdown');
    assert.deepEqual(down.exit, { reason: 'closed', exit_code: 0 });
    assert.deepEqual(down.vcpus, []);
    assert.equal(down.online_vcpus, 0);
    assert.equal(controller.vm!.threads, 0);
    await refused(call, 409, 'PATCH', '/vm', { state: 'paused' }, /shut down/);
    await refused(call, 409, 'PUT', '/vm/vcpus/1');
    await refused(call, 404, 'GET', '/vm/vcpus/0');
    assert.equal((await call('DELETE', '/vm')).status, 204, 'DELETE /vm is idempotent');
    const m3 = await scrape(call);
    assert.equal(m3.get('hartvisor_vm_state', { state: 'shutdown' }), 1);
    assert.equal(m3.get('hartvisor_vm_online_vcpus'), 0);
    assertCountersMonotonic(m2, m3);
  });

  it('forces the removal of a vCPU whose guest ignores the request; guest timeouts are 504', async () => {
    const image = path.join(dir, 'idle.bin');
    writeFileSync(image, idleGuest());
    const before = await scrape(call);
    // A shut-down VM is replaced by the next PUT /vm.
    assert.equal((await call('PUT', '/vm', { image, memory_mib: 8, vcpus: 2, max_vcpus: 3, executor: 'deterministic' })).status, 204);
    await startedHarts(call, [0, 1]);

    await refused(call, 504, 'DELETE', '/vm/vcpus/1?timeout_ms=100', undefined, /did not stop hart 1 within 100 ms/);
    const v1 = await call('GET', '/vm/vcpus/1');
    assert.equal(v1.status, 200, 'a graceful removal that timed out leaves the vCPU');
    assert.equal((v1.json as { hsm: string }).hsm, 'started');
    assert.equal((await call('DELETE', '/vm/vcpus/1?force=true&timeout_ms=100')).status, 204);
    await refused(call, 404, 'GET', '/vm/vcpus/1');

    await refused(call, 504, 'PUT', '/vm/vcpus/2', { timeout_ms: 100 }, /did not start hart 2 within 100 ms/);
    await refused(call, 404, 'GET', '/vm/vcpus/2', undefined, /no vCPU 2/);
    await refused(call, 409, 'DELETE', '/vm/vcpus/0?force=true&timeout_ms=0', undefined, /last running vCPU/);
    assert.equal(((await call('GET', '/vm')).json as VmJson).online_vcpus, 1);

    // The hotplug counters add this VM's events to the previous VM's: they never go back.
    const m = await scrape(call);
    const delta = (op: string) => m.get('hartvisor_hotplug_events_total', { op })! - before.get('hartvisor_hotplug_events_total', { op })!;
    assert.deepEqual({ add: delta('add'), remove: delta('remove'), forced: delta('forced') }, { add: 1, remove: 2, forced: 1 });
    assert.equal((await call('DELETE', '/vm')).status, 204);
  });

  it('a guest that shuts itself down: state shutdown with its exit, threads gone, and a new VM can be booted', async () => {
    guestOut = '';
    // Two PUT /vm at once: one boots the VM, the other is refused.
    const config = { image: DEMO, memory_mib: 16, vcpus: 2, max_vcpus: 2, boot_args: demoArgs(2, 20_000), executor: 'deterministic' };
    const puts = await Promise.all([call('PUT', '/vm', config), call('PUT', '/vm', config)]);
    assert.deepEqual(puts.map((r) => r.status).sort(), [204, 409], puts.map((r) => r.text).join(' | '));
    const vm = await until(async () => {
      const v = (await call('GET', '/vm')).json as VmJson;
      return v.state === 'shutdown' ? v : undefined;
    }, 30_000, 'the guest to shut down');
    assert.deepEqual(vm.exit, { reason: 'shutdown', exit_code: 0 });
    assert.match(guestOut, /demo: result OK total=20000/);
    await until(async () => controller.vm!.threads === 0 && controller.vm!.isTornDown, 5000, 'the VM to be released');
    await refused(call, 409, 'PATCH', '/vm', { state: 'running' });
    assert.deepEqual(warnings, []);
  });

  it('serves TCP on 127.0.0.1 too; the threads executor: hot-add, hot-remove, pause, and no thread left after DELETE /vm', async () => {
    const ctl = new ApiController({ onWarn: (m) => warnings.push(m) });
    const tcp = createApiServer({ controller: ctl });
    const url = await listen(tcp, { port: 0 });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const tcall = client({ port: Number(new URL(url).port) });
    const workersBefore = workerResources();
    try {
      const config = { image: DEMO, memory_mib: 16, vcpus: 2, max_vcpus: 3, cpu_slots: 2, boot_args: demoArgs(2), executor: 'threads' };
      assert.equal((await tcall('PUT', '/vm', config)).status, 204);
      await startedHarts(tcall, [0, 1]);
      assert.ok(ctl.vm!.threads >= 2, 'one thread per vCPU');
      assert.equal((await tcall('PUT', '/vm/vcpus/2', { timeout_ms: 15_000 })).status, 204);
      await startedHarts(tcall, [0, 1, 2]);
      assert.equal((await tcall('DELETE', '/vm/vcpus/1?timeout_ms=15000')).status, 204);
      await startedHarts(tcall, [0, 2]);
      const m1 = await scrape(tcall);
      assert.ok(m1.get('hartvisor_vm_threads')! >= 2);
      assert.equal(m1.get('hartvisor_vm_online_vcpus'), 2);
      assert.equal((await tcall('PATCH', '/vm', { state: 'paused' })).status, 204);
      assert.equal((await tcall('PATCH', '/vm', { state: 'running' })).status, 204);
      await new Promise((r) => setTimeout(r, 50));
      assertCountersMonotonic(m1, await scrape(tcall));
      assert.equal((await tcall('DELETE', '/vm')).status, 204);
      assert.equal(ctl.vm!.threads, 0, 'DELETE /vm answers once every vCPU thread has ended');
      assert.equal((await scrape(tcall)).get('hartvisor_vm_threads'), 0);
      await until(async () => workerResources() <= workersBefore, 5000, 'worker handles to go');
    } finally {
      await ctl.close();
      await closeServer(tcp);
    }
  });
});

describe('hartvisor serve (the command)', () => {
  const run = (args: string[]) => new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const p = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (b: Buffer) => { out += b; });
    p.stderr.on('data', (b: Buffer) => { err += b; });
    p.on('exit', (code) => resolve({ code, out, err }));
  });

  it('--help, and usage errors (103) and an existing socket path (104)', async () => {
    const help = await run(['serve', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.out, /Usage: hartvisor serve --socket PATH/);
    const none = await run(['serve']);
    assert.equal(none.code, 103);
    assert.match(none.err, /missing --socket PATH or --port N/);
    assert.equal((await run(['serve', '--socket', 'a', '--port', '1'])).code, 103);
    assert.equal((await run(['serve', '--port', '65536'])).code, 103);
    const taken = await run(['serve', '--socket', DEMO]);
    assert.equal(taken.code, 104);
    assert.match(taken.err, /exists already/);
  });

  it('serves on a Unix socket until SIGTERM, then removes it and exits 0', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'hv-serve-'));
    const sock = path.join(dir, 'api.sock');
    const p = spawn(process.execPath, [MAIN, 'serve', '--socket', sock], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b: Buffer) => { err += b; });
    const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
    try {
      await until(async () => existsSync(sock) && /listening/.test(err), 10_000, 'the server to listen');
      const call = client({ socketPath: sock });
      assert.deepEqual((await call('GET', '/vm')).json, { state: 'not_configured' });
      assert.equal((await call('PUT', '/vm', { image: DEMO, memory_mib: 16, max_vcpus: 2, boot_args: demoArgs(1), executor: 'deterministic' })).status, 204);
      assert.equal(((await call('GET', '/vm')).json as VmJson).state, 'running');
      p.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.match(err, /SIGTERM: shutting down/);
      assert.ok(!existsSync(sock), 'the socket is removed');
    } finally {
      p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
