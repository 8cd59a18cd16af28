/** Child process of bench/ros.ts: republishes every Float32MultiArray from <in> on <out> (DDS transport only). */
import { loadRclnodejs } from '../ros/main.js';
import type { Float32MultiArrayMsg, InMessage } from '../ros/rcl-api.js';

const [inTopic, outTopic] = process.argv.slice(2);
const rcl = await loadRclnodejs();
await rcl.init();
const node = new rcl.Node(`o2o_bench_echo_${process.pid}`);
const qos = new rcl.QoS(1, 10, 1, 2);
const pub = node.createPublisher('std_msgs/msg/Float32MultiArray', outTopic!, { qos });
node.createSubscription('std_msgs/msg/Float32MultiArray', inTopic!, { qos }, (m: InMessage) => pub.publish(m as Float32MultiArrayMsg));
rcl.spin(node);
console.log('echo ready');
process.on('SIGINT', () => {
  node.destroy();
  rcl.shutdown();
  process.exit(0);
});
