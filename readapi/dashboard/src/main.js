// The fleetpulse dashboard: active alerts, stations with their measurements
// over 1, 3, 5 or 365 days, vehicles with their latest readings and event
// timeline, and which devices went silent, all read from the read API and
// refreshed every few seconds. The selection lives in the URL fragment
// (#view=…&station=…&range=…&vehicle=…), which the nav links carry along, so
// a view survives navigation and reload and can be shared. Data the read API
// has not confirmed lately is marked stale, with its age.
import './style.css';
import { api, liveStream } from './api.js';
import { ensureKey } from './key.js';
import { MeasurementChart, colorFor } from './charts.js';
import { renderMap } from './map.js';
import { ago, clock, dateTime, h, localZone, quantity, withUnit } from './util.js';

const RANGES = [1, 3, 5, 365];
const params = new URLSearchParams(location.search);
const REFRESH_MS = Math.max(1, Number(params.get('refresh')) || 5) * 1000;
const EVENTS_PAGE = 50;
const FULL_RELOAD_MS = 60 * 1000;
const VIEWS = ['alerts', 'stations', 'vehicles'];
// Data not confirmed by the read API for this long is stale, even while a
// refresh is still waiting for its answer.
const STALE_AFTER_MS = Math.max(3 * REFRESH_MS, 15000);
// Device status is asked per device: at most this many of each kind.
const STATUS_LIMIT = 200;

const state = {
  stations: [],
  vehicles: [],
  station: null,
  vehicle: null,
  range: 1,
  eventType: '',
  events: [],
  eventsNext: null,
  eventTypes: new Set(),
  view: 'stations',
  alerts: [],
  statuses: new Map(), // device id -> GET /v1/devices/{id}/status
  live: true,
  refreshes: 0,
  lastSuccess: 0, // when the read API last answered a whole refresh (ms)
  error: null, // why the last refresh failed, until one succeeds
};
const charts = new Map(); // measurement type -> MeasurementChart
let stationGen = 0; // bumped when the station or range changes: late answers are dropped
let vehicleGen = 0;
let busy = false;

const $ = (id) => document.getElementById(id);

// --- URL fragment ---------------------------------------------------------------

function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  state.view = VIEWS.includes(p.get('view')) ? p.get('view') : 'stations';
  state.station = p.get('station') || null;
  state.vehicle = p.get('vehicle') || null;
  const r = Number(p.get('range'));
  state.range = RANGES.includes(r) ? r : 1;
  state.eventType = p.get('etype') || '';
}

// selectionHash is the fragment of the current selection shown in view.
function selectionHash(view) {
  const p = new URLSearchParams();
  p.set('view', view);
  if (state.station) p.set('station', state.station);
  p.set('range', String(state.range));
  if (state.vehicle) p.set('vehicle', state.vehicle);
  if (state.eventType) p.set('etype', state.eventType);
  return '#' + p;
}

// selectionKey changes when what is shown changes (not the view).
const selectionKey = () => [state.station, state.range, state.vehicle, state.eventType].join('|');

function writeHash() {
  history.replaceState(null, '', selectionHash(state.view));
  renderNav();
}

// renderNav points every view link at the current selection, so following
// one keeps the station, range and vehicle.
function renderNav() {
  for (const a of document.querySelectorAll('a[data-view]')) {
    a.setAttribute('href', selectionHash(a.dataset.view));
    if (a.closest('.nav')) a.setAttribute('aria-current', a.dataset.view === state.view ? 'page' : 'false');
  }
}

function scrollToView(behavior = 'smooth') {
  document.getElementById(`${state.view}-section`).scrollIntoView({ block: 'start', behavior });
}

// --- status -------------------------------------------------------------------------

