// A map-like scatter of the stations by latitude and longitude (an
// equirectangular projection, good enough at city scale), with the selected
// vehicle's recent track drawn over it. No tiles: it works offline.
import { svg } from './util.js';

const W = 340;
const H = 230;
const PAD = 26;

export function renderMap(container, { stations, selected, track, onSelect }) {
  const pts = stations.filter((s) => s.location).map((s) => ({ id: s.id, name: s.name, ...s.location }));
  const all = pts.concat(track || []);
  container.replaceChildren();
  if (!all.length) {
    container.append(svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'no locations yet' },
      svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'map-empty' }, 'No locations yet')));
    return;
  }
  let [minLat, maxLat, minLon, maxLon] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const p of all) {
    minLat = Math.min(minLat, p.lat);
    maxLat = Math.max(maxLat, p.lat);
    minLon = Math.min(minLon, p.lon);
    maxLon = Math.max(maxLon, p.lon);
  }
  // Keep a minimum extent so one point, or points in a row, still get room.
  const grow = (lo, hi, min) => {
    const mid = (lo + hi) / 2;
    const half = Math.max((hi - lo) / 2, min / 2) * 1.1;
    return [mid - half, mid + half];
  };
  [minLat, maxLat] = grow(minLat, maxLat, 0.02);
  [minLon, maxLon] = grow(minLon, maxLon, 0.02);
  const kx = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  const spanX = (maxLon - minLon) * kx;
  const spanY = maxLat - minLat;
  const scale = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);
  const ox = (W - spanX * scale) / 2;
  const oy = (H - spanY * scale) / 2;
  const x = (lon) => ox + (lon - minLon) * kx * scale;
  const y = (lat) => H - oy - (lat - minLat) * scale;

  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'station locations', 'data-testid': 'map' });
  root.append(svg('rect', { x: 0, y: 0, width: W, height: H, class: 'map-bg', rx: 8 }));

  // A light graticule with its coordinates.
  const step = niceStep(Math.max(maxLat - minLat, maxLon - minLon) / 3);
  for (let lat = Math.ceil(minLat / step) * step; lat <= maxLat; lat += step) {
    root.append(svg('line', { x1: 0, x2: W, y1: y(lat), y2: y(lat), class: 'map-grid' }));
    root.append(svg('text', { x: 4, y: y(lat) - 3, class: 'map-coord' }, `${lat.toFixed(2)}°`));
  }
  for (let lon = Math.ceil(minLon / step) * step; lon <= maxLon; lon += step) {
    root.append(svg('line', { x1: x(lon), x2: x(lon), y1: 0, y2: H, class: 'map-grid' }));
    root.append(svg('text', { x: x(lon) + 3, y: H - 4, class: 'map-coord' }, `${lon.toFixed(2)}°`));
  }

  if (track && track.length) {
    const d = track.map((p, i) => `${i ? 'L' : 'M'}${x(p.lon).toFixed(1)},${y(p.lat).toFixed(1)}`).join(' ');
    root.append(svg('path', { d, class: 'map-track', 'data-testid': 'map-track' }));
    const last = track[track.length - 1];
    root.append(svg('circle', { cx: x(last.lon), cy: y(last.lat), r: 5, class: 'map-vehicle' },
      svg('title', {}, 'selected vehicle, latest position')));
  }

  for (const p of pts) {
    const isSel = p.id === selected;
    const g = svg('g', {
      class: 'map-station' + (isSel ? ' is-selected' : ''),
      'data-station': p.id,
      tabindex: 0,
      role: 'button',
      'aria-label': `select ${p.name}`,
      onclick: () => onSelect(p.id),
      onkeydown: (e) => {
        if (e.key === 'Enter' || e.key === ' ') onSelect(p.id);
      },
    });
    g.append(svg('title', {}, `${p.name} (${p.id})\n${p.lat.toFixed(4)}, ${p.lon.toFixed(4)}`));
    g.append(svg('circle', { cx: x(p.lon), cy: y(p.lat), r: isSel ? 7 : 5 }));
    g.append(svg('text', { x: x(p.lon) + 9, y: y(p.lat) + 4 }, shortLabel(p.id)));
    root.append(g);
  }
  container.append(root);
}

function niceStep(raw) {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function shortLabel(id) {
  const m = id.match(/(\d+)$/);
  return id.length <= 10 ? id : m ? '#' + m[1] : id.slice(0, 10) + '…';
}
