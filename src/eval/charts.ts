/**
 * Report charts: Vega-Lite specs rendered to standalone SVG strings in Node (vega's headless
 * 'none' renderer: no browser, no canvas, no network — data is inlined in each spec).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { EvalSummary } from './evaluate-policy.js';

const WIDTH = 560;
const SIM = '#4c78a8';
const REAL = '#e45756';
const NOMINAL_GAP = '#72b7b2';

const CONFIG = {
  font: 'Helvetica, Arial, sans-serif',
  axis: { labelFontSize: 12, titleFontSize: 12, titleFontWeight: 'normal' as const, gridColor: '#e6e6e6' },
  title: { fontSize: 14, anchor: 'start' as const, offset: 10 },
  legend: { labelFontSize: 12, titleFontSize: 12, orient: 'bottom' as const, labelLimit: 400 },
  view: { stroke: null },
};

/** Renders a Vega-Lite spec to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const vg = compile(spec).spec;
  const view = new vega.View(vega.parse(vg), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function groups(s: EvalSummary): { name: string; kind: 'sim' | 'real' }[] {
  return [...s.profiles.map((p) => ({ name: p.name, kind: 'sim' as const })), ...(s.real ? [{ name: 'real (logged)', kind: 'real' as const }] : [])];
}

/** Simulated profiles vs logged real runs; the legend lists only what the summary has. */
function kindColor(s: EvalSummary): Record<string, unknown> {
  const domain = s.real ? ['sim', 'real'] : ['sim'];
  return {
    field: 'kind',
    type: 'nominal',
    scale: { domain, range: [SIM, REAL].slice(0, domain.length) },
    legend: { title: null, labelExpr: "datum.label == 'sim' ? 'simulated profile' : 'logged real runs'" },
  };
}

/** Box plot (whiskers min..max) of episode returns per profile, every episode drawn as a tick. */
export function distributionSpec(s: EvalSummary): TopLevelSpec {
  const values = [
    ...s.profiles.flatMap((p) => p.returns.map((r) => ({ group: p.name, kind: 'sim', ret: r }))),
    ...(s.real ? s.real.returns.map((r) => ({ group: 'real (logged)', kind: 'real', ret: r })) : []),
  ];
  const y = { field: 'group', type: 'nominal' as const, sort: groups(s).map((g) => g.name), title: null };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Episode returns per profile', subtitle: `box: quartiles, whiskers: min–max, ticks: single episodes (${s.episodes} per profile)` },
    width: WIDTH,
    height: { step: 44 },
    data: { values },
    config: CONFIG,
    encoding: { y, x: { field: 'ret', type: 'quantitative', title: 'episode return', scale: { zero: false } }, color: kindColor(s) },
    layer: [
      { mark: { type: 'boxplot', extent: 'min-max', size: 26, opacity: 0.35, median: { color: '#222' } } },
      { mark: { type: 'tick', thickness: 1.5, size: 18, opacity: 0.8 } },
    ],
  } as TopLevelSpec;
}

/** Normalized score (bar) with its bootstrap CI (error bar) per profile and for the real runs. */
export function scoreSpec(s: EvalSummary): TopLevelSpec {
  const values = [
    ...s.profiles.map((p) => ({ group: p.name, kind: 'sim', score: p.normalizedMean, lo: p.normalizedCI.lo, hi: p.normalizedCI.hi })),
    ...(s.real ? [{ group: 'real (logged)', kind: 'real', score: s.real.normalizedMean, lo: s.real.normalizedCI.lo, hi: s.real.normalizedCI.hi }] : []),
  ];
  const x = { field: 'group', type: 'nominal' as const, sort: groups(s).map((g) => g.name), title: null, axis: { labelAngle: 0 } };
  const pct = Math.round(s.ci.level * 100);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: `Normalized score with ${pct}% CI`,
      subtitle: `100 · (R − random ${s.refScores.random}) / (expert ${s.refScores.expert} − random); bootstrap, ${s.ci.resamples} resamples`,
    },
    width: WIDTH,
    height: 260,
    data: { values },
    config: CONFIG,
    encoding: { x },
    layer: [
      { mark: { type: 'bar', size: 48, opacity: 0.85 }, encoding: { y: { field: 'score', type: 'quantitative', title: 'normalized score' }, color: kindColor(s) } },
      {
        mark: { type: 'errorbar', ticks: { size: 14 }, color: '#222', thickness: 1.5 },
        encoding: { y: { field: 'lo', type: 'quantitative', title: 'normalized score' }, y2: { field: 'hi' } },
      },
      {
        mark: { type: 'text', dy: -8, align: 'left', dx: 28, fontSize: 12 },
        encoding: { y: { field: 'hi', type: 'quantitative', title: 'normalized score' }, text: { field: 'score', type: 'quantitative', format: '.1f' } },
      },
    ],
  } as TopLevelSpec;
}

