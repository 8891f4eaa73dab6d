// The ONNX Runtime peer of a cross-encoder (bench_embed --pairs): corpus lines 2k and 2k+1 are
// one (query, passage) pair, tokenized as a pair by HF's tokenizers (longest_first to the
// model's positions), padded per batch, run on onnxruntime-node's CPU EP; pairs/s end to end
// (tokenize + run), then single-pair latency. Shaped like the peers' bench_ort.mjs, with its
// idle-host waits (quiet.mjs).
//   node bench_ort_pairs.mjs PEERS_DIR MODEL_DIR CORPUS [--threads 2] [--batches 32,128]
//        [--latency-n 300] [--repeats 3] [--limit N] [--out result.json]
import fs from 'node:fs';
import path from 'node:path';

const pos = [];
const opt = { threads: 2, batches: '32,128', 'latency-n': 300, repeats: 3, limit: 0, out: '' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i].startsWith('--')) opt[argv[i].slice(2)] = argv[++i]; else pos.push(argv[i]);
}
const [peers, modelDir, corpus] = pos.map((p) => path.resolve(p));
const { createRequire } = await import('node:module');
const require = createRequire(path.join(peers, 'x.js'));
const ort = require('onnxruntime-node');
const hf = require('tokenizers');
const { timedRun } = await import(path.join(peers, 'quiet.mjs'));
const cfg = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8'));
const maxLen = cfg.max_position_embeddings - (cfg.model_type === 'bert' || cfg.model_type === 'distilbert' ? 0 : cfg.pad_token_id + 1);
const tok = hf.Tokenizer.fromFile(path.join(modelDir, 'tokenizer.json'));
tok.setTruncation(maxLen);
tok.disablePadding();
const lines = fs.readFileSync(corpus, 'utf8').split('\n');
if (lines.length && lines[lines.length - 1] === '') lines.pop();
let pairs = [];
for (let k = 0; 2 * k + 1 < lines.length; k++) pairs.push([lines[2 * k], lines[2 * k + 1]]);
if (+opt.limit) pairs = pairs.slice(0, +opt.limit);
const sess = await ort.InferenceSession.create(path.join(modelDir, 'onnx', 'model.onnx'), {
  intraOpNumThreads: +opt.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
});
const typed = cfg.type_vocab_size > 1;
async function score(batch) {
  const encs = [];
  for (const [a, b] of batch) encs.push(await tok.encode(a, b));
  const B = encs.length;
  let L = 0;
  for (const e of encs) L = Math.max(L, e.getIds().length);
  const ids = new BigInt64Array(B * L), mask = new BigInt64Array(B * L), tt = new BigInt64Array(B * L);
  encs.forEach((e, b) => {
    const x = e.getIds(), t = e.getTypeIds();
    for (let i = 0; i < x.length; i++) { ids[b * L + i] = BigInt(x[i]); mask[b * L + i] = 1n; tt[b * L + i] = typed ? BigInt(t[i]) : 0n; }
  });
  const feeds = { input_ids: new ort.Tensor('int64', ids, [B, L]), attention_mask: new ort.Tensor('int64', mask, [B, L]) };
  if (sess.inputNames.includes('token_type_ids')) feeds.token_type_ids = new ort.Tensor('int64', tt, [B, L]);
  return (await sess.run(feeds)).logits.data;
}
const stats = (xs) => { const s = [...xs].sort((a, b) => a - b); return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] }; };
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]; };
const repeats = +opt.repeats;
const result = { engine: 'onnxruntime-node (CPU EP) + HF tokenizers, pairs', sentences: pairs.length, pairs: 1, threads: +opt.threads, throughput: {} };
await score(pairs.slice(0, 8));
for (const B of String(opt.batches).split(',').filter(Boolean).map(Number)) {
  const runs = [];
  for (let r = 0; r < repeats; r++) {
    const res = await timedRun(async () => { for (let i = 0; i < pairs.length; i += B) await score(pairs.slice(i, i + B)); }, `pairs batch ${B}`);
    runs.push(pairs.length / res.wall_s);
    console.error(`[ort pairs] batch ${B} run ${r + 1}: ${(pairs.length / res.wall_s).toFixed(1)} pairs/s`);
  }
  result.throughput[B] = { sent_per_s: stats(runs), runs };
}
const latN = Math.min(+opt['latency-n'], pairs.length);
if (latN > 0) {
  const p50 = [], p95 = [];
  for (let r = 0; r < repeats; r++) {
    const res = await timedRun(async () => {
      const ms = [];
      for (const p of pairs.slice(0, latN)) { const t0 = performance.now(); await score([p]); ms.push(performance.now() - t0); }
      return ms;
    }, 'pairs latency');
    p50.push(pct(res.value, 0.5)); p95.push(pct(res.value, 0.95));
  }
  result.latency = { requests: latN, p50_ms: stats(p50), p95_ms: stats(p95) };
}
if (opt.out) fs.writeFileSync(opt.out, JSON.stringify(result, null, 2));
console.log(JSON.stringify(result));
