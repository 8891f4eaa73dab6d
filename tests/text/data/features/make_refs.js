#!/usr/bin/env node
// HuggingFace tokenizers' ids for each feature tokenizer over inputs.txt (split on \n only):
// one JSON line per tokenizer x mode x max length x strategy:
//   {"file", "pairs": bool, "max": L, "strategy": S, "ids": [[...], ...], "type_ids": [[...]] (pairs only)}
// An input HF refuses (only_first / only_second that cannot fit) records null.
//   npm install tokenizers@0.23.2 && node make_refs.js > refs.jsonl
'use strict'
const fs = require('node:fs')
const path = require('node:path')
const tk = require('tokenizers')
const here = __dirname
const buf = fs.readFileSync(path.join(here, 'inputs.txt'))
const lines = []
for (let s = 0; ;) { const n = buf.indexOf(10, s); if (n < 0) { if (s < buf.length) lines.push(buf.subarray(s).toString('utf8')); break } lines.push(buf.subarray(s, n).toString('utf8')); s = n + 1 }
const files = ['bpe_fallback', 'bpe_affixes', 'unigram_first', 'unigram_never', 'bytelevel_prefix']
async function main () {
  for (const f of files) {
    for (const pairs of [false, true]) {
      for (const L of [0, 8, 13, 40]) {
        for (const strategy of pairs && L ? ['LongestFirst', 'OnlyFirst', 'OnlySecond'] : ['LongestFirst']) {
          const t = tk.Tokenizer.fromFile(path.join(here, f + '.json'))
          t.disablePadding(); t.disableTruncation()
          if (L) t.setTruncation(L, { strategy })
          const ids = [], types = []
          const n = pairs ? Math.floor(lines.length / 2) : lines.length
          for (let k = 0; k < n; k++) {
            try {
              const e = pairs ? await t.encode(lines[2 * k], lines[2 * k + 1]) : await t.encode(lines[k])
              ids.push(e.getIds()); types.push(e.getTypeIds())
            } catch (err) { ids.push(null); types.push(null) }
          }
          const rec = { file: f, pairs, max: L, strategy, ids }
          if (pairs) rec.type_ids = types
          process.stdout.write(JSON.stringify(rec) + '\n')
        }
      }
    }
  }
}
main().catch((e) => { console.error(e); process.exit(1) })