function showError(err) {
  const banner = $('banner');
  if (!err) {
    banner.hidden = true;
    return;
  }
  const what = err.status === 0 ? `No answer: ${err.message}` : `The read API answered with an error: ${err.message}${err.code ? ` (${err.code})` : ''}`;
  const since = state.lastSuccess ? ` What is shown is from ${clock(new Date(state.lastSuccess))}.` : '';
  banner.textContent = `${what}.${since} Retrying every ${REFRESH_MS / 1000} s.`;
  banner.hidden = false;
}

// setLive records the outcome of a refresh: a success makes the data fresh,
// a failure keeps it on screen marked stale until the next success.
function setLive(ok, err) {
  if (ok) {
    state.lastSuccess = Date.now();
    state.error = null;
  } else {
    state.error = err;
  }
  showError(state.error);
  renderFreshness();
}

// renderFreshness says how fresh what is shown is: live, paused, or stale
// (the last refresh failed, or none has answered for STALE_AFTER_MS), with
// the time since the read API last answered; and it ages every "… ago".
function renderFreshness() {
  const now = Date.now();
  const age = state.lastSuccess ? now - state.lastSuccess : Infinity;
  const stale = state.error !== null || age > STALE_AFTER_MS;
  const since = state.lastSuccess ? `last update ${ago(new Date(state.lastSuccess).toISOString(), now)}` : 'no data yet';
  const el = $('live');
  el.dataset.state = !state.live ? 'paused' : stale ? 'stale' : 'live';
  $('live-text').textContent = !state.live
    ? `Paused · ${since}`
    : stale
      ? `Stale · ${since}${state.error ? ' · retrying' : ' · waiting for the read API'}`
      : `Live · updated ${clock(new Date(state.lastSuccess))}`;
  $('live-text').title = state.lastSuccess ? `last answer of the read API: ${dateTime(new Date(state.lastSuccess).toISOString())}` : '';
  $('live-toggle').textContent = state.live ? 'Pause' : 'Resume';
  $('live-toggle').setAttribute('aria-pressed', String(!state.live));
  document.body.dataset.stale = String(state.live && stale);
  for (const t of document.querySelectorAll('[data-at]')) t.textContent = ago(t.dataset.at, now);
}

// --- device lists and maps -------------------------------------------------------

async function refreshLists() {
  const [stations, vehicles, alerts] = await Promise.all([api.stations(), api.vehicles(), api.activeAlerts()]);
  state.stations = stations;
  state.vehicles = vehicles;
  state.alerts = alerts.alerts;
  if (!stations.some((s) => s.id === state.station)) state.station = stations.length ? stations[0].id : null;
  if (!vehicles.some((v) => v.vid === state.vehicle)) state.vehicle = vehicles.length ? vehicles[0].vid : null;
  const ids = [...stations.slice(0, STATUS_LIMIT).map((s) => s.id), ...vehicles.slice(0, STATUS_LIMIT).map((v) => v.vid)];
  const statuses = await Promise.all(ids.map((id) => api.deviceStatus(id)));
  state.statuses = new Map(statuses.map((st) => [st.device_id, st]));
  renderLists();
  renderStationMap();
  renderAlerts();
}

// silent says whether a device is reported as no longer sending data.
function silent(id) {
  const st = state.statuses.get(id);
  return !!st && !st.online && !!st.last_measured_at;
}

function deviceName(id) {
  const d = state.stations.find((s) => s.id === id) || state.vehicles.find((v) => v.vid === id);
  return d ? d.name : id;
}

