import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { scrape } from '../helpers/metrics.js';
import { freePort } from '../helpers/services.js';

const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/latchkey.json', import.meta.url), 'utf8')) as Dashboard;

interface Target {
  expr: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown; definition?: string }[] };
}

// Registered on PostgreSQL only: the embedded engine has no pool.
const POSTGRES_ONLY = /^latchkey_db_pool_/;

/** Every metric name a query of the dashboard reads (its panels' and its variables'). */
function queriedNames(): Set<string> {
  const queries = [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dashboard.templating.list.map((v) => v.definition ?? ''),
  ];
  return new Set(queries.flatMap((q) => [...q.matchAll(/\b(?:latchkey|process|nodejs)_[a-z0-9_]+\b/g)].map((m) => m[0])));
}

/** Every series name a registry's text can hold: histograms as their _bucket, _sum and _count. */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    else if (type === 'summary') for (const suffix of ['', '_sum', '_count']) names.add(`${name}${suffix}`);
    else names.add(name!);
  }
  return names;
}

describe('the Grafana dashboard (deploy/grafana/latchkey.json)', () => {
  let t: TestApp;
  let text: string;
  beforeAll(async () => {
    const port = await freePort();
    t = await startTestApp({ env: { METRICS_PORT: String(port) } });
    text = await scrape(`http://127.0.0.1:${port}`);
  });
  afterAll(() => t.close());

  it('queries only metrics the server exposes', () => {
    const queried = queriedNames();
    expect(queried.size).toBeGreaterThan(15);
    const exposed = exposedNames(text);
    const missing = [...queried].filter((name) => !exposed.has(name));
    if (t.database.engine === 'postgres') expect(missing).toEqual([]);
    else expect(missing.filter((name) => !POSTGRES_ONLY.test(name))).toEqual([]);
  });

  it('shows every latchkey_* metric the server exposes', () => {
    const queried = queriedNames();
    const shown = (name: string) => queried.has(name) || queried.has(`${name}_count`);
    const unshown = [...text.matchAll(/^# TYPE (latchkey_\S+) /gm)].map((m) => m[1]!).filter((name) => !shown(name));
    // Entries per cache are for ad-hoc queries; the dashboard shows their hit rate.
    expect(unshown).toEqual(['latchkey_cache_entries']);
  });

  it('takes its data source from a variable: no data source of one installation is written in it', () => {
    const variable = dashboard.templating.list.find((v) => v.type === 'datasource');
    expect(variable).toMatchObject({ name: 'datasource', query: 'prometheus' });
    const panels = dashboard.panels.filter((p) => p.type !== 'row');
    expect(panels.length).toBeGreaterThan(15);
    for (const panel of panels) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets!) expect(target.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
  });
});
