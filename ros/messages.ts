/**
 * ROS messages ↔ the policy's flat observation / action vectors. Readers write into the
 * runtime's observation buffer; writers fill one reused message object per publisher.
 */
import type { ActionType, Float32MultiArrayMsg, InMessage, JointStateMsg, ObservationType, OutMessage, TimeMsg, TwistMsg } from './rcl-api.js';

type Field = 'position' | 'velocity' | 'effort';

export interface ObservationReader {
  /** Writes the observation into `out`; returns the number of values the message held (≠ out.length: a fault). */
  read(msg: InMessage, out: Float32Array): number;
  /** Header stamp in ms since the epoch, or null when the message has none (or it is zero). */
  stampMs(msg: InMessage): number | null;
}

export function observationReader(type: ObservationType, fields: string[], joints: string[]): ObservationReader {
  if (type === 'std_msgs/msg/Float32MultiArray') {
    return {
      read(msg, out) {
        const d = (msg as Float32MultiArrayMsg).data ?? [];
        const n = Math.min(d.length, out.length);
        for (let i = 0; i < n; i++) out[i] = d[i]!;
        return d.length;
      },
      stampMs: () => null,
    };
  }
  if (type === 'geometry_msgs/msg/Twist') {
    return {
      read(msg, out) {
        const t = msg as TwistMsg;
        if (!t.linear || !t.angular) return 0;
        if (out.length >= 6) {
          out[0] = t.linear.x;
          out[1] = t.linear.y;
          out[2] = t.linear.z;
          out[3] = t.angular.x;
          out[4] = t.angular.y;
          out[5] = t.angular.z;
        }
        return 6;
      },
      stampMs: () => null,
    };
  }
  return {
    read(msg, out) {
      const js = msg as JointStateMsg;
      let k = 0;
      for (const f of fields as Field[]) {
        const arr = js[f] ?? [];
        if (joints.length) {
          for (const j of joints) {
            const idx = js.name?.indexOf(j) ?? -1;
            if (idx < 0 || idx >= arr.length) return -1; // a joint is missing: wrong message
            if (k < out.length) out[k] = arr[idx]!;
            k++;
          }
        } else {
          for (let i = 0; i < arr.length; i++, k++) if (k < out.length) out[k] = arr[i]!;
        }
      }
      return k;
    },
    stampMs(msg) {
      const s = (msg as JointStateMsg).header?.stamp;
      return s && (s.sec || s.nanosec) ? s.sec * 1000 + s.nanosec / 1e6 : null;
    },
  };
}

export function stampNow(t: TimeMsg, nowMs = Date.now()): TimeMsg {
  t.sec = Math.floor(nowMs / 1000);
  t.nanosec = Math.round((nowMs - t.sec * 1000) * 1e6);
  return t;
}

export interface ActionWriter {
  /** Fills the reused message with `action` and returns it. */
  write(action: Float32Array): OutMessage;
}

export function actionWriter(type: ActionType, actDim: number, joints: string[], field: string): ActionWriter {
  if (type === 'std_msgs/msg/Float32MultiArray') {
    const msg: Float32MultiArrayMsg = { layout: { dim: [{ label: 'action', size: actDim, stride: actDim }], data_offset: 0 }, data: new Float32Array(actDim) };
    return {
      write(a) {
        (msg.data as Float32Array).set(a);
        return msg;
      },
    };
  }
  if (type === 'geometry_msgs/msg/Twist') {
    const msg: TwistMsg = { linear: { x: 0, y: 0, z: 0 }, angular: { x: 0, y: 0, z: 0 } };
    return {
      write(a) {
        msg.linear.x = a[0] ?? 0;
        msg.linear.y = a[1] ?? 0;
        msg.linear.z = a[2] ?? 0;
        msg.angular.x = a[3] ?? 0;
        msg.angular.y = a[4] ?? 0;
        msg.angular.z = a[5] ?? 0;
        return msg;
      },
    };
  }
  const names = joints.length ? joints : Array.from({ length: actDim }, (_, i) => `joint_${i}`);
  if (names.length !== actDim) throw new Error(`action_joints has ${names.length} names, the policy has ${actDim} actions; list one joint per action`);
  const values = new Float64Array(actDim);
  const msg: JointStateMsg = { header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' }, name: names, position: [], velocity: [], effort: [] };
  msg[field as Field] = values;
  return {
    write(a) {
      values.set(a);
      stampNow(msg.header.stamp);
      return msg;
    },
  };
}