function renderAlerts() {
  const list = $('alert-list');
  const n = state.alerts.length;
  $('alert-count').textContent = n ? String(n) : '';
  $('alert-badge').textContent = n ? String(n) : '';
  list.dataset.state = 'ready';
  list.dataset.alerts = String(n);
  if (!n) {
    list.replaceChildren(h('li', { class: 'empty' }, 'No active alerts.'));
    return;
  }
  list.replaceChildren(
    ...state.alerts.map((a) => {
      const q = quantity(a.type);
      const isStation = state.stations.some((s) => s.id === a.device_id);
      return h(
        'li',
        { class: 'alert', 'data-device': a.device_id, 'data-rule': a.rule },
        h('span', { class: 'badge badge-alert' }, 'alert'),
        h(
          'button',
          { type: 'button', class: 'link', title: `show ${a.device_id}`, onclick: () => (isStation ? showStation(a.device_id) : showVehicle(a.device_id)) },
          deviceName(a.device_id),
        ),
        h('span', { class: 'alert-what' }, `${q.label} above ${withUnit(a.threshold, q.unit)} (${a.rule}): ${withUnit(a.value, q.unit)}`),
        h('time', { class: 'alert-time', datetime: a.raised_at, title: dateTime(a.raised_at) }, 'raised ', h('span', { 'data-at': a.raised_at }, ago(a.raised_at))),
      );
    }),
  );
}

function showStation(id) {
  state.view = 'stations';
  selectStation(id);
  writeHash();
  scrollToView();
}

function showVehicle(vid) {
  state.view = 'vehicles';
  selectVehicle(vid);
  writeHash();
  scrollToView();
}

function renderLists() {
  $('station-count').textContent = String(state.stations.length);
  $('station-list').replaceChildren(
    ...state.stations.map((s) =>
      deviceItem(s.id, s.name, [s.id, s.timezone || 'UTC'], s.id === state.station, s.decommissioned, () => selectStation(s.id)),
    ),
  );
  if (!state.stations.length) $('station-list').append(h('li', { class: 'empty' }, 'No stations registered yet.'));
  $('vehicle-count').textContent = String(state.vehicles.length);
  $('vehicle-list').replaceChildren(
    ...state.vehicles.map((v) =>
      deviceItem(v.vid, v.name, [v.plate || v.vid, v.model].filter(Boolean), v.vid === state.vehicle, v.decommissioned, () => selectVehicle(v.vid)),
    ),
  );
  if (!state.vehicles.length) $('vehicle-list').append(h('li', { class: 'empty' }, 'No vehicles registered yet.'));
}

function deviceItem(id, name, meta, selected, decommissioned, onclick) {
  const st = state.statuses.get(id);
  const quiet = silent(id);
  return h(
    'li',
    {},
    h(
      'button',
      {
        class: 'device' + (selected ? ' is-selected' : ''),
        'aria-current': selected ? 'true' : null,
        'data-id': id,
        'data-status': !st ? 'unknown' : quiet ? 'silent' : st.online ? 'online' : 'no-data',
        onclick,
      },
      h(
        'span',
        { class: 'device-name' },
        name,
        decommissioned ? h('span', { class: 'badge badge-off' }, 'decommissioned') : null,
        quiet ? h('span', { class: 'badge badge-silent', title: `no data since ${dateTime(st.last_measured_at)}` }, 'silent') : null,
      ),
      h('span', { class: 'device-meta' }, meta.join(' · ')),
    ),
  );
}

// statusLine says since when a device is silent, or when it last sent data.
function statusLine(id) {
  const st = state.statuses.get(id);
  if (!st || !st.last_measured_at) return null;
  if (silent(id)) {
    return h('span', { class: 'status status-silent', 'data-testid': 'status' }, 'silent: last data ', h('span', { 'data-at': st.last_measured_at, title: dateTime(st.last_measured_at) }, ago(st.last_measured_at)));
  }
  return h('span', { class: 'status status-online', 'data-testid': 'status' }, 'online: last data ', h('span', { 'data-at': st.last_measured_at, title: dateTime(st.last_measured_at) }, ago(st.last_measured_at)));
}

function renderStationMap() {
  renderMap($('station-map'), { stations: state.stations, selected: state.station, track: null, onSelect: selectStation });
}

function renderVehicleMap() {
  const track = state.events
    .filter((e) => e.location)
    .map((e) => ({ lat: e.location.lat, lon: e.location.lon, t: Date.parse(e.occurred_at) }))
    .sort((a, b) => a.t - b.t);
  renderMap($('vehicle-map'), { stations: state.stations, selected: null, track, onSelect: selectStation });
}

