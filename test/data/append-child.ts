// Child process for the crash test: appends batches of 100 transitions forever (obs[0] = global
// row index, sequence = row index) until it is killed. Prints "ready" after the first batch.
import { DatasetBuilder } from '../../src/data/builder.js';
import { openStore } from '../../src/data/formats/mcap-store.js';

const dir = process.argv[2]!;
const store = openStore(dir);
const app = await store.openAppender({ robotId: 'robot-a', batchRows: 100 });
let row = app.nextSequence;
const b = new DatasetBuilder(3, 2, { capacity: 100 });
for (let k = 0; ; k++) {
  b.clear();
  for (let i = 0; i < 100; i++, row++) {
    b.add({ obs: [row, 1, 2], nextObs: [row + 1, 1, 2], action: [0.5, -0.5], reward: 1, episodeId: Math.floor(row / 50), timeout: row % 50 === 49 });
  }
  await app.append(b);
  if (k === 0) process.stdout.write('ready\n');
  await new Promise((r) => setImmediate(r));
}
