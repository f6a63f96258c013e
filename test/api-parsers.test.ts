/**
 * The API's pieces without HTTP: the per-resource parsers and their strict schemas, the route matcher, the
 * error → status mapping, the metrics rendering, and the controller called directly (as the CLI could).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { ApiRequest, VmmAction } from '../src/api/actions.js';
import { ApiController } from '../src/api/controller.js';
import { ApiError, httpErrorOf } from '../src/api/errors.js';
import { renderMetrics } from '../src/api/metrics.js';
import { parseGetMetrics } from '../src/api/request/metrics.js';
import { DEFAULT_HOTPLUG_TIMEOUT_MS, parseDeleteVcpu, parseGetVcpu, parsePutVcpu } from '../src/api/request/vcpus.js';
import { DEFAULT_MEMORY_MIB, parseDeleteVm, parseGetVm, parsePatchVm, parsePutVm } from '../src/api/request/vm.js';
import { ROUTES, allowedMethods, matchRoute } from '../src/api/routes.js';
import { parseObject, parseQuery } from '../src/api/schema.js';
import { ImageError } from '../src/boot/image-error.js';
import { HvError, type HvErrorCode } from '../src/hv/errors.js';
import { DEFAULT_SCHED } from '../src/hv/scheduler.js';

function req(method: string, route: string, opts: { params?: Record<string, string>; query?: string; body?: unknown } = {}): ApiRequest {
  return { method, route, params: opts.params ?? {}, query: new URLSearchParams(opts.query ?? ''), body: opts.body };
}

/** Asserts a 400 whose message matches `re`. */
function bad(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ApiError, String(e));
    assert.equal(e.kind, 'bad-request');
    assert.match(e.message, re);
    return true;
  });
}