// --- tiles of latest values ------------------------------------------------------

function renderTiles(el, items, emptyText) {
  if (!items.length) {
    el.replaceChildren(h('p', { class: 'empty' }, emptyText));
    return;
  }
  el.replaceChildren(
    ...items.map((it) => {
      const q = quantity(it.name);
      return h(
        'div',
        { class: 'tile card', 'data-name': it.name },
        h('span', { class: 'tile-label' }, q.label),
        h('span', { class: 'tile-value' }, withUnit(it.value, q.unit)),
        h('span', { class: 'tile-time', title: dateTime(it.at), 'data-at': it.at }, ago(it.at)),
      );
    }),
  );
}

// --- stations -------------------------------------------------------------------------

function selectStation(id) {
  if (id === state.station) return;
  state.station = id;
  writeHash();
  renderLists();
  renderStationMap();
  for (const c of charts.values()) c.destroy();
  charts.clear();
  followSelection();
  loadStation(true).catch(showError);
  if (state.view === 'stations') document.getElementById('stations-section').scrollIntoView({ block: 'start', behavior: 'smooth' });
}

function selectRange(days) {
  if (days === state.range) return;
  state.range = days;
  writeHash();
  renderRange();
  loadStation(true).catch(showError);
}

function renderRange() {
  for (const b of $('range').querySelectorAll('button')) {
    const on = Number(b.dataset.days) === state.range;
    b.classList.toggle('is-selected', on);
    b.setAttribute('aria-pressed', String(on));
  }
  const st = state.stations.find((s) => s.id === state.station);
  $('range-hint').textContent =
    state.range <= 7
      ? `Every measurement of the last ${state.range} day${state.range === 1 ? '' : 's'}, in your time zone (${localZone}). Drag across a chart to zoom in, double-click to zoom out.`
      : `Daily minimum, average and maximum over the last ${state.range} days; days are local to the station (${(st && st.timezone) || 'UTC'}).`;
}

function renderStationHead(st) {
  $('station-name').textContent = st ? st.name : 'No station';
  const meta = [];
  if (st) {
    meta.push(st.id);
    if (st.location) meta.push(`${st.location.lat.toFixed(4)}°, ${st.location.lon.toFixed(4)}°`);
    meta.push(`zone ${st.timezone || 'UTC'}`);
    meta.push(`registered ${dateTime(st.registered_at)}`);
  }
  const status = st ? statusLine(st.id) : null;
  $('station-meta').replaceChildren(meta.join(' · '), status ? ' · ' : '', status || '');
}

async function loadStation(reset) {
  const gen = reset ? ++stationGen : stationGen;
  const id = state.station;
  const days = state.range;
  const st = state.stations.find((s) => s.id === id);
  renderStationHead(st);
  renderRange();
  if (!id) {
    $('station-latest').replaceChildren();
    $('charts').replaceChildren(h('p', { class: 'empty' }, 'Register a station to see its measurements here.'));
    return;
  }
  if (reset) for (const c of charts.values()) c.loading();
  const latest = await api.stationLatest(id);
  if (gen !== stationGen) return;
  renderTiles(
    $('station-latest'),
    latest.latest.map((l) => ({ name: l.type, value: l.value, at: l.measured_at })),
    'This station has not reported any measurement yet.',
  );
  const types = latest.latest.map((l) => l.type);
  syncCharts(types);
  const nowMs = Date.now();
  await Promise.all(
    types.map(async (type) => {
      const chart = charts.get(type);
      try {
        // A refresh of raw points asks only for what is new since the last
        // point held; now and then (and for daily rows, always) the whole
        // range is reloaded, which also brings in late measurements.
        const since = reset ? null : chart.lastPoint(days);
        if (since && chart.fullAge(nowMs) < FULL_RELOAD_MS) {
          const resp = await api.pointsSince(id, type, since);
          if (gen === stationGen) chart.append(resp.points, nowMs);
        } else {
          const resp = await api.series(id, type, days);
          if (gen === stationGen) chart.update(resp, days, nowMs);
        }
      } catch (err) {
        if (gen === stationGen) chart.fail(err);
      }
    }),
  );
}

