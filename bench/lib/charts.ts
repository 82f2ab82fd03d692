/**
 * SVG charts a browser opens and a README shows, written by hand (no
 * plotting library needed for two chart types):
 * - throughput against clients, one panel per transport, a line per mode;
 * - latency percentile curves (HdrHistogram style: a log axis of 1/(1-p)),
 *   one panel per transport, a line per mode, at one client count.
 */
import { decode, percentileCurve } from '../../src/load/histogram.js';
import type { CellResult } from './results.js';

const COLORS: Record<string, string> = { direct: '#555555', native: '#1f77b4', js: '#ff7f0e', 'least-busy': '#2ca02c' };
const W = 360;
const H = 240;
const M = { l: 56, r: 12, t: 28, b: 40 };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

interface Series {
  readonly name: string;
  readonly points: readonly [number, number][];
}

function panel(
  x0: number,
  title: string,
  series: readonly Series[],
  xLabel: string,
  yLabel: string,
  xTicks: readonly [number, string][],
  logY: boolean,
): string {
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((y) => y > 0);
  const xMin = Math.min(...xs, ...xTicks.map((t) => t[0]));
  const xMax = Math.max(...xs, ...xTicks.map((t) => t[0]));
  const yMin = logY ? Math.max(1, Math.min(...ys)) : 0;
  const yMax = Math.max(...ys, 1) * (logY ? 1.5 : 1.1);
  const ly = (v: number): number => (logY ? Math.log10(Math.max(v, yMin)) : v);
  const px = (x: number): number =>
    x0 + M.l + ((Math.log10(x) - Math.log10(xMin)) / Math.max(1e-9, Math.log10(xMax) - Math.log10(xMin))) * (W - M.l - M.r);
  const py = (y: number): number => M.t + (1 - (ly(y) - ly(yMin)) / Math.max(1e-9, ly(yMax) - ly(yMin))) * (H - M.t - M.b);
  const out: string[] = [];
  out.push(`<text x="${x0 + W / 2}" y="16" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  out.push(`<rect x="${x0 + M.l}" y="${M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}" fill="none" stroke="#ccc"/>`);
  for (const [x, label] of xTicks) {
    out.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${M.t}" y2="${H - M.b}" stroke="#eee"/>`);
    out.push(`<text x="${px(x)}" y="${H - M.b + 14}" text-anchor="middle" font-size="10">${esc(label)}</text>`);
  }
  const yTicks = logY
    ? Array.from({ length: 8 }, (_, i) => 10 ** i).filter((v) => v >= yMin / 10 && v <= yMax)
    : Array.from({ length: 5 }, (_, i) => (yMax / 1.1) * (i / 4));
  for (const v of yTicks) {
    if (v < yMin || v > yMax) continue;
    out.push(`<line x1="${x0 + M.l}" x2="${x0 + W - M.r}" y1="${py(v)}" y2="${py(v)}" stroke="#eee"/>`);
    const label = v >= 1000 ? `${Math.round(v / 1000)}k` : String(Math.round(v));
    out.push(`<text x="${x0 + M.l - 4}" y="${py(v) + 3}" text-anchor="end" font-size="10">${label}</text>`);
  }
  out.push(`<text x="${x0 + W / 2}" y="${H - 6}" text-anchor="middle" font-size="11">${esc(xLabel)}</text>`);
  out.push(
    `<text x="${x0 + 12}" y="${H / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 ${x0 + 12} ${H / 2})">${esc(yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = COLORS[s.name] ?? '#000';
    const pts = s.points.filter((p) => p[1] > 0 || !logY);
    if (pts.length > 0) {
      out.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ')}"/>`,
      );
      for (const p of pts) out.push(`<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="2.5" fill="${color}"/>`);
    }
    out.push(
      `<rect x="${x0 + M.l + 6}" y="${M.t + 6 + i * 13}" width="10" height="3" fill="${color}"/><text x="${x0 + M.l + 20}" y="${M.t + 10 + i * 13}" font-size="10">${esc(s.name)}</text>`,
    );
  });
  return out.join('\n');
}

function svg(panels: readonly string[], title: string): string {
  const width = W * panels.length;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H + 20}" viewBox="0 0 ${width} ${H + 20}" font-family="sans-serif" font-size="12">`,
    `<title>${esc(title)}</title>`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<g transform="translate(0,10)">`,
    ...panels,
    '</g>',
    '</svg>',
    '',
  ].join('\n');
}

function groups(cells: readonly CellResult[]): { transports: string[]; modes: string[]; size: number } {
  return {
    transports: [...new Set(cells.map((c) => c.transport))],
    modes: [...new Set(cells.map((c) => c.mode))],
    size: Math.min(...cells.map((c) => c.size_bytes)),
  };
}

export function throughputChart(cells: readonly CellResult[]): string {
  const { transports, modes, size } = groups(cells);
  const clients = [...new Set(cells.map((c) => c.clients))].sort((a, b) => a - b);
  const panels = transports.map((t, i) => {
    const series = modes.map((m) => ({
      name: m,
      points: cells
        .filter((c) => c.transport === t && c.mode === m && c.size_bytes === size && c.status === 'ok')
        .map((c) => [c.clients, c.status === 'ok' ? c.summary.throughput_rps : 0] as [number, number])
        .sort((a, b) => a[0] - b[0]),
    }));
    return panel(
      i * W,
      `${t}: throughput (${size} B)`,
      series,
      'clients (log)',
      'requests/s',
      clients.map((c) => [c, String(c)]),
      false,
    );
  });
  return svg(panels, 'zqueue throughput against clients');
}

/** Latency percentile curves at `clients` (default: the count nearest 100). */
export function latencyChart(cells: readonly CellResult[], clients?: number): string {
  const { transports, modes, size } = groups(cells);
  const counts = [...new Set(cells.map((c) => c.clients))];
  const at =
    clients ?? counts.reduce((best, n) => (Math.abs(Math.log10(n / 100)) < Math.abs(Math.log10(best / 100)) ? n : best), counts[0] ?? 100);
  const ticks: [number, string][] = [
    [1, '0%'],
    [10, '90%'],
    [100, '99%'],
    [1000, '99.9%'],
    [10_000, '99.99%'],
  ];
  const panels = transports.map((t, i) => {
    const series = modes.map((m) => {
      const c = cells.find((x) => x.transport === t && x.mode === m && x.clients === at && x.size_bytes === size);
      if (c?.status !== 'ok') return { name: m, points: [] };
      const h = decode(c.summary.histogram);
      const points = percentileCurve(h).map((p) => [1 / (1 - Math.min(p.percentile, 99.999) / 100), p.value_us] as [number, number]);
      h.destroy();
      return { name: m, points };
    });
    return panel(i * W, `${t}: latency at ${at} clients`, series, 'percentile (log scale of 1/(1-p))', 'latency µs (log)', ticks, true);
  });
  return svg(panels, 'zqueue latency percentiles');
}
