// Differential test of `omega tokenize` against HuggingFace tokenizers (the Rust library
// through its npm binding) on random hostile text: scripts, combining marks, controls and
// format characters, every whitespace, Unicode punctuation old and new, CJK range edges,
// emoji sequences, special-token fragments and very long words.
//
//   node tools/tokdiff.mjs --omega build/omega --peers /tmp/peers --shared ../shared [--n 20000] [--seed 1]
//
// --peers is a folder whose node_modules holds `tokenizers` (npm install tokenizers@0.23.2, the
// version ../shared/data/tokenizers was made with; 0.13 of ../shared/bench/peers predates the
// pair-truncation behaviour Omega matches).
// Exit status 0 when every line of every vocabulary matches, 1 otherwise.
// --fixture DIR also writes DIR/hostile.txt and DIR/hostile.bert-base-uncased.ids (HF's ids,
// no truncation) for the project's own regression test, which needs no npm or ../shared.
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const omega = args.omega || 'build/omega';
const peers = args.peers || '/tmp/peers';
const shared = args.shared || '../shared';
const N = Number(args.n || 20000);
let seed = BigInt(args.seed || 1);

const require = createRequire(path.join(path.resolve(peers), 'x.js'));
const hf = require('tokenizers');

function rnd() { // splitmix64 -> [0, 1)
  seed = (seed + 0x9E3779B97F4A7C15n) & 0xFFFFFFFFFFFFFFFFn;
  let z = seed;
  z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & 0xFFFFFFFFFFFFFFFFn;
  z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & 0xFFFFFFFFFFFFFFFFn;
  z ^= z >> 31n;
  return Number(z >> 11n) / 2 ** 53;
}
const pick = (a) => a[Math.floor(rnd() * a.length)];
const range = (lo, hi) => () => String.fromCodePoint(lo + Math.floor(rnd() * (hi - lo + 1)));
const one = (...cps) => () => String.fromCodePoint(pick(cps));

