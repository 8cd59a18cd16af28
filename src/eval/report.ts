/**
 * Evaluation reports: one self-contained HTML page (inline SVG charts, inline CSS, no scripts and
 * no external assets — it opens offline and can be mailed) and the JSON summary it was made from.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeAtomic } from '../serve/index.js';
import { renderCharts, type ReportCharts } from './charts.js';
import type { EvalSummary, Gap, ProfileResult, SampleSummary } from './evaluate-policy.js';

export interface ReportFiles {
  dir: string;
  html: string;
  json: string;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const f1 = (x: number): string => (Number.isFinite(x) ? (Math.abs(x) < 0.05 ? 0 : x).toFixed(1) : '–');
const ci = (i: { lo: number; hi: number }): string => `[${f1(i.lo)}, ${f1(i.hi)}]`;
const pval = (p: number): string => (p < 0.001 ? p.toExponential(1) : p.toFixed(3));

function gapCell(g: Gap | null): string {
  if (!g) return '<td>–</td><td>–</td><td>–</td>';
  const w = g.welch ? `${pval(g.welch.p)}` : '–';
  return `<td>${f1(g.normalized)}</td><td>${ci(g.normalizedCI)}</td><td>${w}</td>`;
}

const pct1 = (x: number): string => (Number.isFinite(x) ? (100 * x).toFixed(0) : '–');

/** The success-rate cell: "99 % [95, 100]" (Wilson interval), '–' where the episodes report none. */
function successCell(p: Pick<ProfileResult, 'successRate' | 'successCI'> | null): string {
  if (!p || p.successRate === null) return '<td>–</td>';
  return `<td>${pct1(p.successRate)} %${p.successCI ? ` [${pct1(p.successCI.lo)}, ${pct1(p.successCI.hi)}]` : ''}</td>`;
}

function row(name: string, s: SampleSummary, terminated: number | null, success: string, extra: string): string {
  return `<tr><th scope="row">${escapeHtml(name)}</th><td>${s.returns.length}</td><td>${terminated ?? '–'}</td><td>${f1(s.mean)} ± ${f1(s.std)}</td><td>${ci(s.ci)}</td>${success}<td><b>${f1(s.normalizedMean)}</b></td><td>${ci(s.normalizedCI)}</td><td>${f1(s.meanLength)}</td>${extra}</tr>`;
}

function resultsTable(s: EvalSummary): string {
  const pct = Math.round(s.ci.level * 100);
  const real = s.real !== null;
  // Tasks with a goal (their env reports info.success) get a success-rate column beside the return.
  const success = s.profiles.some((p) => p.successRate !== null && p.successRate !== undefined);
  const head =
    `<tr><th>profile</th><th>episodes</th><th>ended early</th><th>return mean ± sd</th><th>${pct}% CI</th>${success ? `<th>success (${pct}% CI)</th>` : ''}<th>normalized</th><th>${pct}% CI</th><th>mean length</th>` +
    `<th>gap to nominal</th><th>${pct}% CI</th><th>Welch p</th>${real ? `<th>gap to real</th><th>${pct}% CI</th><th>Welch p</th>` : ''}</tr>`;
  const rows = s.profiles.map((p) => row(p.name, p, p.terminated, success ? successCell(p) : '', gapCell(p.gapToNominal) + (real ? gapCell(p.gapToReal) : '')));
  if (s.real)
    rows.push(
      row(
        'real (logged)',
        s.real,
        s.real.terminated,
        success ? successCell(null) : '',
        `<td colspan="${real ? 6 : 3}" class="note">${s.real.incomplete ? `${s.real.incomplete} unfinished episode(s) left out` : ''}</td>`,
      ).replace('<tr>', '<tr class="real">'),
    );
  return `<table><thead>${head}</thead><tbody>${rows.join('\n')}</tbody></table>`;
}

function histogramTable(s: EvalSummary): string {
  const groups = [...s.profiles.map((p) => ({ name: p.name, h: p.histogram })), ...(s.real ? [{ name: 'real (logged)', h: s.real.histogram }] : [])];
  const bins = groups[0]?.h ?? [];
  const head = `<tr><th>return bin</th>${groups.map((g) => `<th>${escapeHtml(g.name)}</th>`).join('')}</tr>`;
  const rows = bins.map((b, i) => `<tr><th scope="row">${f1(b.lo)} … ${f1(b.hi)}</th>${groups.map((g) => `<td>${g.h[i]!.count || ''}</td>`).join('')}</tr>`);
  return `<details><summary>Return histograms (episodes per bin, shared bins)</summary><table class="hist"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table></details>`;
}

