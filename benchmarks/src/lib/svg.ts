/**
 * A small SVG writer for the report: grouped bar charts (categories along x, one bar per series), one panel per
 * backend, a log or linear y axis, a shared legend. Plain strings, no dependency; the result renders on GitHub.
 */

export interface ChartPanel {
  title: string;
  categories: string[];
  /** values[i] belongs to categories[i]; undefined = not measured. */
  series: { name: string; values: (number | undefined)[] }[];
}

export interface BarChart {
  title: string;
  yLabel: string;
  panels: ChartPanel[];
  /** Log y axis (default true: throughputs span orders of magnitude). */
  log?: boolean;
}

const PALETTE = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f", "#bcbd22", "#e377c2"];

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/`/g, "");
}

function fmtTick(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

/** Renders the chart. Series keep their color in every panel (the first series, "ours", is red). */
export function renderBarChart(chart: BarChart): string {
  const log = chart.log ?? true;
  const names = [...new Set(chart.panels.flatMap((p) => p.series.map((s) => s.name)))];
  const color = (name: string) => PALETTE[names.indexOf(name) % PALETTE.length]!;
  const values = chart.panels.flatMap((p) => p.series.flatMap((s) => s.values)).filter((v): v is number => v !== undefined && v > 0 && Number.isFinite(v));
  const maxV = values.length ? Math.max(...values) : 1;
  const minV = values.length ? Math.min(...values) : 1;
  // Linear axis: a round step (1, 2 or 5 × 10^k) giving about five gridlines.
  const rough = maxV / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? 10 * magnitude;
  const lo = log ? 10 ** Math.floor(Math.log10(minV)) : 0;
  const hi = log ? 10 ** Math.ceil(Math.log10(maxV)) : Math.ceil(maxV / step) * step;
  const ticks: number[] = [];
  if (log) for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
  else for (let t = 0; t <= hi * 1.0001; t += step) ticks.push(t);

  const width = 960;
  const left = 70;
  const right = 20;
  const panelH = 230;
  const plotH = 170;
  const legendRows = Math.ceil(names.length / 2);
  const top = 40 + legendRows * 18;
  const height = top + chart.panels.length * panelH + 10;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(chart.title)}</text>`);
  names.forEach((name, i) => {
    const x = left + (i % 2) * 440;
    const y = 36 + Math.floor(i / 2) * 18;
    out.push(`<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${color(name)}"/><text x="${x + 17}" y="${y + 1}">${esc(name)}</text>`);
  });

  chart.panels.forEach((panel, p) => {
    const y0 = top + p * panelH;
    const plotTop = y0 + 22;
    const plotBottom = plotTop + plotH;
    const plotW = width - left - right;
    const yOf = (v: number) =>
      log ? plotBottom - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH : plotBottom - (v / hi) * plotH;
    out.push(`<text x="${left}" y="${y0 + 14}" font-size="13" font-weight="bold">${esc(panel.title)}</text>`);
    for (const t of ticks) {
      const y = yOf(t);
      out.push(`<line x1="${left}" x2="${width - right}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#ddd"/>`);
      out.push(`<text x="${left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" fill="#555">${fmtTick(t)}</text>`);
    }
    out.push(
      `<text transform="translate(${left - 52},${(plotTop + plotBottom) / 2}) rotate(-90)" text-anchor="middle" fill="#555">${esc(chart.yLabel)}${log ? " (log)" : ""}</text>`,
    );
    const groupW = plotW / Math.max(1, panel.categories.length);
    const barW = Math.max(3, Math.min(28, (groupW - 16) / Math.max(1, panel.series.length)));
    panel.categories.forEach((category, c) => {
      const gx = left + c * groupW;
      const used = barW * panel.series.length;
      panel.series.forEach((series, s) => {
        const v = series.values[c];
        const x = gx + (groupW - used) / 2 + s * barW;
        if (v === undefined || !(v > 0) || !Number.isFinite(v)) {
          out.push(`<text x="${(x + barW / 2).toFixed(1)}" y="${plotBottom - 3}" text-anchor="middle" fill="#aaa" font-size="9">–</text>`);
          return;
        }
        const y = Math.min(yOf(Math.max(v, lo)), plotBottom - 1);
        out.push(
          `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 1).toFixed(1)}" height="${(plotBottom - y).toFixed(1)}" fill="${color(series.name)}"><title>${esc(
            `${series.name} — ${category}: ${fmtTick(v)} ${chart.yLabel}`,
          )}</title></rect>`,
        );
        // The value on top of the bar, vertical so it fits narrow bars.
        out.push(
          `<text transform="translate(${(x + barW / 2 + 3).toFixed(1)},${(y - 3).toFixed(1)}) rotate(-90)" font-size="9" fill="#333">${fmtTick(v)}</text>`,
        );
      });
      out.push(`<text x="${(gx + groupW / 2).toFixed(1)}" y="${plotBottom + 15}" text-anchor="middle">${esc(category)}</text>`);
    });
    out.push(`<line x1="${left}" x2="${width - right}" y1="${plotBottom}" y2="${plotBottom}" stroke="#333"/>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