const pools = {
  ascii: range(0x21, 0x7e),
  lower: range(0x61, 0x7a),
  controls: one(0x00, 0x01, 0x07, 0x08, 0x0b, 0x0c, 0x0e, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x7f, 0x85, 0x9f),
  spaces: one(0x09, 0x0a, 0x0d, 0x20, 0xa0, 0x1680, 0x2000, 0x2005, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0x180e),
  format: one(0xad, 0x600, 0x61c, 0x6dd, 0x70f, 0x8e2, 0x180e, 0x200b, 0x200c, 0x200d, 0x200e, 0x200f, 0x202a, 0x202e,
    0x2060, 0x2064, 0x2066, 0x2069, 0xfeff, 0xfff9, 0x110bd, 0x110cd, 0x1d173, 0xe0001, 0xe0041, 0x13430),
  private: one(0xe000, 0xf8ff, 0xf0000, 0x10fffd),
  unassigned: one(0x378, 0x379, 0x380, 0x5ff, 0x2fffe, 0xe0080, 0x1fffe, 0x10ffff, 0xfffe),
  latin: range(0xc0, 0x24f),
  combining: () => pick([range(0x300, 0x36f), range(0x1ab0, 0x1aff), range(0x1dc0, 0x1dff), range(0x20d0, 0x20ff),
    range(0xfe20, 0xfe2f), one(0x1d165, 0x1d166, 0x1d16d, 0x0f39, 0x0f7f, 0x0903, 0x093c, 0x094d, 0x302a, 0x3099)])(),
  greek: range(0x370, 0x3ff),
  cyrillic: range(0x400, 0x52f),
  armenian: range(0x531, 0x58f),
  hebrew: range(0x591, 0x5f4),
  arabic: range(0x600, 0x6ff),
  indic: () => pick([range(0x900, 0x97f), range(0x980, 0x9ff), range(0xb80, 0xbff), range(0xd00, 0xd7f)])(),
  thai: range(0xe01, 0xe5b),
  tibetan: range(0xf00, 0xfda),
  georgian: () => pick([range(0x10a0, 0x10ff), range(0x1c90, 0x1cbf)])(),
  hangul: () => pick([range(0xac00, 0xd7a3), range(0x1100, 0x11ff), range(0x3131, 0x318e)])(),
  kana: () => pick([range(0x3041, 0x3096), range(0x30a1, 0x30fa), range(0xff66, 0xff9d)])(),
  cjk: () => pick([range(0x4e00, 0x9fff), range(0x3400, 0x4dbf), one(0x4dbf, 0x4e00, 0x9fff, 0xa000, 0x33ff, 0x3400),
    one(0x20000, 0x2a6df, 0x2a6e0, 0x2a700, 0x2b73f, 0x2b740, 0x2b81f, 0x2b820, 0x2b91f, 0x2b920, 0x2ceaf, 0x2ceb0,
      0x30000, 0x3134a, 0xf900, 0xfaff, 0x2f800, 0x2fa1f, 0x2fa20, 0x9fd5, 0x9fea, 0x9fff)])(),
  punct: () => pick([range(0x2010, 0x2027), range(0x2030, 0x205e), range(0x2e00, 0x2e5d), range(0x3001, 0x303f),
    range(0xff01, 0xff0f), range(0xfe10, 0xfe19), range(0xfe30, 0xfe6b), one(0xa1, 0xa7, 0xab, 0xb6, 0xb7, 0xbb, 0xbf,
      0x55a, 0x589, 0x5be, 0x60c, 0x61f, 0x964, 0xe4f, 0xf04, 0x1800, 0x1806, 0x10100, 0x1e95e, 0x1e95f, 0x16fe2, 0x11a3f)])(),
  symbols: () => pick([range(0x20a0, 0x20c0), range(0x2100, 0x214f), range(0x2190, 0x21ff), range(0x2200, 0x22ff),
    one(0xa2, 0xa3, 0xa5, 0xa9, 0xae, 0xb0, 0xb1, 0xd7, 0xf7, 0x384, 0x385, 0x2c2, 0x2c5, 0x2d8, 0x60b, 0x20ac)])(),
  cased: one(0x130, 0x131, 0x1e9e, 0xdf, 0x3a3, 0x3c2, 0x1c5, 0x1c8, 0x1f0, 0x2126, 0x212a, 0x212b, 0x1e9b, 0x345,
    0x390, 0x3b0, 0x587, 0xfb00, 0xfb05, 0x13a0, 0xab70, 0x1c90, 0x10d0, 0x2c2f, 0xa7c0, 0x10400, 0x1e900, 0x16e40),
  digits: () => pick([range(0x30, 0x39), range(0x660, 0x669), range(0x966, 0x96f), range(0xff10, 0xff19), range(0x2460, 0x24ff)])(),
  emoji: () => pick([range(0x1f300, 0x1f5ff), range(0x1f600, 0x1f64f), range(0x1f900, 0x1f9ff), range(0x1fa70, 0x1faff),
    one(0x2764, 0xfe0f, 0x200d, 0x1f3fb, 0x1f3ff, 0x1f1e6, 0x1f1ff, 0x20e3, 0xe007f)])(),
  special: () => pick(['[MASK]', '[CLS]', '[SEP]', '[UNK]', '[PAD]', '[mask]', '[MAS', 'K]', '[[SEP]]', '[MASK][SEP]']),
};
const names = Object.keys(pools);

function word() {
  const p = pools[pick(names)];
  const r = rnd();
  const len = r < 0.02 ? 95 + Math.floor(rnd() * 12) : r < 0.05 ? 30 + Math.floor(rnd() * 80) : 1 + Math.floor(rnd() * 8);
  let w = '';
  for (let i = 0; i < len; i++) {
    const q = rnd();
    w += q < 0.7 ? p() : q < 0.85 ? pools.lower() : pools[pick(names)]();
  }
  return w;
}