// syncCharts keeps one chart per measurement type, in the order given.
function syncCharts(types) {
  for (const [type, c] of charts) {
    if (!types.includes(type)) {
      c.destroy();
      charts.delete(type);
    }
  }
  const grid = $('charts');
  if (!types.length) {
    grid.replaceChildren(h('p', { class: 'empty' }, 'No measurements yet.'));
    return;
  }
  grid.querySelector('p.empty')?.remove();
  types.forEach((type, i) => {
    let c = charts.get(type);
    if (!c) {
      c = new MeasurementChart(type, colorFor(i));
      charts.set(type, c);
    }
    grid.append(c.el); // appending an attached node moves it into order
  });
}

// --- vehicles -------------------------------------------------------------------------

function selectVehicle(vid) {
  if (vid === state.vehicle) return;
  state.vehicle = vid;
  state.eventTypes = new Set();
  state.eventType = '';
  writeHash();
  renderLists();
  followSelection();
  loadVehicle(true).catch(showError);
}

function selectEventType(type) {
  state.eventType = type;
  writeHash();
  loadVehicle(true).catch(showError);
}

function renderVehicleHead(v) {
  $('vehicle-name').textContent = v ? v.name : 'No vehicle';
  const meta = [];
  if (v) {
    meta.push(v.vid);
    if (v.plate) meta.push(v.plate);
    if (v.model) meta.push(v.model);
    if (v.vin) meta.push(`VIN ${v.vin}`);
    meta.push(`zone ${v.timezone || 'UTC'}`);
  }
  const status = v ? statusLine(v.vid) : null;
  $('vehicle-meta').replaceChildren(meta.join(' · '), status ? ' · ' : '', status || '');
}

async function loadVehicle(reset) {
  const gen = reset ? ++vehicleGen : vehicleGen;
  const vid = state.vehicle;
  if (!vid) {
    renderVehicleHead(null);
    $('vehicle-latest').replaceChildren();
    $('timeline').replaceChildren(h('li', { class: 'empty' }, 'Register a vehicle to see its events here.'));
    return;
  }
  if (reset) {
    state.events = [];
    state.eventsNext = null;
    $('timeline').dataset.state = 'loading';
  }
  const [v, page] = await Promise.all([
    api.vehicle(vid),
    api.vehicleEvents(vid, { limit: EVENTS_PAGE, type: state.eventType }),
  ]);
  if (gen !== vehicleGen) return;
  renderVehicleHead(v);
  renderTiles(
    $('vehicle-latest'),
    (v.latest || []).map((l) => ({ name: l.name, value: l.value, at: l.measured_at })),
    'No readings from this vehicle yet.',
  );
  if (reset || !state.events.length) {
    state.events = page.events;
    state.eventsNext = page.next || null;
  } else {
    state.events = mergeEvents(state.events, page.events);
  }
  renderTimeline();
}

async function loadOlderEvents() {
  if (!state.eventsNext) return;
  const gen = vehicleGen;
  const btn = $('more-events');
  btn.disabled = true;
  try {
    const page = await api.vehicleEvents(state.vehicle, { limit: EVENTS_PAGE, type: state.eventType, cursor: state.eventsNext });
    if (gen !== vehicleGen) return;
    state.events = mergeEvents(state.events, page.events);
    state.eventsNext = page.next || null;
    renderTimeline();
  } catch (err) {
    showError(err);
  } finally {
    btn.disabled = false;
  }
}

