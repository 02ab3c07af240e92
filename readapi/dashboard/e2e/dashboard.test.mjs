// End-to-end test of the dashboard in headless Chromium (Debian's, at
// /usr/bin/chromium, driven by playwright-core). It starts the whole system
// itself: builds cmd/fleetpulse, runs `fleetpulse dev` with simulated
// devices on a throwaway PostgreSQL database and free ports, then looks at
// the dashboard as a person would, with the read key `fleetpulse dev`
// prints. Screenshots go to e2e/artifacts/.
//
//   node --test e2e/dashboard.test.mjs     (from readapi/dashboard, after npm ci)
//
// Environment: FLEETPULSE_TEST_PG_URL (a server where a database may be
// created; default postgres://postgres@127.0.0.1:5432/postgres), CHROMIUM
// (default /usr/bin/chromium).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
const artifacts = join(here, 'artifacts');
const adminURL = process.env.FLEETPULSE_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable';
const dbName = 'fp_e2e_' + randomBytes(5).toString('hex');
const dbURL = withDatabase(adminURL, dbName);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const env = { ...process.env, PATH: `${process.env.PATH}:/usr/local/go/bin` };

let work;
let server; // the fleetpulse dev process
let serverExit = null;
let readURL;
let commandURL;
let readKey; // the read key `fleetpulse dev` printed
let browser;
let page;
const pageErrors = [];

function withDatabase(u, name) {
  const url = new URL(u);
  url.pathname = '/' + name;
  if (!url.searchParams.has('sslmode')) url.searchParams.set('sslmode', 'disable');
  return url.toString();
}

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// getJSON reads the read API with the dev read key, as the dashboard does.
async function getJSON(url, key = readKey) {
  const res = await fetch(url, { headers: { Authorization: `Bearer ${key}` } });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.json();
}

// postJSON writes through the command API, as an operator or a device would.
async function postJSON(path, token, body, method = 'POST') {
  const res = await fetch(commandURL + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const out = res.status === 204 ? {} : await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(out)}`);
  return out;
}

const adminToken = 'dev-admin-token'; // what `fleetpulse dev` uses

// waitFor polls fn until it returns a truthy value, failing early if the
// server died.
async function waitFor(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    if (serverExit !== null) throw new Error(`fleetpulse dev exited (${serverExit}) while waiting for ${what}:\n${logTail()}`);
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}\n${logTail()}`);
}

