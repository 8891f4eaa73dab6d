// Single-threaded HuggingFace tokenizers throughput (the Rust library through its npm
// binding), the peer of bench_tokenize.c: every corpus line encoded without truncation.
//   TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 node bench/hf_tokenize.mjs PEERS_DIR TOKENIZER_JSON CORPUS [REPEATS]
// Two modes: encodeBatch over the whole corpus (the binding's fastest path: one call into
// Rust, parallelism off) and encode() line by line.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const [peers, tokPath, corpus, rep] = process.argv.slice(2);
const repeats = Number(rep || 5);
const require = createRequire(path.join(path.resolve(peers), 'x.js'));
const hf = require('tokenizers');
const tok = hf.Tokenizer.fromFile(tokPath);
tok.disableTruncation();
tok.disablePadding();
const lines = fs.readFileSync(corpus, 'utf8').split('\n');
if (lines.length && lines[lines.length - 1] === '') lines.pop();

const median = (v) => v.slice().sort((a, b) => a - b)[Math.floor(v.length / 2)];
async function run(mode) {
  const rates = [];
  let tokens = 0;
  for (let r = -1; r < repeats; r++) {
    tokens = 0;
    const t0 = process.hrtime.bigint();
    if (mode === 'batch') {
      const encs = await tok.encodeBatch(lines);
      for (const e of encs) tokens += e.getIds().length;
    } else {
      for (const l of lines) tokens += (await tok.encode(l)).getIds().length;
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r >= 0) rates.push(tokens / s);
  }
  const tps = median(rates);
  return { engine: `hf-tokenizers ${mode}`, lines: lines.length, tokens, tokens_per_s: Math.round(tps),
    lines_per_s: Math.round(tps * lines.length / tokens) };
}
console.log(JSON.stringify(await run('batch')));
console.log(JSON.stringify(await run('line')));
