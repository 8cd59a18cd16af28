import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';

describe('npm run demo -- --quick', () => {
  it('runs the whole loop: dataset, offline Cal-QL, signed policy, broker, server, robots, online fine-tuning, report', async () => {
    const out = mkdtempSync(join(tmpdir(), 'o2o-demo-'));
    expect(await main(['demo', '--quick', '--out', out])).toBe(0);
    const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(s.dataset).toEqual({ recipe: 'hopper-medium-replay', transitions: 99_486 });
    // The budget is enforced per message: the last admitted batch may overshoot it by less than
    // one batch (64 rows) per robot.
    expect(s.online.onlineTransitions).toBeGreaterThanOrEqual(1200);
    expect(s.online.onlineTransitions).toBeLessThan(1200 + 3 * 64);
    expect(s.online.counters).toMatchObject({ transitions: s.online.onlineTransitions, duplicates: 0, ahead: 0, malformed: 0 });
    expect(s.online.updates).toBe(s.online.onlineTransitions);
    expect(s.online.published.length).toBeGreaterThanOrEqual(2);
    // The policy server hot-swapped to the learner's last published version.
    expect(s.servedVersion).toBe(s.online.published.at(-1));
    expect(s.curve.length).toBe(s.online.published.length + 1);
    for (const f of ['policy-offline.onnx', 'policy-offline.onnx.sig', 'policy-final.onnx', 'report/report.html', 'report/summary.json', 'online-curve.jsonl']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    expect(readFileSync(join(out, 'report/report.html'), 'utf8')).toContain('<svg');
  }, 600_000);
});
