// Small helpers: building DOM safely (text is never parsed as HTML), and
// formatting numbers, units and times for people.

// h builds an element: h('div', {class: 'x', onclick: fn}, 'text', child).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style') Object.assign(el.style, v); // CSSOM: allowed by the page's CSP
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// svg builds an SVG element.
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

// What the simulated and typical air-quality sensors measure; anything else
// is shown by its own name.
const quantities = {
  pm25: { label: 'PM2.5', unit: 'µg/m³' },
  pm10: { label: 'PM10', unit: 'µg/m³' },
  pm1: { label: 'PM1', unit: 'µg/m³' },
  no2: { label: 'NO₂', unit: 'µg/m³' },
  o3: { label: 'O₃', unit: 'µg/m³' },
  so2: { label: 'SO₂', unit: 'µg/m³' },
  co: { label: 'CO', unit: 'mg/m³' },
  temperature: { label: 'Temperature', unit: '°C' },
  humidity: { label: 'Humidity', unit: '%' },
  pressure: { label: 'Pressure', unit: 'hPa' },
  speed_kmh: { label: 'Speed', unit: 'km/h' },
  battery_pct: { label: 'Battery', unit: '%' },
  cabin_temp_c: { label: 'Cabin temperature', unit: '°C' },
};

export function quantity(name) {
  if (quantities[name]) return quantities[name];
  const pretty = name.replace(/_/g, ' ');
  return { label: pretty.charAt(0).toUpperCase() + pretty.slice(1), unit: '' };
}

const numFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });
const smallFmt = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 3 });

export function num(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  return Math.abs(v) < 1 && v !== 0 ? smallFmt.format(v) : numFmt.format(v);
}

export function withUnit(v, unit) {
  return unit ? `${num(v)} ${unit}` : num(v);
}

const timeFmt = new Intl.DateTimeFormat('en-GB', {
  year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
});
const clockFmt = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });

export function dateTime(iso) {
  return timeFmt.format(new Date(iso));
}

export function clock(date) {
  return clockFmt.format(date);
}

// ago says how long ago an instant was, coarsely.
export function ago(iso, now = Date.now()) {
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 0) return 'in the future';
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export const localZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
