/**
 * Two small chart kinds as standalone SVG, no dependency: latency CDFs (log
 * time axis) and lines over time. Output depends only on the data, so the same
 * numbers give the same file.
 */
import { sortNumbers } from './summary';

export interface CdfSeries {
  label: string;
  /** Raw samples, ms. */
  values: readonly number[];
  dashed?: boolean;
  /** Palette index; series that belong together (direct and service at one concurrency) share one. Default: the series' position. */
  colour?: number;
}

export interface LineSeries {
  label: string;
  points: readonly (readonly [number, number])[];
  dashed?: boolean;
  colour?: number;
  /** Drawn as steps (a counter or level that holds until the next sample). */
  steps?: boolean;
}

const WIDTH = 820;
const HEIGHT = 440;
const MARGIN = { left: 68, right: 200, top: 44, bottom: 52 };
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;
// Colour-blind-safe (Okabe–Ito).
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];
const CDF_POINTS = 400;

const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const n = (value: number) => (Math.round(value * 10) / 10).toString();

const colourOf = (series: { colour?: number }, index: number) => COLOURS[(series.colour ?? index) % COLOURS.length];

function frame(title: string, xLabel: string, yLabel: string, body: string[], legend: readonly { label: string; dashed?: boolean; colour?: number }[]): string {
  const legendItems = legend.map((item, i) => {
    const y = MARGIN.top + 8 + i * 20;
    const x = WIDTH - MARGIN.right + 16;
    const dash = item.dashed ? ' stroke-dasharray="6 4"' : '';
    return (
      `<line x1="${x}" y1="${y}" x2="${x + 24}" y2="${y}" stroke="${colourOf(item, i)}" stroke-width="2.5"${dash}/>` +
      `<text x="${x + 30}" y="${y + 4}" font-size="12">${esc(item.label)}</text>`
    );
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`,
    ...body,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#333"/>`,
    `<text x="${MARGIN.left + PLOT_W / 2}" y="${HEIGHT - 12}" font-size="12" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="16" y="${MARGIN.top + PLOT_H / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 16 ${MARGIN.top + PLOT_H / 2})">${esc(yLabel)}</text>`,
    ...legendItems,
    '</svg>',
    '',
  ].join('\n');
}

/** 1, 2, 5 × 10^k ticks spanning [min, max]. */
function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let exp = Math.floor(Math.log10(min)); exp <= Math.ceil(Math.log10(max)); exp++) {
    for (const m of [1, 2, 5]) {
      const t = m * 10 ** exp;
      if (t >= min * 0.999 && t <= max * 1.001) ticks.push(t);
    }
  }
  return ticks;
}