function curveTable(s: EvalSummary): string {
  if (!s.curve) return '';
  const c = s.curve;
  const first = c.points[0];
  const last = c.points.at(-1);
  const norm = c.points.map((p) => p.evalNormalized).filter((v): v is number => v !== null);
  const min = norm.length ? Math.min(...norm) : Number.NaN;
  return `<p>${c.points.length} evaluations from ${escapeHtml(c.source)}; x = ${c.xField}. Score ${f1(first?.evalNormalized ?? Number.NaN)} at ${first?.x} → ${f1(last?.evalNormalized ?? Number.NaN)} at ${last?.x}; lowest ${f1(min)}${first?.evalNormalized != null ? ` (largest dip below the first evaluation: ${f1(Math.max(0, first.evalNormalized - min))} points)` : ''}.</p>`;
}

function figure(svg: string | null, caption: string): string {
  return svg ? `<figure>${svg}<figcaption>${caption}</figcaption></figure>` : '';
}

const CSS = `body{font-family:Helvetica,Arial,sans-serif;margin:24px auto;max-width:1000px;color:#222;line-height:1.4;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:13px}.meta code{font-size:12px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ddd;padding:4px 8px;text-align:right}td{white-space:nowrap}
thead th{background:#f3f5f8}tbody th{text-align:left}tr.real{background:#fdf0f0}td.note{text-align:left;color:#666}
figure{margin:16px 0}figcaption{font-size:12px;color:#666}.warn{background:#fff7e0;border:1px solid #f0d890;padding:8px 12px;font-size:13px}
details{font-size:13px;margin:8px 0}table.hist td{min-width:60px}.charts{display:flex;flex-wrap:wrap;gap:8px}`;

/** The report page for `s`, with `charts` from renderCharts(s). */
export function renderHtml(s: EvalSummary, charts: ReportCharts): string {
  const pol = s.policy;
  const card = pol.card
    ? `${escapeHtml(pol.card.name)} v${escapeHtml(pol.card.version)} (${escapeHtml(pol.card.algorithm)}, dataset ${escapeHtml(pol.card.datasetId)}, ${pol.card.trainingSteps} steps)`
    : 'no o2o card (foreign or unsealed export)';
  const title = `Sim-to-real evaluation: ${s.task}`;
  const warnings = s.warnings.length ? `<div class="warn"><b>Warnings</b><ul>${s.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul></div>` : '';
  const realLine = s.real
    ? `<br>Real runs: <code>${escapeHtml(s.real.source)}</code>${s.real.envId ? ` (env '${escapeHtml(s.real.envId)}')` : ''}, ${s.real.returns.length} complete episodes.`
    : '';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${CSS}</style></head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="meta">Policy <code>${escapeHtml(pol.source)}</code>${pol.sha256 ? ` (sha256 ${pol.sha256.slice(0, 16)}…)` : ''}: ${card}; ${pol.obsDim} → ${pol.actDim}.<br>
${s.episodes} episodes per profile, reset seeds ${s.seed}…${s.seed + s.episodes - 1}, the same for every profile. Measured ${escapeHtml(s.createdAt)} on ${escapeHtml(s.machine)}.<br>
Reference scores: random ${s.refScores.random}, expert ${s.refScores.expert} — ${escapeHtml(s.refScores.note)}${realLine}</p>
${warnings}
<h2>Results</h2>
${resultsTable(s)}
<p class="meta">CI: ${escapeHtml(s.ci.method)}, ${Math.round(s.ci.level * 100)}%, ${s.ci.resamples} resamples, seed ${s.ci.seed}. ${escapeHtml(s.gapDefinition)}. Test: ${escapeHtml(s.test)}.</p>
${histogramTable(s)}
<h2>Charts</h2>
<div class="charts">
${figure(charts.score, 'Normalized score per profile (bars) with the bootstrap confidence interval of the mean (error bars).')}
${figure(charts.gap, s.real ? 'Gap per profile: nominal minus profile, and profile minus logged real runs.' : 'Gap per profile: nominal minus profile.')}
${figure(charts.distribution, 'Distribution of episode returns per profile.')}
</div>
${s.curve ? `<h2>Fine-tuning learning curve</h2>${curveTable(s)}${figure(charts.curve, 'Normalized evaluation score during fine-tuning.')}` : ''}
</body></html>
`;
}

/** Renders the charts and writes `<dir>/report.html` and `<dir>/summary.json` (atomically). */
export async function writeReport(s: EvalSummary, dir: string): Promise<ReportFiles> {
  mkdirSync(dir, { recursive: true });
  const charts = await renderCharts(s);
  const html = join(dir, 'report.html');
  const json = join(dir, 'summary.json');
  writeAtomic(json, `${JSON.stringify(s, null, 2)}\n`);
  writeAtomic(html, renderHtml(s, charts));
  return { dir, html, json };
}
