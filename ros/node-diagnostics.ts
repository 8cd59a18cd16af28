/**
 * What the policy node publishes on /diagnostics: one DiagnosticStatus built from a snapshot of the
 * node (runtime status, act() latency and control-timer jitter windows, staleness, recorder and
 * fleet counters), and the fixed-size sample windows those percentiles come from.
 */
import type { PolicyKind } from '../src/nn/index.js';
import type { RuntimeStatus } from '../src/serve/index.js';
import { stampNow } from './messages.js';
import type { DiagnosticArrayMsg, KeyValueMsg } from './rcl-api.js';

/** diagnostic_msgs/DiagnosticStatus levels. */
const DIAG = { OK: 0, WARN: 1, ERROR: 2, STALE: 3 };

/** The last `size` samples (ms), allocation-free to add to; p50/p99 over what it holds. */
export class SampleWindow {
  private readonly values: Float64Array;
  private count = 0;

  constructor(size = 1024) {
    this.values = new Float64Array(size);
  }

  add(v: number): void {
    this.values[this.count++ % this.values.length] = v;
  }

  percentiles(): { p50: number; p99: number } {
    const n = Math.min(this.count, this.values.length);
    if (!n) return { p50: 0, p99: 0 };
    const s = Float64Array.from(this.values.subarray(0, n)).sort();
    return { p50: s[Math.floor(0.5 * (n - 1))]!, p99: s[Math.floor(0.99 * (n - 1))]! };
  }
}

export interface NodeSnapshot {
  nodeName: string;
  status: RuntimeStatus;
  policyKind: PolicyKind;
  /** act() latency and control-timer jitter, ms. */
  latency: { p50: number; p99: number };
  jitter: { p50: number; p99: number };
  /** No observation within the safety filter's staleness limit. */
  stale: boolean;
  controlRateHz: number;
  ticks: number;
  recordedTransitions: number;
  fleet: { spooled: number; acked: number; pending: number; connected: boolean } | null;
}

/** The node's DiagnosticArray: level WARN for a refused update or a replaced action, STALE for stale observations. */
export function nodeDiagnostics(n: NodeSnapshot): DiagnosticArrayMsg {
  const st = n.status;
  const f = st.faults;
  const replaced = f.nonFiniteObs + f.obsLength + f.badMessage + f.nonFiniteAction + f.stale + f.inference;
  const level = st.lastSwapError ? DIAG.WARN : n.stale ? DIAG.STALE : replaced > 0 && st.lastFault !== null ? DIAG.WARN : DIAG.OK;
  const kv = (key: string, value: string | number): KeyValueMsg => ({ key, value: String(value) });
  const us = (ms: number) => (ms * 1000).toFixed(1);
  return {
    header: { stamp: stampNow({ sec: 0, nanosec: 0 }), frame_id: '' },
    status: [
      {
        level,
        name: `${n.nodeName}: policy`,
        message: st.lastSwapError ? `refused update: ${st.lastSwapError}` : n.stale ? 'observations stale: sending the safe action' : `serving ${st.version}`,
        hardware_id: n.nodeName,
        values: [
          kv('policy_version', st.version),
          kv('policy_sha256', st.sha256),
          kv('verified_by', st.verifiedBy),
          kv('execution_provider', st.provider),
          kv('exploration', st.exploration),
          kv('control_rate_hz', n.controlRateHz),
          kv('ticks', n.ticks),
          kv('act_latency_p50_us', us(n.latency.p50)),
          kv('act_latency_p99_us', us(n.latency.p99)),
          kv('control_jitter_p50_us', us(n.jitter.p50)),
          kv('control_jitter_p99_us', us(n.jitter.p99)),
          kv('faults_replaced', replaced),
          kv('faults_non_finite_obs', f.nonFiniteObs),
          kv('faults_obs_length', f.obsLength),
          kv('faults_non_finite_action', f.nonFiniteAction),
          kv('faults_stale', f.stale),
          kv('actions_clipped', f.clipped),
          kv('actions_rate_limited', f.rateLimited),
          kv('swaps', st.swaps),
          kv('refused_swaps', st.refusedSwaps),
          kv('recorded_transitions', n.recordedTransitions),
          ...(st.episodeStep !== null
            ? [kv('policy_kind', n.policyKind), kv('episode_step', st.episodeStep), kv('return_to_go', st.returnToGo ?? 'none'), kv('target_return', st.targetReturn ?? 'none')]
            : []),
          ...(st.chunk
            ? [
                kv('action_horizon', st.chunk.actionHorizon),
                kv('chunk_length', st.chunk.chunkLength),
                kv('actions_queued', st.chunk.queued),
                kv('replans', st.chunk.replans),
                kv('temporal_ensembling', st.chunk.temporalEnsembling ?? 'off'),
              ]
            : []),
          ...(n.fleet
            ? [
                kv('fleet_transitions_spooled', n.fleet.spooled),
                kv('fleet_transitions_acked', n.fleet.acked),
                kv('fleet_transitions_pending', n.fleet.pending),
                kv('fleet_connected', String(n.fleet.connected)),
              ]
            : []),
        ],
      },
    ],
  };
}