// mergeEvents unions two newest-first lists by eid, newest first.
function mergeEvents(a, b) {
  const byId = new Map();
  for (const e of a.concat(b)) byId.set(e.eid, e);
  return [...byId.values()].sort((x, y) => {
    const d = Date.parse(y.occurred_at) - Date.parse(x.occurred_at);
    return d || (y.eid > x.eid ? 1 : y.eid < x.eid ? -1 : 0);
  });
}

const dayFmt = new Intl.DateTimeFormat('en-GB', { weekday: 'short', day: '2-digit', month: 'short', year: 'numeric' });
const timeOnly = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });

function renderTimeline() {
  const list = $('timeline');
  for (const e of state.events) state.eventTypes.add(e.type);
  renderEventTypes();
  const items = [];
  let lastDay = '';
  for (const e of state.events) {
    const at = new Date(e.occurred_at);
    const day = dayFmt.format(at);
    if (day !== lastDay) {
      items.push(h('li', { class: 'day-sep' }, day));
      lastDay = day;
    }
    items.push(eventItem(e, at));
  }
  if (!items.length) {
    items.push(h('li', { class: 'empty' }, state.eventType ? `No ${state.eventType} events.` : 'No events yet.'));
  }
  list.replaceChildren(...items);
  list.dataset.state = 'ready';
  list.dataset.events = String(state.events.length);
  $('more-events').hidden = !state.eventsNext;
  $('event-count').textContent = state.events.length ? `${state.events.length}${state.eventsNext ? '+' : ''} shown` : '';
  renderVehicleMap();
}

function eventItem(e, at) {
  const parts = [];
  for (const [name, value] of Object.entries(e.readings || {})) {
    const q = quantity(name);
    parts.push(h('span', { class: 'reading' }, h('span', { class: 'reading-name' }, q.label), ' ', withUnit(value, q.unit)));
  }
  if (e.data && typeof e.data === 'object') {
    for (const [k, v] of Object.entries(e.data)) {
      parts.push(h('span', { class: 'reading' }, h('span', { class: 'reading-name' }, k), ' ', typeof v === 'object' ? JSON.stringify(v) : String(v)));
    }
  }
  return h(
    'li',
    { class: 'event', 'data-type': e.type, 'data-eid': e.eid },
    h('time', { datetime: e.occurred_at, title: dateTime(e.occurred_at) }, timeOnly.format(at)),
    h('span', { class: `badge badge-${e.type === 'telemetry' ? 'tel' : 'other'}` }, e.type),
    h(
      'div',
      { class: 'event-body' },
      parts.length ? parts : h('span', { class: 'muted' }, 'no readings'),
      e.location ? h('span', { class: 'event-loc' }, `${e.location.lat.toFixed(4)}°, ${e.location.lon.toFixed(4)}°`) : null,
    ),
  );
}

function renderEventTypes() {
  const sel = $('event-type');
  const types = [...state.eventTypes];
  if (state.eventType && !types.includes(state.eventType)) types.push(state.eventType);
  types.sort();
  const want = ['', ...types].join('|');
  if (sel.dataset.options !== want) {
    sel.replaceChildren(h('option', { value: '' }, 'all types'), ...types.map((t) => h('option', { value: t }, t)));
    sel.dataset.options = want;
  }
  sel.value = state.eventType;
}

// --- live push -------------------------------------------------------------------------
// The shown station and vehicle are followed over server-sent events: a
// change committed for them refreshes what is shown at once (the refresh
// asks only for what is new; the read API answers it from memory). While
// a stream is open the periodic refresh leaves that device alone; when it
// breaks, the page falls back to polling until it opens again.

const streams = { station: null, vehicle: null };
const streaming = { station: false, vehicle: false };

function renderStreaming() {
  const on = streaming.station || streaming.vehicle;
  document.body.dataset.push = on ? 'open' : 'polling';
  const el = $('push-state');
  if (el) el.textContent = on ? 'push' : 'polling';
}

