/**
 * An in-process implementation of RosModule: a tiny ROS graph in one JavaScript process, for
 * testing the policy node without ROS. Publishing delivers synchronously to matching
 * subscriptions; every endpoint's type and QoS is recorded (and a publisher/subscription pair
 * with different types or incompatible QoS does not connect, as in DDS); timers fire only when
 * the test calls fire(); parameters follow rcl's rule that overrides beat declared defaults.
 */
import type {
  DurabilityPolicy,
  HistoryPolicy,
  InMessage,
  OutMessage,
  ParamTypeCode,
  ReliabilityPolicy,
  RosLogger,
  RosModule,
  RosNode,
  RosParameter,
  RosPublisher,
  RosQoS,
  RosLifecycleNode,
  RosSubscriptionOptions,
  RosTimer,
  RosTypeName,
  SetParametersResultMsg,
  TransitionResult,
} from './rcl-api.js';

export class InProcessQoS implements RosQoS {
  constructor(
    readonly history: HistoryPolicy = 1,
    readonly depth = 10,
    readonly reliability: ReliabilityPolicy = 1,
    readonly durability: DurabilityPolicy = 2,
  ) {}
}

export class InProcessParameter implements RosParameter {
  constructor(
    readonly name: string,
    readonly type: ParamTypeCode,
    readonly value: unknown,
  ) {}
}

export interface Endpoint {
  node: string;
  topic: string;
  type: RosTypeName;
  qos: InProcessQoS;
  /** The publisher object handed to the node (publishers only). */
  handle?: RosPublisher;
}

interface Sub extends Endpoint {
  callback: (m: InMessage) => void;
}

export interface InProcessTimer extends RosTimer {
  readonly periodNs: bigint;
  readonly node: string;
  cancelled: boolean;
  fire(): void;
}

/** DDS request/offer rule: a reliable reader needs a reliable writer; transient_local needs transient_local. */
function compatible(pub: InProcessQoS, sub: InProcessQoS): boolean {
  return !(sub.reliability === 1 && pub.reliability === 2) && !(sub.durability === 1 && pub.durability === 2);
}

export class InProcessRos implements RosModule {
  readonly publishers: Endpoint[] = [];
  readonly subscriptions: Sub[] = [];
  readonly timers: InProcessTimer[] = [];
  readonly logs: { node: string; level: 'info' | 'warn' | 'error'; message: string }[] = [];
  /** Every message published, per topic. */
  readonly published = new Map<string, OutMessage[]>();
  /** Latched (transient_local) messages per topic, delivered to late subscribers. */
  private readonly latched = new Map<string, { qos: InProcessQoS; type: RosTypeName; msg: unknown }>();
  initialized = false;

  /** Parameter overrides, as rcl gets them from --params-file / launch: node name → values. */
  constructor(readonly overrides: Record<string, Record<string, unknown>> = {}) {}

  readonly QoS = InProcessQoS;
  readonly Parameter = InProcessParameter;

  init = async (): Promise<void> => {
    this.initialized = true;
  };

  spin = (): void => {};

  shutdown = (): void => {
    this.initialized = false;
  };

  /** Publish from "outside" (a test robot) to every compatible subscription. */
  publish(topic: string, type: RosTypeName, msg: unknown, qos = new InProcessQoS()): void {
    if (qos.durability === 1) this.latched.set(topic, { qos, type, msg });
    for (const s of this.subscriptions) if (s.topic === topic && s.type === type && compatible(qos, s.qos)) s.callback(msg as InMessage);
  }

  messages<T extends OutMessage>(topic: string): T[] {
    return (this.published.get(topic) ?? []) as T[];
  }

  /** Fires every live timer of a node whose period matches (or all, without a period). */
  fire(periodNs?: bigint): void {
    for (const t of this.timers) if (!t.cancelled && (periodNs === undefined || t.periodNs === periodNs)) t.fire();
  }

