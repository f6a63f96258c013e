/**
 * `hartvisor report`: the HTML page of a traced run (and of the yield experiment's JSON) is opened in headless
 * Chromium, which must draw every plot without a console error or any request leaving the page; a screenshot goes
 * to test-output/report.png. Skipped when /usr/bin/chromium is absent (Debian: apt-get install chromium).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ExitCode } from '../src/cli/exit-codes.js';
import { parseYieldBench } from '../src/report/bench-json.js';
import { binCounter } from '../src/report/report-html.js';
import { niceTicks } from '../src/report/svg.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cli = resolve(repoRoot, 'dist/src/cli/main.js');
const demoImage = resolve(repoRoot, 'guests/images/demo.bin');
const CHROMIUM = '/usr/bin/chromium';
const noChromium = !existsSync(CHROMIUM) && `${CHROMIUM} not found: the report is not opened in a browser (apt-get install chromium)`;
const outputDir = resolve(repoRoot, 'test-output');
const tmp = mkdtempSync(join(tmpdir(), 'hartvisor-report-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function hv(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, HARTVISOR_DEBUG: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A yield experiment document in the harness's format (schema hartvisor-bench/1), one value missing. */
function benchDocument(): string {
  const rows = [];
  for (const e of ['det', 'thr']) {
    for (const w of ['ticket', 'hashtable']) {
      for (const x of [1, 2, 4]) {
        const base = w === 'ticket' ? 40_000 : 300_000;
        const v = (n: number | null) => ({ value: n, unit: 'ops/s' });
        rows.push({
          name: `${w}-${e}-${x}x`, ok: true, errors: [],
          metrics: { vcpus: { value: 2 * x, unit: 'count' }, off: v(base / (x * x)), on: v((base / x) * 0.9), pv: v(e === 'thr' && x === 4 ? null : base * 0.8), onOff: { value: 1, unit: 'x' } },
        });
      }
    }
  }
  return JSON.stringify({ schema: 'hartvisor-bench/1', ok: true, date: '2026-01-01T00:00:00.000Z', host: { node: 'v20', cpu: 'test', cores: 2 }, groups: [{ name: 'yield', title: 'Directed yield', ok: true, notes: [], rows }] });
}

/** A traced run of the demo guest: 4 vCPUs on 2 CPU slots, 3 at boot, one added and one removed. */
function makeTrace(): string {
  const trace = join(tmp, 'demo.json');
  const r = hv('run', demoImage, '--max-vcpus', '4', '--pcpus', '2', '--executor', 'deterministic', '--append', 'demo.ops=100000 demo.harts=3 demo.work=100',
    '--hotplug', '50ms:+3,150ms:-1', '--trace', trace, '--stats');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /demo: result OK/);
  return trace;
}

test('helpers: axis ticks reach the maximum; counters are integrated into bins', () => {
  assert.deepEqual(niceTicks(245, 3), [0, 100, 200, 300]);
  assert.deepEqual(niceTicks(200, 4), [0, 50, 100, 150, 200]);
  assert.deepEqual(niceTicks(0), [0]);
  // 2 per ms for 0-1000 us, then 4 per ms for 1000-1500 us; bins of 500 us.
  assert.deepEqual(binCounter([{ t: 0, v: 2 }, { t: 1000, v: 4 }, { t: 1500, v: 0 }], 500, 4), [1, 1, 2, 0]);
  const y = parseYieldBench(benchDocument());
  assert.equal(y.points.length, 12);
  assert.deepEqual(y.points[0], { workload: 'ticket', executor: 'deterministic', overcommit: 1, vcpus: 2, throughput: { off: 40000, on: 36000, pv: 32000 }, ok: true });
});

test('report: bad input gives one error line and its exit status', () => {
  const notTrace = join(tmp, 'not-trace.json');
  writeFileSync(notTrace, '{"traceEvents": []}');
  const notJson = join(tmp, 'not-json.json');
  writeFileSync(notJson, 'hello');
  const one = (r: ReturnType<typeof hv>, status: number, pattern: RegExp) => {
    assert.equal(r.status, status, r.stderr);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.match(r.stderr, pattern);
  };
  one(hv('report'), ExitCode.USAGE, /^hartvisor: error: missing TRACE/);
  one(hv('report', join(tmp, 'nope.json')), ExitCode.BAD_INPUT, /nope\.json: no such file/);
  one(hv('report', notJson), ExitCode.BAD_INPUT, /not-json\.json: not valid JSON/);
  one(hv('report', notTrace), ExitCode.BAD_INPUT, /not a hartvisor trace/);
  const good = join(tmp, 'empty-trace.json');
  writeFileSync(good, JSON.stringify({ displayTimeUnit: 'ms', otherData: { schema: 'hartvisor-trace/1' }, traceEvents: [] }));
  one(hv('report', good, '--yield', notTrace), ExitCode.BAD_INPUT, /not-trace\.json: not a hartvisor benchmark document/);
  one(hv('report', good, '-o', tmp), ExitCode.BAD_INPUT, /is a directory/);
  one(hv('report', good, '-o', good), ExitCode.USAGE, /would overwrite the trace/);
  one(hv('report', good, '--frob'), ExitCode.USAGE, /unknown option '--frob'/);
});