function logTail(lines = 25) {
  try {
    return readFileSync(join(artifacts, 'fleetpulse.log'), 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function dropDatabase() {
  try {
    execFileSync('psql', [adminURL, '-q', '-c', `DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`], { stdio: 'pipe', env });
  } catch (err) {
    console.error(`could not drop ${dbName}: ${err.stderr || err.message}`);
  }
}

async function stopServer() {
  if (!server || serverExit !== null) return;
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 20000);
  await exited;
  clearTimeout(timer);
}

// Last resort when the runner is torn down without after().
process.on('exit', () => {
  if (server && serverExit === null) server.kill('SIGKILL');
});

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  work = mkdtempSync(join(tmpdir(), 'fleetpulse-e2e-'));
  const bin = join(work, 'fleetpulse');
  execFileSync('go', ['build', '-o', bin, './cmd/fleetpulse'], { cwd: repo, env, stdio: 'inherit' });

  const [cmdPort, readPort, projPort] = [await freePort(), await freePort(), await freePort()];
  readURL = `http://127.0.0.1:${readPort}`;
  commandURL = `http://127.0.0.1:${cmdPort}`;
  const log = createWriteStream(join(artifacts, 'fleetpulse.log'));
  server = spawn(bin, ['dev', '--backfill', '72h', '--step', '10m', '--interval', '2s'], {
    cwd: work,
    env: {
      ...env,
      FLEETPULSE_PG_URL: dbURL,
      FLEETPULSE_COMMAND_ADDR: `127.0.0.1:${cmdPort}`,
      FLEETPULSE_READ_ADDR: `127.0.0.1:${readPort}`,
      FLEETPULSE_PROJECTOR_ADDR: `127.0.0.1:${projPort}`,
      FLEETPULSE_LOG_LEVEL: 'warn',
      // A device quiet for 10 s is reported silent: the alerts test waits
      // for one (the simulated devices post every 2 s).
      FLEETPULSE_OFFLINE_AFTER: '10s',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.pipe(log);
  server.stderr.pipe(log);
  server.on('exit', (code, signal) => {
    serverExit = code ?? signal;
  });

  await waitFor('the read API', async () => (await fetch(`${readURL}/readyz`)).ok, 60000);
  // `fleetpulse dev` prints a read key and a dashboard link that carries it.
  const banner = await waitFor('the read key in the dev banner', async () => logTail(200).match(/read key\s+(fpr_\S+)[\s\S]*?dashboard\s+(\S+)/), 60000);
  readKey = banner[1];
  assert.equal(banner[2], `${readURL}/#key=${readKey}`, 'the dashboard link carries the key');
  assert.equal((await fetch(`${readURL}/v1/stations`)).status, 401, 'the read API asks for a key');
  // The simulator backfills 72 h of 10-minute samples: wait until the
  // projector has them (432 per station and type).
  await waitFor(
    'the backfilled history in the read models',
    async () => {
      const raw = await getJSON(`${readURL}/v1/measurements?station=sim-station-05&type=humidity&days=3`);
      const ev = await getJSON(`${readURL}/v1/vehicles/sim-vehicle-03/events?limit=1`);
      return raw.points.length >= 420 && ev.events.length > 0;
    },
    90000,
  );

  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, deviceScaleFactor: 1 });
  page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') pageErrors.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => pageErrors.push(`page error: ${err.message}`));
  page.on('response', (res) => {
    if (res.status() >= 400) pageErrors.push(`HTTP ${res.status()}: ${res.request().method()} ${res.url()}`);
  });
});

after(async () => {
  try {
    if (browser) await browser.close();
  } finally {
    await stopServer();
    dropDatabase();
    if (work) rmSync(work, { recursive: true, force: true });
  }
});

// --- helpers over the page -------------------------------------------------------------

async function charts() {
  return page.$$eval('figure.chart', (els) =>
    els.map((e) => ({
      type: e.dataset.type,
      state: e.dataset.state,
      points: Number(e.dataset.points || 0),
      range: e.dataset.range,
      resolution: e.dataset.resolution,
    })),
  );
}

async function waitForCharts(range, resolution) {
  await page.waitForFunction(
    ([r, res]) => {
      const els = [...document.querySelectorAll('figure.chart')];
      return els.length > 0 && els.every((e) => e.dataset.range === String(r) && e.dataset.resolution === res && e.dataset.state === 'ready');
    },
    [range, resolution],
    { timeout: 20000 },
  );
  return charts();
}

// ink counts, per chart, the canvas pixels drawn in the series' own colour:
// proof that a line was drawn, not just axes.
async function ink() {
  return page.$$eval('figure.chart', (els) =>
    els.map((fig) => {
      const canvas = fig.querySelector('canvas');
      const [r, g, b] = getComputedStyle(fig.querySelector('.swatch')).backgroundColor.match(/\d+/g).map(Number);
      const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
      let n = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 200 && Math.abs(data[i] - r) < 40 && Math.abs(data[i + 1] - g) < 40 && Math.abs(data[i + 2] - b) < 40) n++;
      }
      return n;
    }),
  );
}

async function selectRange(days) {
  await page.click(`#range button[data-days="${days}"]`);
  assert.equal(await page.getAttribute(`#range button[data-days="${days}"]`, 'aria-pressed'), 'true');
}

// shownAtTop says (in the page) whether a section was scrolled to: its top
// just under the top bar, or the page scrolled as far as it goes.
function shownAtTop(id) {
  const top = document.getElementById(id).getBoundingClientRect().top;
  const atBottom = window.scrollY > 0 && window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2;
  return (top >= 0 && top < 160) || (atBottom && top < window.innerHeight / 2);
}

const shot = (name, opts = {}) => page.screenshot({ path: join(artifacts, name), fullPage: true, ...opts });

// --- the tests ---------------------------------------------------------------------------

