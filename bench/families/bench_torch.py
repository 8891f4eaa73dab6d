#!/usr/bin/python3
"""The PyTorch peer for any family tools/torch_ref reads (fp32, eager, mean pooling and L2 as
the folder says), shaped like ../shared/bench/peers/bench_torch.py: token ids made before
timing by HF's tokenizers (the peers' hf_tok.mjs), corpus in file order, batches padded to
their longest row; sentences/s, then single-sentence latency p50/p95.

  /usr/bin/python3 bench/families/bench_torch.py MODEL_DIR CORPUS --peers PEERS_DIR [--threads 2]
        [--batches 32,128] [--latency-n 300] [--repeats 3] [--limit N] [--pairs] [--out result.json]

--pairs: a cross-encoder's workload (lines 2k and 2k+1 are one pair, tokenized as a pair with its
token types); the head's logits instead of embeddings; rates per pair.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "torch_ref"))
import torchref  # noqa: E402


def stats(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, math.ceil(p * len(s)) - 1)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("corpus")
    ap.add_argument("--peers", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="32,128")
    ap.add_argument("--latency-n", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--out", default="")
    ap.add_argument("--pairs", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = torchref.Model(a.model)
    # ids with specials, truncated to max_seq_length, from HF tokenizers (node)
    js = ("const {loadTokenizer,encodeAll,readLines}=await import(process.argv[1]+'/hf_tok.mjs');"
          "let t=readLines(process.argv[3]); const tok=loadTokenizer(process.argv[2]);"
          "let out=[];"
          "if (process.argv[6]==='1') { tok.setTruncation(+process.argv[4]); tok.disablePadding();"
          "  for (let k=0; 2*k+1<t.length && (!+process.argv[5] || k<+process.argv[5]); k++) {"
          "    const e=await tok.encode(t[2*k], t[2*k+1]); out.push([Array.from(e.getIds()), Array.from(e.getTypeIds())]); } }"
          "else { if (+process.argv[5]) t=t.slice(0,+process.argv[5]);"
          "  out=(await encodeAll(tok,t,+process.argv[4])).map(x=>[x,null]); }"
          "process.stdout.write(JSON.stringify(out));")
    # ids with specials, cut to what the model can take (RoBERTa/MPNet lose padding_idx + 1 positions)
    max_len = model.max_seq_length or (model.enc.max_pos - (model.enc.pad_id + 1 if model.enc.family in
                                                            ("roberta", "mpnet") else 0))
    out = subprocess.run(["node", "--input-type=module", "-e", js, os.path.abspath(a.peers), a.model, a.corpus,
                          str(max_len), str(a.limit), "1" if a.pairs else "0"], capture_output=True, check=True).stdout
    ids = json.loads(out)
    pad = model.enc.pad_id
    typed = model.enc.type_vocab > 1

    def embed(rows):
        L = max(len(r[0]) for r in rows)
        x = torch.full((len(rows), L), pad, dtype=torch.long)
        m = torch.zeros((len(rows), L), dtype=torch.long)
        tt = torch.zeros((len(rows), L), dtype=torch.long)
        for i, (r, t) in enumerate(rows):
            x[i, :len(r)] = torch.tensor(r)
            m[i, :len(r)] = 1
            if t is not None and typed:
                tt[i, :len(t)] = torch.tensor(t)
        h = model.enc.forward(x, m, tt)
        if a.pairs:
            return torchref.classify(model.enc, h)
        mf = m.unsqueeze(-1).float()
        v = (h * mf).sum(1) / mf.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(v, dim=-1)

    res = {"engine": f"PyTorch {torch.__version__} fp32 (tools/torch_ref)", "threads": a.threads, "pairs": int(a.pairs),
           "throughput": {}}
    with torch.inference_mode():
        embed(ids[:8])
        for b in [int(x) for x in a.batches.split(",") if x]:
            runs = []
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                for i in range(0, len(ids), b):
                    embed(ids[i:i + b])
                runs.append(len(ids) / (time.perf_counter() - t0))
            res["throughput"][str(b)] = {"sent_per_s": stats(runs), "runs": runs}
        lat = []
        for i in range(min(a.latency_n, len(ids))):
            t0 = time.perf_counter()
            embed([ids[i]])
            lat.append((time.perf_counter() - t0) * 1000)
        res["latency"] = {"requests": len(lat), "p50_ms": {"median": pct(lat, 0.5)}, "p95_ms": {"median": pct(lat, 0.95)}}
    res["sentences"] = len(ids)
    print(json.dumps(res))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f)


if __name__ == "__main__":
    main()