function debounce(fn, ms) {
  let timer = 0;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

const pushStation = debounce(() => {
  if (state.live) loadStation(false).then(() => setLive(true), showError);
}, 150);
const pushVehicle = debounce(() => {
  if (state.live) loadVehicle(false).then(() => setLive(true), showError);
}, 150);

function follow(which, kind, id, onChange, onReset) {
  const key = id ? `${kind}:${id}` : '';
  if (streams[which]?.key === key) return;
  streams[which]?.stream?.close();
  streaming[which] = false;
  streams[which] = null;
  if (id) {
    const stream = liveStream(kind, id, {
      onChange: () => {
        document.body.dataset.pushed = String(Number(document.body.dataset.pushed || 0) + 1);
        onChange();
      },
      onReset,
      onState: (open) => {
        if (streams[which]?.key !== key) return;
        streaming[which] = open;
        renderStreaming();
        // Opened or re-opened: what happened meanwhile is fetched once.
        if (open) onChange();
      },
    });
    streams[which] = stream ? { key, stream } : null;
  }
  renderStreaming();
}

function followSelection() {
  follow('station', 'stations', state.station, pushStation, () => loadStation(true).catch(showError));
  follow('vehicle', 'vehicles', state.vehicle, pushVehicle, () => loadVehicle(true).catch(showError));
}

// --- live refresh ----------------------------------------------------------------------

async function tick() {
  if (busy || !state.live) return;
  busy = true;
  try {
    await refreshLists();
    followSelection();
    // A station followed over live push is refreshed as its changes come;
    // its header still shows the status the lists just read. A vehicle's
    // header and status come with its own answer, so it is refreshed too.
    if (streaming.station) renderStationHead(state.stations.find((s) => s.id === state.station));
    await Promise.all([streaming.station ? null : loadStation(false), loadVehicle(false)]);
    state.refreshes++;
    document.body.dataset.refreshes = String(state.refreshes);
    setLive(true);
  } catch (err) {
    setLive(false, err);
  } finally {
    busy = false;
  }
}

function toggleLive() {
  state.live = !state.live;
  renderFreshness();
  if (state.live) tick();
}

async function start() {
  await ensureKey(); // takes a #key=… out of the fragment before it is read
  readHash();
  $('range').replaceChildren(
    ...RANGES.map((d) =>
      h('button', { type: 'button', 'data-days': d, onclick: () => selectRange(d) }, d === 365 ? '365 days' : `${d} day${d === 1 ? '' : 's'}`),
    ),
  );
  $('live-toggle').addEventListener('click', toggleLive);
  $('event-type').addEventListener('change', (e) => selectEventType(e.target.value));
  $('more-events').addEventListener('click', loadOlderEvents);
  $('zone').textContent = localZone;
  $('refresh-every').textContent = `${REFRESH_MS / 1000} s`;
  renderRange();
  renderNav();
  // A view link to the view shown already changes no fragment: scroll anyway.
  for (const a of document.querySelectorAll('a[data-view]')) {
    a.addEventListener('click', (e) => {
      if (a.getAttribute('href') === location.hash) {
        e.preventDefault();
        scrollToView();
      }
    });
  }
  busy = true;
  try {
    await refreshLists();
    writeHash();
    await Promise.all([loadStation(true), loadVehicle(true)]);
    setLive(true);
  } catch (err) {
    setLive(false, err);
  } finally {
    busy = false;
  }
  followSelection();
  document.body.dataset.ready = 'true';
  if (state.view !== 'stations') scrollToView('instant');
  setInterval(() => {
    if (!document.hidden) tick();
  }, REFRESH_MS);
  setInterval(renderFreshness, 1000);
  window.addEventListener('hashchange', () => {
    const before = selectionKey();
    const view = state.view;
    readHash();
    renderNav();
    if (state.view !== view) scrollToView();
    if (selectionKey() === before) return;
    for (const c of charts.values()) c.destroy();
    charts.clear();
    renderLists();
    renderStationMap();
    followSelection();
    loadStation(true).catch(showError);
    loadVehicle(true).catch(showError);
  });
}

start();