test('the dashboard asks for a read key, refuses a wrong one and keeps the right one for the tab', async () => {
  await page.goto(`${readURL}/?refresh=2`);
  await page.waitForSelector('[data-testid="key-dialog"]', { timeout: 20000 });
  assert.equal(await page.getAttribute('body', 'data-ready'), null, 'nothing loads without a key');
  await page.fill('[data-testid="key-input"]', readKey.slice(0, -4) + 'AAAA');
  await page.click('[data-testid="key-submit"]');
  await page.waitForFunction(() => /refused this key/.test(document.querySelector('[data-testid="key-message"]').textContent));
  await shot('00-read-key-refused.png', { fullPage: false });
  await page.fill('[data-testid="key-input"]', readKey);
  await page.click('[data-testid="key-submit"]');
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
  assert.equal(await page.$('[data-testid="key-dialog"]'), null, 'the prompt is gone');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('fleetpulse.readKey')), readKey, 'kept in sessionStorage');
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'never in localStorage');
  // The prompt's own checks (no key, then a wrong one) were refused, as they should be.
  const refused = pageErrors.splice(0);
  for (const e of refused) assert.match(e, /401|Failed to load resource/, `only the refused checks failed: ${e}`);
});

test('the dashboard loads with stations, latest values and one chart per measurement type', async () => {
  await page.goto(`${readURL}/?refresh=2`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
  assert.equal(await page.title(), 'fleetpulse · dashboard');
  const stations = await page.$$eval('#station-list button.device', (bs) => bs.map((b) => b.dataset.id));
  assert.deepEqual(stations, ['sim-station-01', 'sim-station-02', 'sim-station-03', 'sim-station-04', 'sim-station-05']);
  assert.equal(await page.$$eval('#station-map g.map-station', (gs) => gs.length), 5, 'every station is on the map');
  assert.equal(await page.textContent('#station-name'), 'Simulated station 1');
  const tiles = await page.$$eval('#station-latest .tile', (ts) => ts.map((t) => t.dataset.name));
  assert.deepEqual(tiles.sort(), ['humidity', 'no2', 'pm10', 'pm25', 'temperature']);

  const day = await waitForCharts(1, 'raw');
  assert.equal(day.length, 5);
  for (const c of day) assert.ok(c.points >= 140, `${c.type}: ${c.points} points in a day of 10-minute samples`);
  for (const [i, n] of (await ink()).entries()) assert.ok(n > 200, `chart ${day[i].type} draws its series (${n} pixels)`);
  assert.match(await page.textContent('#live-text'), /Live/);
  await shot('01-dashboard-1-day.png');
});

test('switching ranges 1/3/5/365 days changes the data', async () => {
  const one = await charts();
  const requested = [];
  const onRequest = (req) => {
    const m = req.url().match(/\/v1\/measurements\?.*days=(\d+)/);
    if (m) requested.push(Number(m[1]));
  };
  page.on('request', onRequest);

  await selectRange(3);
  const three = await waitForCharts(3, 'raw');
  for (const c of three) {
    const before = one.find((x) => x.type === c.type);
    assert.ok(c.points > before.points * 2.5, `${c.type}: 3 days ${c.points} points vs 1 day ${before.points}`);
  }
  await shot('02-dashboard-3-days.png');

  await selectRange(5);
  const five = await waitForCharts(5, 'raw');
  for (const c of five) {
    const before = three.find((x) => x.type === c.type);
    assert.ok(c.points >= before.points - 5, `${c.type}: 5 days ${c.points} points vs 3 days ${before.points}`);
    assert.ok(c.points >= 420, `${c.type}: the whole 72 h history (${c.points} points)`);
  }
  for (const [i, n] of (await ink()).entries()) assert.ok(n > 200, `5-day chart ${five[i].type} draws its series (${n} pixels)`);
  await shot('03-dashboard-5-days.png');

  await selectRange(365);
  const year = await waitForCharts(365, 'daily');
  for (const c of year) {
    // 72 h of history touch 4 local days (3 when it starts at midnight).
    assert.ok(c.points >= 3 && c.points <= 5, `${c.type}: ${c.points} daily rows`);
  }
  assert.equal(await page.$$eval('figure.chart .u-legend .u-series', (s) => s.length), 5 * 4, 'x, min, avg and max in every legend');
  for (const [i, n] of (await ink()).entries()) assert.ok(n > 30, `365-day chart ${year[i].type} draws its average (${n} pixels)`);
  assert.match(await page.textContent('#range-hint'), /Daily minimum, average and maximum/);
  await shot('04-dashboard-365-days.png');

  page.off('request', onRequest);
  for (const d of [3, 5, 365]) assert.ok(requested.includes(d), `the dashboard asked the API for days=${d} (asked ${[...new Set(requested)]})`);
  assert.match(page.url(), /range=365/, 'the range is kept in the URL');
});

test('choosing another station on the map shows its data', async () => {
  await selectRange(1);
  await waitForCharts(1, 'raw');
  await page.click('#station-map g.map-station[data-station="sim-station-03"]');
  await page.waitForFunction(() => document.getElementById('station-name').textContent === 'Simulated station 3');
  const c = await waitForCharts(1, 'raw');
  assert.equal(c.length, 5);
  assert.ok(c.every((x) => x.points >= 140));
  assert.match(await page.textContent('#station-meta'), /Asia\/Tokyo/);
  assert.equal(await page.getAttribute('#station-list button[data-id="sim-station-03"]', 'aria-current'), 'true');
});

test('live refresh brings in new measurements without a reload', async () => {
  const before = await charts();
  const refreshesBefore = Number((await page.getAttribute('body', 'data-refreshes')) || 0);
  const incremental = [];
  const onRequest = (req) => {
    if (/\/v1\/stations\/[^/]+\/measurements\?.*from=/.test(req.url())) incremental.push(req.url());
  };
  page.on('request', onRequest);
  // The simulator posts every 2 s, the page refreshes every 2 s (?refresh=2).
  // Wait for both: the points may also grow from a load the previous test's
  // station change started, before any refresh has run.
  await page.waitForFunction(
    ([type, n, r]) => Number(document.querySelector(`figure.chart[data-type="${type}"]`).dataset.points) > n &&
      Number(document.body.dataset.refreshes || 0) > r,
    ['pm25', before.find((x) => x.type === 'pm25').points, refreshesBefore],
    { timeout: 20000 },
  ).catch(() => {}); // the assertions below say which of the two did not happen
  page.off('request', onRequest);
  const refreshes = Number(await page.getAttribute('body', 'data-refreshes'));
  assert.ok(refreshes > refreshesBefore, `refreshed ${refreshes - refreshesBefore} times`);
  const grown = Number(await page.getAttribute('figure.chart[data-type="pm25"]', 'data-points'));
  const had = before.find((x) => x.type === 'pm25').points;
  const push = await page.evaluate(() => `push ${document.body.dataset.push}, ${document.body.dataset.pushed} changes pushed`);
  assert.ok(grown > had, `the pm25 chart holds ${grown} points, it held ${had} (${push})`);
  assert.ok(incremental.length > 0, 'a refresh asks only for the points since the last one held');

  // Paused, what the chart holds is what a fresh query answers (give or
  // take the few points posted since).
  await page.click('#live-toggle');
  assert.equal(await page.getAttribute('#live', 'data-state'), 'paused');
  await sleep(300); // let a refresh in flight land
  const held = Number(await page.getAttribute('figure.chart[data-type="pm25"]', 'data-points'));
  const fresh = await getJSON(`${readURL}/v1/measurements?station=sim-station-03&type=pm25&days=1`);
  assert.ok(Math.abs(fresh.points.length - held) <= 5, `chart holds ${held} points, a fresh query answers ${fresh.points.length}`);
  await page.click('#live-toggle');
  assert.equal(await page.getAttribute('#live', 'data-state'), 'live');
});

test('live push brings in new measurements with polling all but off', async () => {
  // Refresh every 10 minutes: anything new within the test came by push.
  await page.goto(`${readURL}/?refresh=600#station=sim-station-01&range=1`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  await page.waitForFunction(() => document.body.dataset.push === 'open', null, { timeout: 10000 });
  await waitForCharts(1, 'raw');
  const had = Number(await page.getAttribute('figure.chart[data-type="pm25"]', 'data-points'));
  // The simulator posts every 2 s; each commit is pushed and refreshes the chart.
  await page.waitForFunction(
    (n) => Number(document.body.dataset.pushed || 0) > 0 &&
      Number(document.querySelector('figure.chart[data-type="pm25"]').dataset.points) > n,
    had,
    { timeout: 20000 },
  );
  assert.equal(Number((await page.getAttribute('body', 'data-refreshes')) || 0), 0, 'no periodic refresh ran');
  assert.equal(await page.textContent('#push-state'), 'push');
});

test('vehicles show their latest readings and an event timeline', async () => {
  const section = await page.$('#vehicles-section');
  await section.scrollIntoViewIfNeeded();
  await page.waitForSelector('#timeline[data-state="ready"] li.event', { timeout: 20000 });
  assert.equal(await page.textContent('#vehicle-name'), 'Simulated van 1');
  const tiles = await page.$$eval('#vehicle-latest .tile', (ts) => ts.map((t) => t.dataset.name));
  assert.deepEqual(tiles.sort(), ['battery_pct', 'cabin_temp_c', 'speed_kmh']);
  const events = await page.$$eval('#timeline li.event', (ls) => ls.map((l) => ({ type: l.dataset.type, time: l.querySelector('time').getAttribute('datetime') })));
  assert.ok(events.length >= 40, `${events.length} events on the first page`);
  const times = events.map((e) => Date.parse(e.time));
  assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');
  assert.ok(events.some((e) => e.type === 'telemetry'));
  assert.ok(await page.$('#vehicle-map path.map-track'), 'the route is drawn');
  await section.screenshot({ path: join(artifacts, '05-vehicle-timeline.png') });

  // Older events page in below.
  await page.click('#more-events');
  await page.waitForFunction((n) => document.querySelectorAll('#timeline li.event').length > n, events.length);

  // Another vehicle, then only its door openings.
  await page.click('#vehicle-list button[data-id="sim-vehicle-02"]');
  await page.waitForFunction(() => document.getElementById('vehicle-name').textContent === 'Simulated van 2');
  await page.waitForSelector('#timeline[data-state="ready"] li.event');
  const doors = await getJSON(`${readURL}/v1/vehicles/sim-vehicle-02/events?type=door_opened&limit=1`);
  if (doors.events.length) {
    await page.selectOption('#event-type', 'door_opened');
    await page.waitForFunction(() => {
      const ls = [...document.querySelectorAll('#timeline li.event')];
      return ls.length > 0 && ls.every((l) => l.dataset.type === 'door_opened');
    });
    assert.match(await page.textContent('#timeline li.event'), /door/);
    await section.screenshot({ path: join(artifacts, '06-vehicle-door-events.png') });
  }
});

test('the dashboard fits a phone-sized screen', async () => {
  await page.setViewportSize({ width: 400, height: 860 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForFunction(() => [...document.querySelectorAll('figure.chart canvas')].every((c) => c.getBoundingClientRect().width <= 400));
  await sleep(200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than the screen`);
  await shot('08-narrow-screen.png', { fullPage: false });
  await page.setViewportSize({ width: 1440, height: 1000 });
});

test('the API docs pages render both OpenAPI documents', async () => {
  for (const [name, base, min] of [
    ['read', readURL, 15],
    ['command', commandURL, 12],
  ]) {
    await page.goto(`${base}/docs`);
    await page.waitForSelector('main[data-operations]', { timeout: 10000 });
    const ops = Number(await page.getAttribute('main', 'data-operations'));
    assert.ok(ops >= min, `${name} API docs show ${ops} operations`);
    assert.match(await page.textContent('#title'), new RegExp(`fleetpulse ${name} API`));
    assert.doesNotMatch(await page.textContent('main'), /\[object |undefined/, 'everything renders as text');
    await page.click('details.op summary');
    await shot(`07-docs-${name}-api.png`, { fullPage: false });
  }
});

test('the selection stays in the URL across the nav links and a reload', async () => {
  await page.goto(`${readURL}/?refresh=2`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
  await page.click('#station-list button[data-id="sim-station-04"]');
  await page.waitForFunction(() => document.getElementById('station-name').textContent === 'Simulated station 4');
  await selectRange(5);
  await waitForCharts(5, 'raw');
  await page.click('#vehicle-list button[data-id="sim-vehicle-03"]');
  await page.waitForFunction(() => document.getElementById('vehicle-name').textContent === 'Simulated van 3');

  const kept = async (where) => {
    const hash = new URLSearchParams(new URL(page.url()).hash.slice(1));
    assert.equal(hash.get('station'), 'sim-station-04', `${where}: station in the URL`);
    assert.equal(hash.get('range'), '5', `${where}: range in the URL`);
    assert.equal(hash.get('vehicle'), 'sim-vehicle-03', `${where}: vehicle in the URL`);
    assert.equal(await page.textContent('#station-name'), 'Simulated station 4', `${where}: station shown`);
    assert.equal(await page.getAttribute('#range button[data-days="5"]', 'aria-pressed'), 'true', `${where}: range shown`);
    assert.equal(await page.textContent('#vehicle-name'), 'Simulated van 3', `${where}: vehicle shown`);
    assert.match(new URL(page.url()).search, /refresh=2/, `${where}: the query string stays`);
  };
  for (const view of ['vehicles', 'alerts', 'stations', 'vehicles']) {
    const href = await page.getAttribute(`.nav a[data-view="${view}"]`, 'href');
    assert.match(href, /station=sim-station-04/, `the ${view} link carries the selection (${href})`);
    await page.click(`.nav a[data-view="${view}"]`);
    await page.waitForFunction((v) => new URLSearchParams(location.hash.slice(1)).get('view') === v, view);
    assert.equal(await page.getAttribute(`.nav a[data-view="${view}"]`, 'aria-current'), 'page');
    await kept(`after the ${view} link`);
  }
  await page.waitForFunction(shownAtTop, 'vehicles-section');

  await page.reload();
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
  await kept('after a reload');
  const five = await waitForCharts(5, 'raw');
  assert.ok(five.every((c) => c.points >= 420), 'the 5-day charts load again');
  await page.waitForFunction(shownAtTop, 'vehicles-section', { timeout: 5000 });
  await shot('09-selection-kept.png', { fullPage: false });
});

test('active alerts are listed and a silent device is marked', async () => {
  await page.goto(`${readURL}/?refresh=2#view=alerts`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
  assert.equal(await page.getAttribute('#alert-list', 'data-state'), 'ready');

  // An operator sets a threshold every PM2.5 value of station 2 is above,
  // and registers a station that sends once and then falls silent.
  await postJSON('/v1/stations/sim-station-02/alert-rules', adminToken, { rule: 'e2e-pm25', type: 'pm25', above: 0 });
  const quiet = await postJSON('/v1/stations', adminToken, { id: 'e2e-quiet', name: 'Quiet station', location: { lat: 52.3, lon: 21.1 }, timezone: 'UTC' });
  await postJSON('/v1/stations/e2e-quiet/measurements', quiet.token, {
    measurements: [{ type: 'pm25', value: 3, measured_at: new Date().toISOString() }],
  });

  const alert = '#alert-list li.alert[data-device="sim-station-02"][data-rule="e2e-pm25"]';
  await page.waitForSelector(alert, { timeout: 30000 });
  assert.match(await page.textContent(alert), /Simulated station 2.*PM2\.5 above 0 µg\/m³ \(e2e-pm25\).*raised/s);
  const fromAPI = await getJSON(`${readURL}/v1/alerts?active=true`);
  assert.equal(Number(await page.getAttribute('#alert-list', 'data-alerts')), fromAPI.alerts.length, 'every active alert is listed');
  assert.equal(await page.textContent('#alert-badge'), String(fromAPI.alerts.length), 'the nav counts them');

  const silentItem = '#station-list button[data-id="e2e-quiet"][data-status="silent"]';
  await page.waitForSelector(silentItem, { timeout: 45000 });
  assert.equal(await page.textContent(`${silentItem} .badge-silent`), 'silent');
  const status = await getJSON(`${readURL}/v1/devices/e2e-quiet/status`);
  assert.equal(status.online, false, 'the read API reports it silent too');
  assert.equal(await page.getAttribute('#station-list button[data-id="sim-station-01"]', 'data-status'), 'online', 'a station that sends is online');
  await page.click('#station-list button[data-id="e2e-quiet"]');
  await page.waitForFunction(() => /silent: last data \d+ s ago/.test(document.getElementById('station-meta').textContent));
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot('10-alerts-and-silent-device.png', { fullPage: false });

  // An alert leads to its station, and the URL says so.
  await page.click(`${alert} button`);
  await page.waitForFunction(() => document.getElementById('station-name').textContent === 'Simulated station 2');
  assert.match(page.url(), /view=stations/);
  assert.match(page.url(), /station=sim-station-02/);
});

test('when the read API stops answering, what is shown is marked stale with its age', async () => {
  await page.goto(`${readURL}/?refresh=2#station=sim-station-01&range=1`);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
  await page.waitForSelector('#live[data-state="live"]', { timeout: 20000 });
  await waitForCharts(1, 'raw');
  assert.equal(await page.getAttribute('body', 'data-stale'), 'false');

  const mark = pageErrors.length;
  await page.route('**/v1/**', (route) => route.abort('connectionrefused'));
  try {
    await checkWhileTheReadAPIIsAway();
  } finally {
    await page.unroute('**/v1/**');
    // The outage's failed requests are the only errors it may leave.
    for (const e of pageErrors.splice(mark)) assert.match(e, /Failed to load resource: net::ERR_CONNECTION_REFUSED/, `an error from the outage: ${e}`);
  }
  await page.waitForSelector('#live[data-state="live"]', { timeout: 15000 });
  assert.equal(await page.getAttribute('body', 'data-stale'), 'false');
  assert.equal(await page.isVisible('#banner'), false, 'the error is gone once the API answers');
});

// checkWhileTheReadAPIIsAway: the page keeps what it has, says it is stale and
// how old, and the ages go on counting.
async function checkWhileTheReadAPIIsAway() {
  await page.waitForSelector('#live[data-state="stale"]', { timeout: 15000 });
  // The age keeps counting: "6 s ago" does not stay on screen.
  await page.waitForFunction(
    () => {
      const m = document.getElementById('live-text').textContent.match(/last update (\d+) s ago/);
      return m && Number(m[1]) >= 8;
    },
    null,
    { timeout: 20000 },
  );
  assert.match(await page.textContent('#live-text'), /^Stale · last update \d+ s ago · retrying$/);
  assert.equal(await page.getAttribute('body', 'data-stale'), 'true');
  assert.equal(await page.isVisible('#banner'), true, 'the error is shown');
  assert.match(await page.textContent('#banner'), /No answer: the read API cannot be reached\. What is shown is from \d\d:\d\d:\d\d\./);
  const ages = await page.$$eval('#station-latest .tile-time', (ts) =>
    ts.map((t) => ({ text: t.textContent, after: getComputedStyle(t, '::after').content })),
  );
  assert.ok(ages.length >= 5, 'the last values stay on screen');
  for (const a of ages) {
    const m = a.text.match(/^(\d+) (s|min) ago$/);
    assert.ok(m && (m[2] === 'min' || Number(m[1]) >= 8), `a value's age grows while nothing is confirmed ("${a.text}")`);
    assert.match(a.after, /stale/, 'each value is marked stale');
  }
  assert.equal((await charts()).length, 5, 'the charts stay, marked stale');
  await shot('11-stale.png', { fullPage: false });
}

test('the dev link hands over the key; a revoked key sends the tab back to the prompt', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const tab = await context.newPage();
    await tab.goto(`${readURL}/?refresh=2#key=${readKey}`);
    await tab.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
    assert.equal(await tab.$('[data-testid="key-dialog"]'), null, 'no prompt with the dev link');
    assert.doesNotMatch(tab.url(), /key=/, 'the key is taken out of the address bar');

    // A key of its own for a second tab, then revoked by the operator.
    const made = await postJSON('/v1/read-keys', adminToken, { name: 'e2e revoked' });
    const other = await context.newPage();
    await waitFor('the new key to be projected', async () => (await fetch(`${readURL}/v1/stations`, { headers: { Authorization: `Bearer ${made.key}` } })).ok, 10000);
    await other.goto(`${readURL}/?refresh=2#key=${made.key}`);
    await other.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
    await postJSON(`/v1/read-keys/${made.id}`, adminToken, undefined, 'DELETE');
    const revokedAt = Date.now();
    await other.waitForSelector('[data-testid="key-dialog"]', { timeout: 15000 });
    console.log(`revoked key refused by the dashboard after ${Date.now() - revokedAt} ms (refresh every 2 s)`);
    assert.match(await other.textContent('[data-testid="key-message"]'), /no longer accepts/);
    await other.screenshot({ path: join(artifacts, '12-read-key-revoked.png') });
    // The first tab's key still works.
    assert.ok((await fetch(`${readURL}/v1/stations`, { headers: { Authorization: `Bearer ${readKey}` } })).ok);
  } finally {
    await context.close();
  }
});

test('no errors in the browser console', () => {
  assert.deepEqual(pageErrors, []);
});
