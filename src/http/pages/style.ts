import { createHash } from 'node:crypto';
import type { Palette } from './colours.js';

/**
 * The one stylesheet of the hosted pages (served at /assets/latchkey-<hash>.css, cached for a year): readable from
 * 320 px wide up, light or dark as the system prefers, focus always visible. Built once at start-up with the
 * accent of BRAND_COLOR (./colours.ts); its path is named by a hash of its text, so a new colour is a new path and
 * no browser keeps the old one.
 */
export interface Stylesheet {
  text: string;
  path: string;
}

export function buildStylesheet({ light, dark }: Palette): Stylesheet {
  const text = `:root{color-scheme:light dark;--fg:#1d1d1f;--bg:#fff;--muted:#5f6368;--line:#d0d4da;--accent:${light.accent};--accent-fg:${light.accentFg};--error:#b00020;--ok:#0a7a2f;--card:#f6f7f9}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaed;--bg:#16181c;--muted:#a8adb4;--line:#3c4047;--accent:${dark.accent};--accent-fg:${dark.accentFg};--error:#ff8a80;--ok:#81c995;--card:#202329}}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;justify-content:space-between;align-items:center;padding:.75rem 1rem;border-bottom:1px solid var(--line)}
header a{color:var(--fg);font-weight:600;text-decoration:none}
header img{display:block;height:2rem;width:auto;max-width:12rem}
header span{font-size:.9rem;text-align:right;overflow-wrap:anywhere;margin-left:1rem}
main{max-width:34rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 1rem}h2{font-size:1.15rem;margin:2rem 0 .5rem}
label{display:block;margin:1rem 0 .25rem;font-weight:500}
input{width:100%;padding:.6rem .7rem;font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--line);border-radius:.4rem}
input[aria-invalid=true]{border-color:var(--error)}
button,.button{display:inline-block;margin-top:1.25rem;padding:.6rem 1.1rem;font:inherit;font-weight:600;color:var(--accent-fg);background:var(--accent);border:0;border-radius:.4rem;cursor:pointer;text-decoration:none}
button.secondary{color:var(--fg);background:var(--card);border:1px solid var(--line)}
button.danger{color:#fff;background:#b00020}
:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
a{color:var(--accent)}
.hint{color:var(--muted);font-size:.9rem;margin:.25rem 0 0}
.field-error,.error{color:var(--error)}
.field-error{margin:.25rem 0 0;font-size:.95rem}
.ok{color:var(--ok)}
.alert{padding:.75rem 1rem;border:1px solid var(--error);border-radius:.4rem;margin:0 0 1rem}
.notice{padding:.75rem 1rem;border:1px solid var(--ok);border-radius:.4rem;margin:0 0 1rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:1rem;margin:.75rem 0}
ul.sessions{list-style:none;padding:0;margin:0}
ul.sessions li{padding:.6rem 0;border-bottom:1px solid var(--line)}
ul.sessions li:last-child{border-bottom:0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:0}dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
form.inline{display:inline}
select{padding:.6rem .7rem;font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--line);border-radius:.4rem}
h1{overflow-wrap:anywhere}td form.inline button{margin-top:0;padding:.3rem .7rem}nav.paging{display:flex;gap:1rem;margin:1rem 0}caption{text-align:left;margin-bottom:.5rem}
h3{font-size:1rem;margin:0 0 .25rem}
.qr{width:12rem;max-width:100%;background:#fff;padding:.5rem;border-radius:.4rem}.qr svg{display:block;width:100%;height:auto}
main.wide{max-width:72rem}
nav.console{display:flex;flex-wrap:wrap;gap:.25rem 1rem;padding:.5rem 1rem;border-bottom:1px solid var(--line);background:var(--card)}
nav.console a{text-decoration:none;padding:.25rem 0}nav.console a[aria-current=page]{font-weight:700;text-decoration:underline}
.table-wrap{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.95rem}th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}th{color:var(--muted);font-weight:600}
select[aria-invalid=true]{border-color:var(--error)}form.filters.hinted{align-items:flex-start}form.filters.hinted>.actions{align-self:flex-end}
ul.codes{columns:2;list-style:none;padding:0;font-size:1.1rem}code{font-family:ui-monospace,monospace}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(9.5rem,1fr));gap:.75rem;list-style:none;padding:0;margin:0 0 1rem}.figures li{display:flex;flex-direction:column;min-width:0;overflow-wrap:anywhere;background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.75rem 1rem}.figures .label{color:var(--muted);font-size:.9rem}.figures .value{font-size:1.6rem;font-weight:700;line-height:1.3}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));gap:.75rem}figure.chart{margin:0;background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.75rem 1rem}figure.chart figcaption{font-weight:600;margin:0 0 .5rem}.chart svg{display:block;width:100%;height:auto}.chart .bar{fill:var(--accent)}.chart .bar.failed{fill:var(--error)}.chart .axis{stroke:var(--line)}.chart text{fill:var(--muted);font-size:10px}
details{margin:1rem 0}summary{cursor:pointer}caption{text-align:left;color:var(--muted);padding:.25rem 0}
fieldset{border:1px solid var(--line);border-radius:.4rem;margin:1rem 0 0;padding:.25rem 1rem .5rem}legend{font-weight:500;padding:0 .25rem}label.check{display:flex;gap:.5rem;align-items:center;margin:.4rem 0;font-weight:400}label.check input{width:auto;margin:0}
select{padding:.5rem .6rem;font:inherit;color:var(--fg);background:var(--bg);border:1px solid var(--line);border-radius:.4rem;max-width:100%}form.filters{display:flex;flex-wrap:wrap;gap:0 1rem;align-items:flex-end}form.filters>div{max-width:100%}form.filters label{margin-top:.5rem}form.filters button{margin-top:.5rem}
td form button,td .button{margin-top:0;padding:.3rem .75rem}.url{overflow-wrap:anywhere}th[scope=row]{white-space:nowrap}
button.copy{margin:.25rem 0 0;padding:.3rem .7rem;font-size:.9rem}
.copy-status{margin:.25rem 0 0;min-height:1.5em;color:var(--ok);font-size:.9rem}
`;
  return { text, path: `/assets/latchkey-${createHash('sha256').update(text).digest('hex').slice(0, 12)}.css` };
}
