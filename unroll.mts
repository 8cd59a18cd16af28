import { Graph, Session, TrainStep, adam, adamInputs, adamUpdate, grad, params, unflatten } from './src/engine/index.js';
import { mlp, mlpLayout, type MlpSpec } from './src/nn/index.js';
import { Rng } from './src/util/rng.js';
import { timeInterleaved } from './bench/stats.js';
const sizes = [17, 256, 256, 6], batch = 256;
const spec: MlpSpec = { sizes, hidden: 'relu', output: 'tanh' };
const layout = mlpLayout('net', spec);
const w = layout.init(0);
const rng = new Rng(0);
const obs = rng.fillNormal(new Float32Array(batch * 17));
const target = rng.fillUniform(new Float32Array(batch * 6), -1, 1);
const opts = { threads: 2 };
const gf = new Graph(); const pf = params(gf, layout);
gf.output('y', mlp(gf, pf.views, gf.input('obs', [batch, 17]), spec));
const fed = await Session.create(gf, opts); fed.set('obs', obs); fed.set('net', w);
async function unrolled(K: number) {
  const g = new Graph(); const p = params(g, layout); const st0 = adamInputs(g, p.flat);
  let cur = p.flat, st = st0; const feeds: Record<string, Float32Array> = {};
  for (let k = 0; k < K; k++) {
    const views = k === 0 ? p.views : unflatten(g, layout, cur);
    const loss = g.reduceMean(g.square(g.sub(mlp(g, views, g.input(`obs@${k}`, [batch, 17]), spec), g.input(`target@${k}`, [batch, 6]))));
    g.output(`loss@${k}`, loss);
    const r = adamUpdate(g, cur, grad(g, loss, [cur])[0]!, st, { lr: 1e-4 });
    g.output(`grad_norm@${k}`, r.gradNorm);
    cur = r.params; st = r.state;
    feeds[`obs@${k}`] = obs; feeds[`target@${k}`] = target;
  }
  g.bind(st0.t, st.t); g.bind(st0.m, st.m); g.bind(st0.v, st.v); g.bind(p.flat, cur);
  const ts = await TrainStep.create(g, opts);
  ts.session.set('net', w); ts.session.set('net.m', new Float32Array(layout.size)); ts.session.set('net.v', new Float32Array(layout.size));
  return () => void ts.step(feeds);
}
const Ks = [1, 2, 4, 8];
const fns = [() => void fed.run(), ...(await Promise.all(Ks.map(unrolled)))];
const t = timeInterleaved(fns, [20, 8, 4, 2, 1], Number(process.env.ROUNDS ?? 31));
const fedT = t[0]!;
Ks.forEach((K, i) => { const per = t[i + 1]! / K; console.log(`K=${K}: ${(per * 1000).toFixed(0)} µs per update, ratio ${((106.8 / per) / (36.3 / fedT) * 100).toFixed(0)}% (fed ${(fedT * 1000).toFixed(0)} µs)`); });