  readonly Node: new (nodeName: string, namespace?: string) => RosNode = ((graph: InProcessRos) =>
    class implements RosNode {
      private readonly params = new Map<string, InProcessParameter>();
      private readonly logger: RosLogger;
      constructor(
        readonly name: string,
        readonly namespace = '',
      ) {
        const log = (level: 'info' | 'warn' | 'error') => (message: string) => {
          graph.logs.push({ node: name, level, message });
          return true;
        };
        this.logger = { info: log('info'), warn: log('warn'), error: log('error') };
      }
      createPublisher = (type: RosTypeName, topic: string, options?: RosSubscriptionOptions): RosPublisher => {
        const qos = (options?.qos as InProcessQoS | undefined) ?? new InProcessQoS();
        const handle: RosPublisher = {
          publish: (msg: OutMessage) => {
            // Deliver a snapshot: publishers reuse their message objects, as rclnodejs serializes on publish.
            const copy = structuredClone(msg);
            const list = graph.published.get(topic) ?? [];
            list.push(copy);
            graph.published.set(topic, list);
            graph.publish(topic, type, copy, qos);
          },
        };
        graph.publishers.push({ node: this.name, topic, type, qos, handle });
        return handle;
      };
      createSubscription = (type: RosTypeName, topic: string, options: RosSubscriptionOptions, callback: (m: InMessage) => void): unknown => {
        const qos = (options.qos as InProcessQoS | undefined) ?? new InProcessQoS();
        const sub: Sub = { node: this.name, topic, type, qos, callback };
        graph.subscriptions.push(sub);
        const l = graph.latched.get(topic);
        if (l && l.type === type && compatible(l.qos, qos)) callback(l.msg as InMessage);
        return sub;
      };
      createTimer = (periodNs: bigint, callback: () => void): RosTimer => {
        const t: InProcessTimer = {
          periodNs,
          node: this.name,
          cancelled: false,
          fire: () => {
            if (!t.cancelled) callback();
          },
          cancel: () => {
            t.cancelled = true;
          },
        };
        graph.timers.push(t);
        return t;
      };
      declareParameter = (p: RosParameter): RosParameter => {
        if (this.params.has(p.name)) throw new Error(`parameter '${p.name}' already declared`);
        const o = { ...graph.overrides['/**'], ...graph.overrides[this.name] };
        const param = p.name in o ? new InProcessParameter(p.name, (p as InProcessParameter).type, o[p.name]) : (p as InProcessParameter);
        this.params.set(p.name, param);
        return param;
      };
      getParameter = (name: string): RosParameter => this.params.get(name) ?? new InProcessParameter(name, 4, undefined);
      private readonly onSet: ((ps: RosParameter[]) => SetParametersResultMsg)[] = [];
      addOnSetParametersCallback = (cb: (ps: RosParameter[]) => SetParametersResultMsg): void => {
        this.onSet.unshift(cb);
      };
      /** What a `ros2 param set` does: the callbacks decide, then the value is stored. */
      setParameter = (p: RosParameter): SetParametersResultMsg => {
        for (const cb of this.onSet) {
          const r = cb([p]);
          if (!r.successful) return r;
        }
        this.params.set(p.name, p as InProcessParameter);
        return { successful: true, reason: '' };
      };
      hasParameter = (name: string): boolean => this.params.has(name);
      getLogger = (): RosLogger => this.logger;
      destroyPublisher = (p: never): void => {
        const i = graph.publishers.findIndex((e) => e.handle === (p as unknown));
        if (i >= 0) graph.publishers.splice(i, 1);
      };
      destroySubscription = (sub: never): void => {
        const i = graph.subscriptions.indexOf(sub as Sub);
        if (i >= 0) graph.subscriptions.splice(i, 1);
      };
      destroyTimer = (t: never): void => (t as InProcessTimer).cancel();
      destroy = (): void => {
        for (let i = graph.subscriptions.length - 1; i >= 0; i--) if (graph.subscriptions[i]!.node === this.name) graph.subscriptions.splice(i, 1);
      };
    })(this);

  /** A lifecycle node: transitions are driven by the test with transition(), as the lifecycle services would. */
  readonly createLifecycleNode = (
    nodeName: string,
    namespace?: string,
  ): RosLifecycleNode & { transition: (t: 'configure' | 'activate' | 'deactivate' | 'cleanup' | 'shutdown') => TransitionResult } => {
    const node = new this.Node(nodeName, namespace);
    const cbs = new Map<string, (prev: unknown) => TransitionResult>();
    const reg = (t: string) => (cb: (prev: unknown) => TransitionResult) => void cbs.set(t, cb);
    return Object.assign(node, {
      registerOnConfigure: reg('configure'),
      registerOnActivate: reg('activate'),
      registerOnDeactivate: reg('deactivate'),
      registerOnCleanup: reg('cleanup'),
      registerOnShutdown: reg('shutdown'),
      transition: (t: string): TransitionResult => cbs.get(t)?.(null) ?? 97,
    });
  };
}
