// Read API client: every call the dashboard makes goes through here. Errors
// come back in the API's shape {"error": {"code", "message"}} and are thrown
// as ApiError so the page can say what went wrong. Every call carries the
// read key (key.js); a 401 hands the page back to the key prompt.
import { authHeaders, keyRefused, readKey } from './key.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

// A request the read API has not answered in this time fails: a server that
// hangs must not leave the page waiting, and looking fresh, for ever.
const TIMEOUT_MS = 10000;

async function getJSON(path, signal) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  const stop = () => ctl.abort();
  signal?.addEventListener('abort', stop);
  let res;
  let body = null;
  try {
    res = await fetch(path, { signal: ctl.signal, cache: 'no-store', headers: { Accept: 'application/json', ...authHeaders() } });
    try {
      body = await res.json();
    } catch {
      // not JSON; handled below
    }
  } catch (err) {
    if (signal?.aborted) throw err;
    if (err.name === 'AbortError') throw new ApiError(0, 'timeout', `the read API did not answer within ${TIMEOUT_MS / 1000} s`);
    throw new ApiError(0, 'network', 'the read API cannot be reached');
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', stop);
  }
  if (!res.ok) {
    if (res.status === 401) keyRefused();
    const e = body && body.error;
    throw new ApiError(res.status, (e && e.code) || 'http_' + res.status, (e && e.message) || `${res.status} ${res.statusText}`);
  }
  if (body === null) throw new ApiError(res.status, 'bad_response', 'the read API answered with something other than JSON');
  return body;
}

const enc = encodeURIComponent;

// listAll follows the "next" cursor of a device list, up to maxPages pages.
async function listAll(kind, signal, maxPages = 20) {
  const out = [];
  let after = '';
  for (let page = 0; page < maxPages; page++) {
    const q = new URLSearchParams({ limit: '1000' });
    if (after) q.set('after', after);
    const body = await getJSON(`/v1/${kind}?${q}`, signal);
    out.push(...body[kind]);
    if (!body.next) break;
    after = body.next;
  }
  return out;
}

// liveStream follows a station's or vehicle's live push stream
// (server-sent events): onChange runs for each change the projector
// committed, onReset when changes were missed for longer than the server
// keeps them (reload the views), onState(open) when the stream opens or
// breaks. The browser reconnects by itself with Last-Event-ID, and the
// server sends what was missed. Without EventSource it returns null (the
// page polls).
export function liveStream(kind, id, { onChange, onReset, onState }) {
  if (typeof EventSource === 'undefined') return null;
  // EventSource sends no headers: the key goes as ?access_token=, which
  // the read API takes on live routes only.
  const key = readKey();
  const query = key ? `?${new URLSearchParams({ access_token: key })}` : '';
  const es = new EventSource(`/v1/${kind}/${enc(id)}/live${query}`);
  es.addEventListener('open', () => onState(true));
  es.addEventListener('error', () => onState(false));
  es.addEventListener('change', (e) => {
    try {
      onChange(JSON.parse(e.data));
    } catch {
      // not a change this page understands; the next poll covers it
    }
  });
  es.addEventListener('reset', () => onReset());
  return { close: () => es.close() };
}

export const api = {
  stations: (signal) => listAll('stations', signal),
  stationLatest: (id, signal) => getJSON(`/v1/stations/${enc(id)}/latest`, signal),
  // The dashboard query: raw points for days <= 7, daily rows beyond.
  series: (station, type, days, signal) =>
    getJSON(`/v1/measurements?${new URLSearchParams({ station, type, days: String(days) })}`, signal),
  // Raw points from an instant on (inclusive), for incremental refreshes;
  // `to` lies a day ahead so a device clock running ahead cannot put from
  // past it.
  pointsSince: (station, type, from, signal) => {
    const to = new Date(Date.now() + 86400e3).toISOString();
    return getJSON(`/v1/stations/${enc(station)}/measurements?${new URLSearchParams({ type, from, to })}`, signal);
  },
  vehicles: (signal) => listAll('vehicles', signal),
  vehicle: (vid, signal) => getJSON(`/v1/vehicles/${enc(vid)}`, signal),
  vehicleEvents: (vid, { limit = 50, cursor = '', type = '' } = {}, signal) => {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set('cursor', cursor);
    if (type) q.set('type', type);
    return getJSON(`/v1/vehicles/${enc(vid)}/events?${q}`, signal);
  },
  // Alerts not cleared yet, newest first.
  activeAlerts: (signal) => getJSON('/v1/alerts?active=true&limit=100', signal),
  // Whether a station or vehicle is sending data (online) or silent.
  deviceStatus: (id, signal) => getJSON(`/v1/devices/${enc(id)}/status`, signal),
};
