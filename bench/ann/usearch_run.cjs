// The usearch (npm, SIMD build) side of the ANN benchmark, driven by bench_omega.py:
//   node usearch_run.cjs BASE.f32 QUERIES.f32 DIM METRIC(l2sq|ip) M EFC THREADS EF1,EF2,.. K SINGLE_N OUTDIR
// Builds once (timed), saves, then for each ef loads the index with that expansion_search
// and times one batch call over all queries and SINGLE_N one-query calls; writes
// OUTDIR/ids_EF.i32 and prints one JSON line of timings.
const fs = require("fs");
const path = require("path");
const usearch = require(process.env.USEARCH_MODULE || "usearch");
const [base, qf, dimS, metric, mS, efcS, tS, efList, kS, singleS, outDir] = process.argv.slice(2);
const dim = +dimS, M = +mS, efc = +efcS, T = +tS, k = +kS, singleN = +singleS;
const f32 = (p) => { const b = fs.readFileSync(p); return new Float32Array(b.buffer, b.byteOffset, b.length / 4); };
const X = f32(base), Q = f32(qf);
const n = X.length / dim, nq = Q.length / dim;
const mk = (ef) => new usearch.Index({ metric, connectivity: M, dimensions: dim, expansion_add: efc, expansion_search: ef });
const keys = new BigUint64Array(n);
for (let i = 0; i < n; i++) keys[i] = BigInt(i);
let ix = mk(64);
let t0 = process.hrtime.bigint();
ix.add(keys, X, T);
const build_s = Number(process.hrtime.bigint() - t0) / 1e9;
const file = path.join(outDir, "usearch.index");
ix.save(file);
const res = { build_s, index_mb: fs.statSync(file).size / 2 ** 20, points: [] };
for (const ef of efList.split(",").map(Number)) {
  ix = mk(ef);
  ix.load(file);
  ix.search(Q.subarray(0, Math.min(nq, 100) * dim), k, T); // warm-up
  const runs = [];
  let m;
  for (let r = 0; r < 3; r++) {
    t0 = process.hrtime.bigint();
    m = ix.search(Q, k, T);
    runs.push(nq / (Number(process.hrtime.bigint() - t0) / 1e9));
  }
  const ids = new Int32Array(nq * k).fill(-1);
  for (let i = 0; i < nq; i++)
    for (let j = 0; j < k && j < m.counts[i]; j++) ids[i * k + j] = Number(m.keys[i * k + j]);
  fs.writeFileSync(path.join(outDir, `ids_${ef}.i32`), Buffer.from(ids.buffer));
  const lat = [];
  for (let i = 0; i < Math.min(singleN, nq); i++) {
    const q = Q.subarray(i * dim, (i + 1) * dim);
    t0 = process.hrtime.bigint();
    ix.search(q, k, 1);
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  lat.sort((a, b) => a - b);
  runs.sort((a, b) => a - b);
  const tot = lat.reduce((a, b) => a + b, 0);
  res.points.push({ param: ef, batch_qps: runs[1], batch_runs: runs, single_qps: lat.length / (tot / 1e3),
                    p50_ms: lat[lat.length >> 1], p99_ms: lat[Math.min(lat.length - 1, Math.ceil(0.99 * lat.length) - 1)],
                    single_n: lat.length });
}
console.log(JSON.stringify(res));