test('report: the page draws every plot in headless Chromium, with no error and nothing loaded from elsewhere', { skip: noChromium }, async () => {
  const trace = makeTrace();
  const bench = join(tmp, 'yield.json');
  writeFileSync(bench, benchDocument());
  const html = join(tmp, 'report.html');
  const r = hv('report', trace, '--yield', bench, '-o', html);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `report written to ${html}\n`);
  const page = readFileSync(html, 'utf8');
  assert.doesNotMatch(page, /<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'no script, no external URL');
  const vcpuCount = new Set(JSON.parse(readFileSync(trace, 'utf8')).traceEvents.filter((e: { ph: string; pid: number }) => e.ph === 'X' && e.pid === 2).map((e: { tid: number }) => e.tid)).size;
  assert.equal(vcpuCount, 4);

  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const tab = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const problems: string[] = [];
    const requests: string[] = [];
    tab.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
    tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    const url = pathToFileURL(html).href;
    await tab.route('**/*', (route) => {
      if (route.request().url() === url) return route.continue();
      requests.push(route.request().url());
      return route.abort();
    });
    await tab.goto(url, { waitUntil: 'load' });
    // These functions run in the page (the DOM's types are not in this project's TypeScript library set).
    const counts = await tab.evaluate(() => {
      const document = (globalThis as any).document;
      const all = (sel: string, root = document): any[] => [...root.querySelectorAll(sel)];
      const n = (sel: string) => all(sel).length;
      const rows = all('#timeline .vcpu-row').map((g) => all('rect', g).length);
      const panels = all('#rates .panel').map((g) => all('rect.bar', g).length);
      const sizes = all('svg.plot').map((s) => { const b = s.getBoundingClientRect(); return [s.id as string, Math.round(b.width), Math.round(b.height)]; });
      return {
        rows, panels, sizes,
        slotRows: n('#timeline .slot-row'), hotplug: n('#timeline line.hotplug'), legend: n('#timeline .legend-state'),
        yieldPanels: n('#yield .panel'), yieldBars: n('#yield rect.bar'), na: n('#yield text.na'), statsRows: n('table.stats tbody tr'),
      };
    });
    assert.deepEqual(counts.rows.length, 4, 'one row per vCPU');
    for (const [i, c] of counts.rows.entries()) assert.ok(c > 10, `vCPU row ${i} has ${c} state rectangles`);
    assert.equal(counts.slotRows, 2);
    assert.equal(counts.hotplug, 2);
    assert.equal(counts.legend, 5);
    assert.equal(counts.panels.length, 3, 'exits, PLE exits, directed yields');
    for (const c of counts.panels) assert.ok(c > 5, `a rates panel has ${c} bars`);
    assert.equal(counts.yieldPanels, 4);
    assert.equal(counts.yieldBars, 12 * 3 - 2);
    assert.equal(counts.na, 2);
    assert.equal(counts.statsRows, 4);
    assert.deepEqual(counts.sizes.map((s) => s[0]), ['timeline', 'rates', 'yield']);
    for (const [id, w, h] of counts.sizes) assert.ok((w as number) > 500 && (h as number) > 100, `${id} is ${w}x${h}`);

    // Each plot paints: rasterise every SVG into a canvas and count the pixels that are not background.
    const painted = await tab.evaluate(async () => {
      const w = globalThis as any;
      const out: Record<string, number> = {};
      for (const svg of w.document.querySelectorAll('svg.plot')) {
        const b = svg.getBoundingClientRect();
        const img = new w.Image();
        const blob = new Blob([new w.XMLSerializer().serializeToString(svg)], { type: 'image/svg+xml' });
        const src = URL.createObjectURL(blob);
        await new Promise((ok, bad) => { img.onload = ok; img.onerror = bad; img.src = src; });
        const canvas = w.document.createElement('canvas');
        canvas.width = Math.ceil(b.width); canvas.height = Math.ceil(b.height);
        const ctx = canvas.getContext('2d');
        ctx.fillStyle = '#fff';
        ctx.fillRect(0, 0, canvas.width, canvas.height);
        ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
        URL.revokeObjectURL(src);
        const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        let n = 0;
        for (let i = 0; i < px.length; i += 4) if (px[i] < 235 || px[i + 1] < 235 || px[i + 2] < 235) n++;
        out[svg.id] = n / (canvas.width * canvas.height);
      }
      return out;
    });
    assert.ok(painted.timeline > 0.15, `timeline painted ${painted.timeline}`);
    assert.ok(painted.rates > 0.1, `rates painted ${painted.rates}`);
    assert.ok(painted.yield > 0.05, `yield painted ${painted.yield}`);
    assert.deepEqual(problems, []);
    assert.deepEqual(requests, []);
    mkdirSync(outputDir, { recursive: true });
    const shot = join(outputDir, 'report.png');
    await tab.screenshot({ path: shot, fullPage: true });
    assert.ok(readFileSync(shot).length > 20_000);
  } finally {
    await browser.close();
  }
});
