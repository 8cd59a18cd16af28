/**
 * The policy node as a managed (lifecycle) node, as robot teams launch deployers:
 *
 *   npx tsx ros/main.ts --managed --ros-args --params-file ros/config/policy.yaml
 *   ros2 service call /o2o_policy/change_state lifecycle_msgs/srv/ChangeState "{transition: {id: 1}}"   # configure
 *
 *  - unconfigured: only the parameters exist (`ros2 param get/set` work; nothing is loaded);
 *  - configure (1): the policy is verified and loaded, topics and timers are created (a bad
 *    policy or parameter fails the transition, with the reason in the log);
 *  - activate (3): actions are published; deactivate (4): they stop (observations still arrive);
 *  - cleanup (2) / shutdown: the policy and every topic and timer are released.
 */
import { declareNodeParameters, rawParams } from './params.js';
import { PolicyNode, type PolicyNodeOptions } from './policy-node.js';
import { type RosLifecycleNode, type RosModule, TRANSITION, type TransitionResult } from './rcl-api.js';

export class ManagedPolicyNode {
  readonly node: RosLifecycleNode;
  /** The running policy node between configure and cleanup. */
  inner: PolicyNode | null = null;
  readonly nodeName: string;

  constructor(
    private readonly ros: RosModule,
    private readonly opts: PolicyNodeOptions = {},
  ) {
    this.nodeName = opts.nodeName ?? 'o2o_policy';
    this.node = ros.createLifecycleNode(this.nodeName, opts.namespace ?? '');
    const log = this.node.getLogger();
    declareNodeParameters(ros, this.node, this.nodeName, rawParams(opts, this.nodeName));
    // While unconfigured, values are only stored (configure checks them); afterwards the running node decides.
    this.node.addOnSetParametersCallback((ps) => this.inner?.applyParameters(ps) ?? { successful: true, reason: '' });
    const step = (what: string, f: () => void): TransitionResult => {
      try {
        f();
        return TRANSITION.SUCCESS;
      } catch (e) {
        log.error(`o2o_policy: ${what} failed: ${(e as Error).message}`);
        return TRANSITION.FAILURE;
      }
    };
    this.node.registerOnConfigure(() =>
      step('configure', () => {
        const inner = new PolicyNode(this.ros, { ...this.opts, node: this.node, active: false });
        this.inner = inner;
        inner.openRecorder().catch((e: Error) => log.error(`o2o_policy: cannot open the recorder: ${e.message}`));
        inner.openFleetLink().catch((e: Error) => log.error(`o2o_policy: cannot open the fleet link: ${e.message}`));
        log.info(`o2o_policy: configured (inactive): ${inner.runtime.version}`);
      }),
    );
    this.node.registerOnActivate(() =>
      step('activate', () => {
        if (!this.inner) throw new Error('not configured');
        this.inner.active = true;
        log.info('o2o_policy: active: publishing actions');
      }),
    );
    this.node.registerOnDeactivate(() =>
      step('deactivate', () => {
        if (this.inner) this.inner.active = false;
        log.info('o2o_policy: inactive: no actions published');
      }),
    );
    const release = (what: string) => () =>
      step(what, () => {
        const inner = this.inner;
        this.inner = null;
        if (inner) void inner.close();
        log.info(`o2o_policy: ${what}: policy and topics released`);
      });
    this.node.registerOnCleanup(release('cleanup'));
    this.node.registerOnShutdown(release('shutdown'));
  }

  async close(): Promise<void> {
    const inner = this.inner;
    this.inner = null;
    await inner?.close();
    this.node.destroy();
  }
}
