// One chart per measurement type, drawn with uPlot: raw points for ranges up
// to a week, a daily min/avg/max band beyond. Each chart's figure carries
// data-state, data-resolution, data-range and data-points so people (and the
// browser tests) can tell what it shows.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h, num, quantity, withUnit } from './util.js';

const HEIGHT = 220;
const palette = ['#2563eb', '#d97706', '#059669', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d'];
const axisStyle = {
  stroke: '#5b6472',
  grid: { stroke: '#eceff3', width: 1 },
  ticks: { stroke: '#dde1e6', width: 1 },
  font: '11px system-ui, sans-serif',
};

const DAY = 86400;
// Whole-day tick steps for the daily chart (uPlot reads 30 and 365 days as a
// month and a year).
const dayIncrs = [1, 2, 3, 5, 7, 10, 15, 30, 60, 90, 180, 365].map((d) => d * DAY);

// timeAxis labels the x axis in 24-hour time, with the date under the first
// tick of each day, or with dates alone when ticks are a day or more apart.
// utc: label in UTC (daily rows are calendar days, drawn at UTC midnight).
function timeAxis(utc) {
  const zone = utc ? { timeZone: 'UTC' } : {};
  const hm = new Intl.DateTimeFormat('en-GB', { ...zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const dm = new Intl.DateTimeFormat('en-GB', { ...zone, day: 'numeric', month: 'short' });
  return {
    ...axisStyle,
    values: (u, splits, axisIdx, space, incr) => {
      let lastDay = '';
      return splits.map((s) => {
        const d = new Date(s * 1000);
        const day = dm.format(d);
        if (incr >= DAY) return day;
        const label = hm.format(d);
        if (day === lastDay) return label;
        lastDay = day;
        return label + '\n' + day;
      });
    },
  };
}

// dailyData turns daily rows into uPlot's columns: day, min, avg, max.
function dailyData(rows) {
  const data = [
    rows.map((d) => Date.parse(d.day + 'T00:00:00Z') / 1000),
    rows.map((d) => d.min),
    rows.map((d) => d.avg),
    rows.map((d) => d.max),
  ];
  const count = rows.length;
  const readings = rows.reduce((n, d) => n + d.count, 0);
  const stats = count
    ? `${count} day${count === 1 ? '' : 's'} · ${readings.toLocaleString('en-US')} readings · min ${num(Math.min(...data[1]))} · max ${num(Math.max(...data[3]))}`
    : '';
  return { data, count, stats };
}

export function colorFor(index) {
  return palette[index % palette.length];
}

export class MeasurementChart {
  constructor(type, color) {
    this.type = type;
    this.color = color;
    this.q = quantity(type);
    this.u = null;
    this.mode = null;
    this.window = null;
    this.raw = null; // the raw points held, for incremental refreshes
    this.statsEl = h('span', { class: 'chart-stats' });
    this.plotEl = h('div', { class: 'chart-plot' });
    this.msgEl = h('div', { class: 'chart-msg', role: 'status' }, 'Loading…');
    this.el = h(
      'figure',
      { class: 'chart card', 'data-testid': 'chart', dataset: { type, state: 'loading' } },
      h(
        'figcaption',
        {},
        h('span', { class: 'swatch', style: { background: color } }),
        h('span', { class: 'chart-title' }, this.q.label),
        this.q.unit ? h('span', { class: 'chart-unit' }, this.q.unit) : null,
        this.statsEl,
      ),
      h('div', { class: 'chart-body' }, this.plotEl, this.msgEl),
    );
    this.resize = new ResizeObserver(() => {
      const w = this.width();
      if (this.u && Math.abs(this.u.width - w) > 1) this.u.setSize({ width: w, height: HEIGHT });
    });
    this.resize.observe(this.plotEl);
  }

  width() {
    return Math.max(240, Math.floor(this.plotEl.clientWidth || 600));
  }

  loading() {
    this.el.dataset.state = 'loading';
    this.el.classList.add('is-loading');
  }

  fail(err) {
    this.el.dataset.state = 'error';
    this.el.classList.remove('is-loading');
    this.msgEl.textContent = `Could not load: ${err.message}`;
    this.msgEl.hidden = false;
  }

  // update draws a whole answer of GET /v1/measurements for `days` days.
  update(resp, days, nowMs) {
    if (resp.resolution === 'daily') {
      this.raw = null;
      this.draw('daily', days, dailyData(resp.days || []));
      return;
    }
    const pts = resp.points || [];
    this.raw = {
      days,
      xs: pts.map((p) => Date.parse(p.measured_at) / 1000),
      ys: pts.map((p) => p.value),
      last: pts.length ? pts[pts.length - 1].measured_at : null,
      truncated: !!resp.truncated,
      loadedAt: nowMs,
    };
    this.drawRaw(nowMs);
  }

  // lastPoint is where an incremental refresh of the raw range `days` can
  // start (the measured_at of the newest point held), or null when only a
  // whole reload will do.
  lastPoint(days) {
    return this.raw && this.raw.days === days && this.raw.last && !this.raw.truncated ? this.raw.last : null;
  }

  // fullAge is how long ago the data was last loaded whole.
  fullAge(nowMs) {
    return this.raw ? nowMs - this.raw.loadedAt : Infinity;
  }

  // append adds the points measured at or after lastPoint() (as GET
  // /v1/stations/{id}/measurements answers them, in time order) and drops
  // those that left the range. Points at the boundary instant that are
  // already held come first in the answer and are skipped by count.
  append(points, nowMs) {
    const r = this.raw;
    let held = 0;
    for (let i = r.xs.length - 1; i >= 0 && r.xs[i] === Date.parse(r.last) / 1000; i--) held++;
    let skip = 0;
    while (skip < points.length && skip < held && points[skip].measured_at === r.last) skip++;
    for (const p of points.slice(skip)) {
      r.xs.push(Date.parse(p.measured_at) / 1000);
      r.ys.push(p.value);
      r.last = p.measured_at;
    }
    const start = nowMs / 1000 - r.days * DAY;
    let drop = 0;
    while (drop < r.xs.length && r.xs[drop] < start) drop++;
    if (drop) {
      r.xs.splice(0, drop);
      r.ys.splice(0, drop);
    }
    this.drawRaw(nowMs);
  }

  drawRaw(nowMs) {
    const { xs, ys, days, truncated } = this.raw;
    const nowSec = nowMs / 1000;
    this.window = [nowSec - days * DAY, nowSec];
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (const v of ys) {
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
    }
    const n = ys.length;
    const stats = n
      ? `${n.toLocaleString('en-US')} points${truncated ? ' (truncated)' : ''} · min ${num(min)} · avg ${num(sum / n)} · max ${num(max)} · last ${num(ys[n - 1])}`
      : '';
    // uPlot keeps the arrays it is given: hand it copies.
    this.draw('raw', days, { data: [xs.slice(), ys.slice()], count: n, stats });
  }

  draw(mode, days, { data, count, stats }) {
    if (mode !== this.mode || !this.u) {
      this.destroyPlot();
      this.mode = mode;
      this.u = new uPlot(this.options(mode), data, this.plotEl);
    } else {
      this.u.setData(data, true);
    }
    const ds = this.el.dataset;
    ds.resolution = mode;
    ds.range = String(days);
    ds.points = String(count);
    ds.state = count ? 'ready' : 'empty';
    this.el.classList.remove('is-loading');
    this.statsEl.textContent = stats;
    this.msgEl.hidden = count > 0;
    this.msgEl.textContent = count ? '' : `No ${this.q.label} measurements in the last ${days} day${days === 1 ? '' : 's'}`;
  }

  options(mode) {
    const c = this.color;
    const unit = this.q.unit;
    const fmt = (u, v) => (v === null || v === undefined ? '–' : withUnit(v, unit));
    const y = { ...axisStyle, size: 52, values: (u, splits) => splits.map((v) => num(v)) };
    if (mode === 'raw') {
      return {
        width: this.width(),
        height: HEIGHT,
        cursor: { drag: { x: true, y: false } },
        scales: { x: { time: true, range: (u, min, max) => this.window || [min, max] } },
        axes: [timeAxis(false), y],
        series: [
          { label: 'Time', value: '{YYYY}-{MM}-{DD} {HH}:{mm}:{ss}' },
          { label: this.q.label, stroke: c, width: 1.5, fill: c + '1a', value: fmt },
        ],
      };
    }
    // Days are the station's local days: draw them as calendar dates, not
    // shifted into the browser's zone.
    return {
      width: this.width(),
      height: HEIGHT,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
      cursor: { drag: { x: true, y: false } },
      // Half a day either side, so the first and last day are not on the edge.
      scales: { x: { time: true, range: (u, min, max) => [min - DAY / 2, max + DAY / 2] } },
      axes: [{ ...timeAxis(true), incrs: dayIncrs, space: 50 }, y],
      series: [
        { label: 'Day', value: '{YYYY}-{MM}-{DD}' },
        { label: 'min', stroke: c + '99', width: 1, value: fmt },
        { label: 'avg', stroke: c, width: 2, value: fmt, points: { show: true, size: 5, fill: c } },
        { label: 'max', stroke: c + '99', width: 1, value: fmt },
      ],
      bands: [{ series: [3, 1], fill: c + '33' }],
    };
  }

  destroyPlot() {
    if (this.u) {
      this.u.destroy();
      this.u = null;
    }
  }

  destroy() {
    this.resize.disconnect();
    this.destroyPlot();
    this.el.remove();
  }
}