function linearTicks(min: number, max: number, count = 6): number[] {
  const span = max - min || 1;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** The largest 1, 2 or 5 × 10^k at or below v. */
function niceDown(v: number): number {
  const m = 10 ** Math.floor(Math.log10(v));
  return [5, 2, 1].map((c) => c * m).find((t) => t <= v) ?? m;
}

/** The smallest 1, 2 or 5 × 10^k at or above v. */
function niceUp(v: number): number {
  const m = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((c) => c * m).find((t) => t >= v) ?? 10 * m;
}

const tickLabel = (t: number) => (t >= 1000 ? `${t / 1000}k` : String(Number(t.toPrecision(6))));

/** Cumulative distribution of each series' samples; x is latency on a log scale. */
export function cdfChart(title: string, xLabel: string, series: readonly CdfSeries[]): string {
  let min = Infinity;
  let max = -Infinity;
  for (const s of series) {
    for (const v of s.values) {
      if (v > 0 && v < min) min = v;
      if (v > max) max = v;
    }
  }
  if (!Number.isFinite(min)) [min, max] = [1, 10];
  min = niceDown(min);
  max = niceUp(max);
  if (max / min < 10) max = min * 10;
  const x = (v: number) => MARGIN.left + ((Math.log10(Math.max(v, min)) - Math.log10(min)) / (Math.log10(max) - Math.log10(min))) * PLOT_W;
  const y = (q: number) => MARGIN.top + (1 - q) * PLOT_H;
  const body: string[] = [];
  for (const t of logTicks(min, max)) {
    body.push(`<line x1="${n(x(t))}" y1="${MARGIN.top}" x2="${n(x(t))}" y2="${MARGIN.top + PLOT_H}" stroke="#e3e3e3"/>`);
    body.push(`<text x="${n(x(t))}" y="${MARGIN.top + PLOT_H + 16}" font-size="11" text-anchor="middle">${tickLabel(t)}</text>`);
  }
  for (const q of [0, 0.25, 0.5, 0.75, 0.9, 1]) {
    body.push(`<line x1="${MARGIN.left}" y1="${n(y(q))}" x2="${MARGIN.left + PLOT_W}" y2="${n(y(q))}" stroke="${q === 0.5 ? '#bbbbbb' : '#eeeeee'}"/>`);
    body.push(`<text x="${MARGIN.left - 6}" y="${n(y(q) + 4)}" font-size="11" text-anchor="end">${q * 100}%</text>`);
  }
  // p99 sits 3 px under 100 %: marked inside the plot, on the right, so the labels do not collide.
  body.push(`<line x1="${MARGIN.left}" y1="${n(y(0.99))}" x2="${MARGIN.left + PLOT_W}" y2="${n(y(0.99))}" stroke="#bbbbbb" stroke-dasharray="2 3"/>`);
  body.push(`<text x="${MARGIN.left + PLOT_W - 4}" y="${n(y(0.99) + 13)}" font-size="10" fill="#777" text-anchor="end">p99</text>`);
  series.forEach((s, i) => {
    if (s.values.length === 0) return;
    const sorted = sortNumbers(s.values);
    const points: string[] = [];
    const stepEvery = Math.max(1, Math.floor(sorted.length / CDF_POINTS));
    for (let k = 0; k < sorted.length; k += stepEvery) points.push(`${n(x(sorted[k]))},${n(y((k + 1) / sorted.length))}`);
    points.push(`${n(x(sorted[sorted.length - 1]))},${n(y(1))}`);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    body.push(`<polyline fill="none" stroke="${colourOf(s, i)}" stroke-width="2"${dash} points="${points.join(' ')}"/>`);
  });
  return frame(title, xLabel, 'share of requests at or below', body, series);
}

/** Lines (or steps) of y over x on linear axes. */
export function lineChart(title: string, xLabel: string, yLabel: string, series: readonly LineSeries[]): string {
  let [xMin, xMax, yTop] = [Infinity, -Infinity, 1];
  for (const s of series) {
    for (const [px, py] of s.points) [xMin, xMax, yTop] = [Math.min(xMin, px), Math.max(xMax, px), Math.max(yTop, py)];
  }
  if (!Number.isFinite(xMin)) [xMin, xMax] = [0, 1];
  const yMax = yTop * 1.08;
  const x = (v: number) => MARGIN.left + ((v - xMin) / (xMax - xMin || 1)) * PLOT_W;
  const y = (v: number) => MARGIN.top + (1 - v / yMax) * PLOT_H;
  const body: string[] = [];
  for (const t of linearTicks(xMin, xMax)) {
    body.push(`<line x1="${n(x(t))}" y1="${MARGIN.top}" x2="${n(x(t))}" y2="${MARGIN.top + PLOT_H}" stroke="#eeeeee"/>`);
    body.push(`<text x="${n(x(t))}" y="${MARGIN.top + PLOT_H + 16}" font-size="11" text-anchor="middle">${tickLabel(t)}</text>`);
  }
  for (const t of linearTicks(0, yMax)) {
    if (t > yMax) continue;
    body.push(`<line x1="${MARGIN.left}" y1="${n(y(t))}" x2="${MARGIN.left + PLOT_W}" y2="${n(y(t))}" stroke="#eeeeee"/>`);
    body.push(`<text x="${MARGIN.left - 6}" y="${n(y(t) + 4)}" font-size="11" text-anchor="end">${tickLabel(t)}</text>`);
  }
  series.forEach((s, i) => {
    const points: string[] = [];
    s.points.forEach(([px, py], k) => {
      if (s.steps && k > 0) points.push(`${n(x(px))},${n(y(s.points[k - 1][1]))}`);
      points.push(`${n(x(px))},${n(y(py))}`);
    });
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    body.push(`<polyline fill="none" stroke="${colourOf(s, i)}" stroke-width="2"${dash} points="${points.join(' ')}"/>`);
  });
  return frame(title, xLabel, yLabel, body, series);
}