/** The gap per profile: nominal − profile (sim-to-sim) and profile − real runs, in normalized points with CIs. */
export function gapSpec(s: EvalSummary): TopLevelSpec | null {
  const values = [
    ...s.profiles
      .filter((p) => p.gapToNominal)
      .map((p) => ({ group: p.name, series: 'nominal − profile', gap: p.gapToNominal!.normalized, lo: p.gapToNominal!.normalizedCI.lo, hi: p.gapToNominal!.normalizedCI.hi })),
    ...s.profiles
      .filter((p) => p.gapToReal)
      .map((p) => ({ group: p.name, series: 'profile − real runs', gap: p.gapToReal!.normalized, lo: p.gapToReal!.normalizedCI.lo, hi: p.gapToReal!.normalizedCI.hi })),
  ];
  if (values.length === 0) return null;
  const series = [...new Set(values.map((v) => v.series))];
  const pct = Math.round(s.ci.level * 100);
  const y = { field: 'group', type: 'nominal' as const, sort: s.profiles.map((p) => p.name), title: null };
  const seriesColor = {
    field: 'series',
    type: 'nominal' as const,
    scale: { domain: series, range: series.map((x) => (x === 'nominal − profile' ? NOMINAL_GAP : REAL)) },
    legend: { title: null },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: s.real ? 'Sim-to-real gap (normalized points)' : 'Gap to nominal (normalized points)',
      subtitle: `positive: the policy scores lower on the second; bars: ${pct}% bootstrap CI of the difference`,
    },
    width: WIDTH,
    height: { step: 16 * Math.max(2, series.length) },
    data: { values },
    config: CONFIG,
    layer: [
      {
        data: { values: [{ zero: 0 }] },
        mark: { type: 'rule', color: '#888', strokeDash: [4, 3] },
        encoding: { x: { field: 'zero', type: 'quantitative', title: 'gap (normalized points)' } },
      },
      {
        encoding: { y, yOffset: { field: 'series', type: 'nominal', sort: series }, color: seriesColor },
        layer: [
          {
            mark: { type: 'errorbar', ticks: { size: 8 }, thickness: 2 },
            encoding: { x: { field: 'lo', type: 'quantitative', title: 'gap (normalized points)' }, x2: { field: 'hi' } },
          },
          { mark: { type: 'point', filled: true, size: 70 }, encoding: { x: { field: 'gap', type: 'quantitative', title: 'gap (normalized points)' } } },
        ],
      },
    ],
  } as TopLevelSpec;
}

/** Normalized score vs online steps (or training steps) of a fine-tuning run. */
export function curveSpec(s: EvalSummary): TopLevelSpec | null {
  const c = s.curve;
  if (!c) return null;
  const values = c.points.filter((p) => p.evalNormalized !== null).map((p) => ({ x: p.x, score: p.evalNormalized }));
  if (values.length === 0) return null;
  const xTitle = c.xField === 'online_steps' ? 'online environment steps' : 'training steps';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: 'Learning curve', subtitle: `normalized evaluation score vs ${xTitle} (${c.source})` },
    width: WIDTH,
    height: 260,
    data: { values },
    config: CONFIG,
    encoding: { x: { field: 'x', type: 'quantitative', title: xTitle }, y: { field: 'score', type: 'quantitative', title: 'normalized score', scale: { zero: false } } },
    layer: [{ mark: { type: 'line', color: SIM, strokeWidth: 2 } }, { mark: { type: 'point', filled: true, color: SIM, size: 40 } }],
  } as TopLevelSpec;
}

export interface ReportCharts {
  distribution: string;
  score: string;
  gap: string | null;
  curve: string | null;
}

/** All charts of a summary as SVG strings (null where the summary has nothing to draw). */
export async function renderCharts(s: EvalSummary): Promise<ReportCharts> {
  const gap = gapSpec(s);
  const curve = curveSpec(s);
  return {
    distribution: await renderSvg(distributionSpec(s)),
    score: await renderSvg(scoreSpec(s)),
    gap: gap ? await renderSvg(gap) : null,
    curve: curve ? await renderSvg(curve) : null,
  };
}