function line() {
  const n = Math.floor(rnd() * 12);
  let s = '';
  for (let i = 0; i < n; i++) s += (i ? (rnd() < 0.8 ? ' ' : pools.spaces()) : '') + word();
  return s.replace(/\n/g, ' '); // lines are split on \n
}

const lines = Array.from({ length: N }, line);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tokdiff-'));
const input = path.join(tmp, 'in.txt');
fs.writeFileSync(input, lines.join('\n') + '\n');

// BERT vocabularies, untruncated; then every family of ../shared/data/tokenizers, single
// texts and pairs (lines 2k-1, 2k), untruncated and at small and usual lengths.
const runs = [
  ['data/vocab/bert-base-uncased-tokenizer.json', false, 0],
  ['data/vocab/bert-base-cased-tokenizer.built.json', false, 0],
  ['data/vocab/bert-base-multilingual-cased-tokenizer.built.json', false, 0],
];
for (const fam of ['t5-small', 'roberta-base', 'gpt2', 'qwen3', 'modernbert', 'all-mpnet-base-v2', 'clip-vit-base-patch32'])
  for (const pairs of [false, true])
    for (const max of [0, 9, 37, 128]) runs.push([`data/tokenizers/${fam}/tokenizer.json`, pairs, max]);
let failures = 0;
for (const [file, pairs, max] of runs) {
  const tpath = path.join(shared, file);
  if (!fs.existsSync(tpath)) { console.log(`${file}: absent, skipped`); continue; }
  const tok = hf.Tokenizer.fromFile(tpath);
  tok.disableTruncation();
  tok.disablePadding();
  if (max) tok.setTruncation(max);
  const ref = [];
  const n = pairs ? Math.floor(lines.length / 2) : lines.length;
  if (pairs) {
    for (let k = 0; k < n; k++) ref.push(Array.from((await tok.encode(lines[2 * k], lines[2 * k + 1])).getIds()).join(' '));
  } else {
    for (let i = 0; i < n; i += 512) {
      const encs = await tok.encodeBatch(lines.slice(i, i + 512));
      for (const e of encs) ref.push(Array.from(e.getIds()).join(' '));
    }
  }
  const cliArgs = ['tokenize', '--tokenizer', tpath, '--max-length', String(max)].concat(pairs ? ['--pairs'] : []);
  const data = pairs ? lines.slice(0, 2 * n).join('\n') + '\n' : fs.readFileSync(input);
  const out = execFileSync(omega, cliArgs, { input: data, maxBuffer: 1 << 30 }).toString().split('\n');
  out.pop();
  let bad = 0;
  for (let i = 0; i < n; i++) {
    if (out[i] !== ref[i]) {
      if (bad < 5) {
        const cps = Array.from(lines[i]).map((c) => c.codePointAt(0).toString(16)).join(' ');
        console.log(`${file} ${pairs ? 'pair' : 'line'} ${i + 1}\n  text: ${cps.slice(0, 600)}\n  hf:    ${ref[i].slice(0, 300)}\n  omega: ${(out[i] || '').slice(0, 300)}`);
      }
      bad++;
    }
  }
  console.log(`${file}${pairs ? ' pairs' : ''} max ${max}: ${n - bad}/${n} match`);
  if (args.fixture && file.includes('bert-base-uncased')) {
    fs.mkdirSync(args.fixture, { recursive: true });
    fs.copyFileSync(input, path.join(args.fixture, 'hostile.txt'));
    fs.writeFileSync(path.join(args.fixture, 'hostile.bert-base-uncased.ids'), ref.join('\n') + '\n');
  }
  failures += bad;
}
if (args.keep) console.log(`kept ${input}`); else fs.rmSync(tmp, { recursive: true });
process.exit(failures ? 1 : 0);
