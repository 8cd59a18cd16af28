/**
 * Learning curves of fine-tuning runs from a metrics JSONL log: one JSON object per line, e.g.
 *   {"step": 1000, "online_steps": 500, "eval_return": -160.2, "eval_normalized": 83.1}
 * Lines without an evaluation (plain training metrics) are skipped. The x axis is online_steps
 * when every evaluated line has it (fine-tuning), otherwise step (offline training).
 */
import { existsSync, readFileSync } from 'node:fs';
import { EvaluationError } from './errors.js';

export interface CurvePoint {
  /** The plotted x: online_steps, or step when the log has no online_steps. */
  x: number;
  step: number | null;
  onlineSteps: number | null;
  evalReturn: number | null;
  evalNormalized: number | null;
}

export interface LearningCurve {
  source: string;
  xField: 'online_steps' | 'step';
  points: CurvePoint[];
}

function field(o: Record<string, unknown>, key: string, where: string): number | null {
  const v = o[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new EvaluationError(`${where}: "${key}" must be a finite number, got ${JSON.stringify(v)}; fix or delete the line`);
  return v;
}

/** Parses metrics JSONL text; `source` names the file in errors. */
export function parseCurve(text: string, source: string): LearningCurve {
  const raw: CurvePoint[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    const where = `${source}:${i + 1}`;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch (e) {
      const cut = i === lines.length - 1 ? ' (the last line may have been cut by a crash: delete it)' : '';
      throw new EvaluationError(
        `${where}: not valid JSON (${(e as Error).message})${cut}; each line must be one JSON object like {"step":1000,"online_steps":500,"eval_normalized":83.1}`,
      );
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o))
      throw new EvaluationError(`${where}: expected a JSON object, got ${line.slice(0, 40)}; each line must be one metrics record`);
    const rec = o as Record<string, unknown>;
    const evalReturn = field(rec, 'eval_return', where);
    const evalNormalized = field(rec, 'eval_normalized', where);
    if (evalReturn === null && evalNormalized === null) continue;
    const step = field(rec, 'step', where);
    const onlineSteps = field(rec, 'online_steps', where);
    if (step === null && onlineSteps === null)
      throw new EvaluationError(`${where}: an evaluation without "step" or "online_steps"; the curve needs an x value on every evaluated line`);
    raw.push({ x: 0, step, onlineSteps, evalReturn, evalNormalized });
  }
  if (raw.length === 0)
    throw new EvaluationError(
      `${source}: no evaluated lines (none has "eval_return" or "eval_normalized"); log evaluations during training (o2o train --eval-every N --log ${source})`,
    );
  const online = raw.every((p) => p.onlineSteps !== null);
  const points = raw.map((p) => ({ ...p, x: (online ? p.onlineSteps : p.step) ?? 0 }));
  if (!online && raw.some((p) => p.step === null))
    throw new EvaluationError(`${source}: some evaluated lines have "online_steps" and others only "step"; one log must use one x axis`);
  points.sort((a, b) => a.x - b.x);
  return { source, xField: online ? 'online_steps' : 'step', points };
}

export function readCurve(path: string): LearningCurve {
  if (!existsSync(path)) throw new EvaluationError(`${path}: no such metrics file; pass the JSONL written by 'o2o train --log' or the online learner`);
  return parseCurve(readFileSync(path, 'utf8'), path);
}
