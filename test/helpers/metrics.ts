/** One line of Prometheus' text format: a series and its value. */
export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** GET /metrics on the metrics listener; throws unless it answers 200. */
export async function scrape(baseUrl: string, token?: string): Promise<string> {
  const res = await fetch(`${baseUrl}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${await res.text()}`);
  return res.text();
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every series of the text, or those of one metric name. */
export function seriesOf(text: string, name?: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m || (name !== undefined && m[1] !== name)) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (m[2] ?? '').matchAll(LABEL)) labels[key!] = value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of a metric's series that carry these labels (0 when there is none). */
export function readSample(text: string, name: string, labels: Record<string, string> = {}): number {
  return seriesOf(text, name)
    .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}