describe('PUT /vm parser', () => {
  const put = (body: unknown) => parsePutVm(req('PUT', '/vm', { body }));

  it('fills in the library defaults; max_vcpus defaults to vcpus, cpu_slots is left to the VM', () => {
    assert.deepEqual(put({ image: 'k.bin' }), {
      kind: 'boot-vm',
      config: {
        imagePath: 'k.bin', memoryMiB: DEFAULT_MEMORY_MIB, vcpus: 1, maxVcpus: 1, bootArgs: '',
        executor: 'threads', seed: 1, directedYield: DEFAULT_SCHED.directedYield, onHartStop: 'destroy', onUnsupported: 'stop',
      },
    });
    const a = put({ image: 'k', vcpus: 3 }) as Extract<VmmAction, { kind: 'boot-vm' }>;
    assert.deepEqual([a.config.vcpus, a.config.maxVcpus, a.config.cpuSlots], [3, 3, undefined]);
    const b = put({ image: 'k', vcpus: 2, max_vcpus: 8, cpu_slots: 2, seed: 0, executor: 'deterministic', directed_yield: 'pv', on_hart_stop: 'keep', boot_args: 'a=b', memory_mib: 2047, on_unsupported: 'report', engine: 'interp' }) as Extract<VmmAction, { kind: 'boot-vm' }>;
    assert.deepEqual(b.config, {
      imagePath: 'k', memoryMiB: 2047, vcpus: 2, maxVcpus: 8, cpuSlots: 2, bootArgs: 'a=b',
      executor: 'deterministic', seed: 0, directedYield: 'pv', onHartStop: 'keep', onUnsupported: 'report', engine: 'interp',
    });
    bad(() => put({ image: 'k', engine: 'qemu' }), /'engine' must be one of jit, interp/);
  });

  it('refuses anything outside the schema, naming the field', () => {
    bad(() => put(undefined), /a JSON object is required/);
    bad(() => put([]), /must be a JSON object, got an array/);
    bad(() => put(null), /got null/);
    bad(() => put({}), /missing field 'image'/);
    bad(() => put({ image: 'k', Image: 'k' }), /unknown field 'Image' \(known: image, memory_mib/);
    bad(() => put({ image: 7 }), /'image' must be a string, got the integer 7/);
    bad(() => put({ image: 'k', vcpus: 1.5 }), /'vcpus' must be an integer from 1 to 1024, got the number 1.5/);
    bad(() => put({ image: 'k', vcpus: 1025 }), /'vcpus' must be from 1 to 1024, got the integer 1025/);
    bad(() => put({ image: 'k', seed: 2 ** 32 }), /'seed'/);
    bad(() => put({ image: 'k', executor: 'Threads' }), /'executor' must be one of threads, deterministic/);
    bad(() => put({ image: 'k', on_hart_stop: null }), /'on_hart_stop' must be one of the strings destroy, keep, got null/);
    bad(() => put({ image: 'k', boot_args: 'x'.repeat(4097) }), /at most 4096 characters/);
    bad(() => put({ image: 'k', vcpus: 3, max_vcpus: 2 }), /'vcpus' \(3\) is more than 'max_vcpus' \(2\)/);
    bad(() => put({ image: 'k', max_vcpus: 2, cpu_slots: 4 }), /'cpu_slots' \(4\) is more than 'max_vcpus' \(2\)/);
    bad(() => parsePutVm(req('PUT', '/vm', { body: { image: 'k' }, query: 'dry=1' })), /unknown query parameter 'dry'/);
  });

  it('a field named like an Object.prototype property is still unknown', () => {
    bad(() => put(JSON.parse('{"image": "k", "__proto__": {"vcpus": 2}}')), /unknown field '__proto__'/);
    bad(() => put({ image: 'k', toString: 'x' }), /unknown field 'toString'/);
  });
});

describe('the other parsers', () => {
  it('GET, PATCH and DELETE /vm', () => {
    assert.deepEqual(parseGetVm(req('GET', '/vm')), { kind: 'describe-vm' });
    assert.deepEqual(parseDeleteVm(req('DELETE', '/vm')), { kind: 'shutdown-vm' });
    assert.deepEqual(parsePatchVm(req('PATCH', '/vm', { body: { state: 'paused' } })), { kind: 'set-vm-state', state: 'paused' });
    bad(() => parsePatchVm(req('PATCH', '/vm', { body: { state: 'Paused' } })), /one of paused, running/);
    bad(() => parsePatchVm(req('PATCH', '/vm')), /a JSON object is required/);
    bad(() => parseGetVm(req('GET', '/vm', { body: {} })), /takes no body/);
    bad(() => parseDeleteVm(req('DELETE', '/vm', { query: 'force=true' })), /unknown query parameter 'force'/);
    assert.deepEqual(parseGetMetrics(req('GET', '/metrics')), { kind: 'metrics' });
    bad(() => parseGetMetrics(req('GET', '/metrics', { query: 'name=x' })), /unknown query parameter/);
  });

  it('/vm/vcpus/{id}: ids are plain decimals below 1024; timeouts and force', () => {
    const r = (method: string, id: string, opts: { query?: string; body?: unknown } = {}) => req(method, '/vm/vcpus/{id}', { params: { id }, ...opts });
    assert.deepEqual(parsePutVcpu(r('PUT', '0')), { kind: 'add-vcpu', id: 0, timeoutMs: DEFAULT_HOTPLUG_TIMEOUT_MS });
    assert.deepEqual(parsePutVcpu(r('PUT', '1023', { body: { timeout_ms: 0 } })), { kind: 'add-vcpu', id: 1023, timeoutMs: 0 });
    assert.deepEqual(parseGetVcpu(r('GET', '12')), { kind: 'describe-vcpu', id: 12 });
    assert.deepEqual(parseDeleteVcpu(r('DELETE', '3')), { kind: 'remove-vcpu', id: 3, force: false, timeoutMs: DEFAULT_HOTPLUG_TIMEOUT_MS });
    assert.deepEqual(parseDeleteVcpu(r('DELETE', '3', { query: 'force=true&timeout_ms=250' })), { kind: 'remove-vcpu', id: 3, force: true, timeoutMs: 250 });
    assert.deepEqual(parseDeleteVcpu(r('DELETE', '3', { query: 'force=false' })), { kind: 'remove-vcpu', id: 3, force: false, timeoutMs: DEFAULT_HOTPLUG_TIMEOUT_MS });
    for (const id of ['', '-1', '+1', '01', '1.0', '0x1', '1024', '9999999', ' 1', 'one']) bad(() => parseGetVcpu(r('GET', id)), /vCPU id must be a whole number from 0 to 1023/);
    bad(() => parseDeleteVcpu(r('DELETE', '1', { query: 'force=TRUE' })), /'force' must be true or false/);
    bad(() => parseDeleteVcpu(r('DELETE', '1', { query: 'timeout_ms=007' })), /'timeout_ms' must be an integer/);
    bad(() => parseDeleteVcpu(r('DELETE', '1', { query: 'timeout_ms=600001' })), /from 0 to 600000/);
    bad(() => parseDeleteVcpu(r('DELETE', '1', { query: 'timeout_ms=1&timeout_ms=2' })), /more than once/);
    bad(() => parsePutVcpu(r('PUT', '1', { query: 'timeout_ms=1' })), /unknown query parameter/);
    bad(() => parsePutVcpu(r('PUT', '1', { body: { timeout_ms: 1, force: true } })), /unknown field 'force'/);
  });

  it('schema helpers: a required query parameter, and an object schema with no fields', () => {
    const schema = { properties: { n: { type: 'integer', minimum: 0, maximum: 9, description: '' } }, required: ['n'] } as const;
    assert.deepEqual(parseQuery(new URLSearchParams('n=9'), schema, 'q'), { n: 9 });
    bad(() => parseQuery(new URLSearchParams(''), schema, 'q'), /missing field 'n'/);
    bad(() => parseObject({ a: 1 }, { properties: {}, required: [] }, 'b'), /unknown field 'a' \(it takes none\)/);
  });
});

describe('routes', () => {
  it('matches literal segments and {id}, decoding it; nothing else', () => {
    assert.equal(matchRoute('/vm')?.route.path, '/vm');
    assert.deepEqual(matchRoute('/vm/vcpus/5')?.params, { id: '5' });
    assert.deepEqual(matchRoute('/vm/vcpus/%35')?.params, { id: '5' });
    assert.deepEqual(matchRoute('/vm/vcpus/%E0%A4%A')?.params, { id: '%E0%A4%A' });
    for (const p of ['', '/', '/vm/', '/vm/vcpus', '/vm/vcpus/', '/vm/vcpus/1/', '/metrics/', '//vm']) assert.equal(matchRoute(p), null, p);
    assert.deepEqual(allowedMethods(ROUTES[0]), ['PUT', 'GET', 'PATCH', 'DELETE']);
  });
});

describe('errors → HTTP', () => {
  it('maps every library code, image errors, API errors, and anything else to 500', () => {
    const codes: Record<HvErrorCode, number> = { EINVAL: 400, ENODEV: 404, EEXIST: 409, EBUSY: 409, EBADF: 409, ETIMEDOUT: 504 };
    for (const [code, status] of Object.entries(codes)) assert.equal(httpErrorOf(new HvError(code as HvErrorCode, 'x')).status, status, code);
    assert.deepEqual(httpErrorOf(new ImageError('empty', 'image is empty')), { status: 400, message: 'unusable image: image is empty' });
    assert.deepEqual(httpErrorOf(new ApiError('payload-too-large', 'big\n body')), { status: 413, message: 'big body' });
    assert.equal(httpErrorOf(new ApiError('method-not-allowed', 'x')).status, 405);
    assert.deepEqual(httpErrorOf(new TypeError('oops')), { status: 500, message: 'internal error: oops' });
    assert.deepEqual(httpErrorOf('thrown string'), { status: 500, message: 'internal error: thrown string' });
  });
});

describe('metrics rendering', () => {
  it('always declares every family; escapes label values', () => {
    const text = renderMetrics({ state: 'not_configured', maxVcpus: 0, onlineVcpus: 0, threads: 0, hotplug: { add: 0, remove: 0, forced: 0 }, vcpus: [] });
    assert.match(text, /^# HELP hartvisor_vm_state /);
    assert.match(text, /\nhartvisor_vm_state\{state="not_configured"\} 1\n/);
    assert.match(text, /\n# TYPE hartvisor_vcpu_exits_total counter\n/);
    assert.match(text, /\n# TYPE hartvisor_vcpu_instructions_total counter\n/);
    assert.doesNotMatch(text, /vcpu="/);
    const stats = Object.fromEntries(['exits', 'exits_ecall', 'exits_wfi', 'exits_pause', 'exits_budget'].map((n) => [n, 1])) as never;
    const one = renderMetrics({
      state: 'running', maxVcpus: 2, onlineVcpus: 1, threads: 1, hotplug: { add: 1, remove: 0, forced: 0 },
      vcpus: [{ id: 1, hsm: 'started', run: 'run"ning\\' as never, stats }],
    });
    assert.match(one, /\nhartvisor_vcpu_state\{vcpu="1",state="run\\"ning\\\\"\} 1\n/);
    assert.match(one, /\nhartvisor_vcpu_exits_total\{vcpu="1",reason="wfi"\} 1\n/);
    assert.match(one, /\nhartvisor_vcpu_preempted_total\{vcpu="1"\} 0\n/);
  });
});

describe('the controller, called directly', () => {
  it('executes actions without HTTP; a refused boot changes nothing', async () => {
    const c = new ApiController({ onWarn: () => {} });
    assert.deepEqual(await c.execute({ kind: 'describe-vm' }), { kind: 'json', value: { state: 'not_configured' } });
    const boot = parsePutVm(req('PUT', '/vm', { body: { image: '/nonexistent/kernel.bin', executor: 'deterministic' } }));
    await assert.rejects(c.execute(boot), (e: unknown) => e instanceof ApiError && e.kind === 'bad-request' && /no such file/.test(e.message));
    await assert.rejects(c.execute({ kind: 'set-vm-state', state: 'paused' }), (e: unknown) => e instanceof ApiError && e.kind === 'conflict');
    assert.deepEqual(await c.execute({ kind: 'describe-vm' }), { kind: 'json', value: { state: 'not_configured' } });
    const m = await c.execute({ kind: 'metrics' });
    assert.equal(m.kind, 'text');
    await c.close();
    await assert.rejects(c.execute({ kind: 'describe-vm' }), /shutting down/);
  });
});
