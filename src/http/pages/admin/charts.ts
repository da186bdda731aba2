import { html, type Html } from '../html.js';

/**
 * Bar charts drawn on the server as inline SVG: no script, no style attribute (the CSP refuses them), only SVG's
 * presentation attributes for the geometry and classes of the stylesheet for the colours, so that the dark scheme
 * recolours them. A chart is one image to assistive technology (role="img"), named by a sentence that says what it
 * shows; the numbers themselves are in a table beside it.
 */

export interface Series {
  /** The chart's id, for its title's. */
  id: string;
  /** What is counted, as a heading says it: "Sign-ins per day". */
  caption: string;
  /** What one is called in a sentence: "sign-in", "sign-ins". */
  unit: readonly [string, string];
  points: readonly { date: string; n: number }[];
  /** A class of the stylesheet for the bars: `bar` or `bar failed`. */
  barClass: string;
}

const W = 300;
const H = 120;
const LEFT = 30;
const BOTTOM = 16;
const TOP = 8;

const count = (n: number, [one, many]: readonly [string, string]) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

/** The sentence that names a chart: the total, the busiest day, the days with none. */
export function summaryOf(s: Series): string {
  const total = s.points.reduce((sum, p) => sum + p.n, 0);
  const first = s.points[0]?.date ?? '';
  const last = s.points.at(-1)?.date ?? '';
  if (total === 0) return `${s.caption}, ${first} to ${last} (UTC): none.`;
  const busiest = s.points.reduce((a, b) => (b.n > a.n ? b : a));
  const empty = s.points.filter((p) => p.n === 0).length;
  return `${s.caption}, ${first} to ${last} (UTC): ${count(total, s.unit)} in all, at most ${busiest.n.toLocaleString('en-US')} on ${busiest.date}${empty > 0 ? `, none on ${empty} day${empty === 1 ? '' : 's'}` : ''}.`;
}

/** A rounded top for the scale: 1, 2 or 5 times a power of ten, at least the largest value. */
function scaleTop(max: number): number {
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 5, 10].map((m) => m * power).find((v) => v >= max)!;
}

export function barChart(s: Series): Html {
  const top = scaleTop(Math.max(0, ...s.points.map((p) => p.n)));
  const plotW = W - LEFT;
  const plotH = H - TOP - BOTTOM;
  const step = plotW / Math.max(1, s.points.length);
  const bars = s.points.map((p, i) => {
    if (p.n === 0) return '';
    const h = Math.max(1, (p.n / top) * plotH);
    return html`<rect class="${s.barClass}" x="${(LEFT + i * step + 0.5).toFixed(1)}" y="${(TOP + plotH - h).toFixed(1)}" width="${Math.max(1, step - 1).toFixed(1)}" height="${h.toFixed(1)}"><title>${p.date}: ${p.n}</title></rect>`;
  });
  const day = (date: string | undefined) => (date ?? '').slice(5);
  const titleId = `${s.id}-title`;
  return html`<figure class="chart"><figcaption>${s.caption}</figcaption>
<svg role="img" aria-labelledby="${titleId}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}"><title id="${titleId}">${summaryOf(s)}</title>
<line class="axis" x1="${LEFT}" y1="${TOP}" x2="${W}" y2="${TOP}"/><line class="axis" x1="${LEFT}" y1="${TOP + plotH}" x2="${W}" y2="${TOP + plotH}"/>
<text x="${LEFT - 4}" y="${TOP + 4}" text-anchor="end">${top.toLocaleString('en-US')}</text><text x="${LEFT - 4}" y="${TOP + plotH}" text-anchor="end">0</text>
${bars}
<text x="${LEFT}" y="${H - 3}">${day(s.points[0]?.date)}</text><text x="${W}" y="${H - 3}" text-anchor="end">${day(s.points.at(-1)?.date)}</text>
</svg></figure>`;
}
