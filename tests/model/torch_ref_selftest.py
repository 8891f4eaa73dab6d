#!/usr/bin/python3
"""Self-test of the PyTorch reference (tools/torch_ref) and omega-genmodel's families.

usage: /usr/bin/python3 tests/model/torch_ref_selftest.py --genmodel build/omega-genmodel [--shared DIR]

Generates one random-weight folder per family and head with omega-genmodel, runs the
reference on real token ids (../shared's HuggingFace reference ids), and checks invariants a
wrong implementation breaks: BERT against ../shared's three independent reference
embeddings; RoBERTa-style positions (padding-aware, from padding_idx + 1); MPNet's relative
bias (buckets, direction, added to the logits before the softmax); DistilBERT's sinusoidal
table; token types; every pooling mode with left and right padding; Dense and Normalize;
sharded and prefixed checkpoints; each classifier head recomputed from the hidden states;
activations; prompts; determinism; genmodel's bytes. Exits 77 (ctest's skip) with a message
when /usr/bin/python3 has no torch; families that need ../shared's tokenizer files are
skipped, with a message, when it is absent.
"""
import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REF_DIR = os.path.join(ROOT, "tools", "torch_ref")
REF = os.path.join(REF_DIR, "ref.py")

try:
    import numpy as np
    import torch
except ImportError as e:
    print(f"SKIP: {sys.executable} cannot import torch/numpy ({e}); "
          "install Debian's python3-torch python3-numpy and run with /usr/bin/python3")
    sys.exit(77)

sys.path.insert(0, REF_DIR)
import torchref  # noqa: E402

H, HEADS, FFN, MAXSEQ = 64, 4, 128, 64
FAILS = []
# sha256 of the default folder's config.json and model.safetensors (omega-genmodel --out D):
# tests and benchmarks rely on these bytes; a change must be deliberate.
PINNED = {
    "config.json": "69c462ae6cb7ccccfe6f2374ca5ec75c18e50af6498a26c764213d7b4e22466f",
    "model.safetensors": "d2053f7a5443c98ab9980c2155d82964177f5f265980d2eca40a94c578337fb4",
}


def check(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + (f"  ({detail})" if detail else ""))
    if not ok:
        FAILS.append(name)


def maxdiff(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.abs(a - b).max()) if a.size else 0.0


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- helpers ----------------------------------------------------------------------------
def genmodel(binary, out, *args):
    r = subprocess.run([binary, "--out", out, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"omega-genmodel {' '.join(args)}: {r.stderr.strip()}")
    return out


def cli(model, lines, *args, expect_rc=0):
    """Run ref.py on lines (strings); returns parsed JSON rows (or stderr when it fails)."""
    r = subprocess.run([sys.executable, REF, model, "--ids-file", "-", *args], input="\n".join(lines) + "\n",
                       capture_output=True, text=True)
    if r.returncode != expect_rc:
        raise RuntimeError(f"ref.py {model} {args}: rc {r.returncode}: {r.stderr.strip()}")
    if expect_rc:
        return r.stderr
    return [json.loads(x) for x in r.stdout.splitlines()], r.stdout


def api(model, items, **kw):
    m = model if isinstance(model, torchref.Model) else torchref.Model(model, pooling=kw.pop("pooling", None))
    rows = m.run(items, **kw)
    return [{k: v.numpy().astype(np.float64) for k, v in r.items()} for r in rows]


def emb(rows, key="embedding"):
    return np.stack([r[key] for r in rows])


def variant(src, dst, edit_tensors=None, edit_config=None, files=None):
    """Copy a folder, changing tensors (dict -> dict), config.json or adding files."""
    shutil.copytree(src, dst)
    if edit_tensors:
        t = torchref.read_safetensors(os.path.join(src, "model.safetensors"))
        t = edit_tensors(t)
        torchref.write_safetensors(os.path.join(dst, "model.safetensors"), t)
    if edit_config:
        p = os.path.join(dst, "config.json")
        c = json.load(open(p))
        edit_config(c)
        json.dump(c, open(p, "w"), indent=2)
    for name, content in (files or {}).items():
        p = os.path.join(dst, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if isinstance(content, dict) and "__tensors__" in content:
            torchref.write_safetensors(p, content["__tensors__"])
        else:
            json.dump(content, open(p, "w"), indent=2)
    return dst


def inputs_for(family, shared, n=6):
    """Real HuggingFace ids for the family's tokenizer: n lines of 5..60 tokens, varied."""
    if family in ("bert", "distilbert"):
        src = os.path.join(shared, "data/models/tiny-bert-uncased/reference/corpus_en.ids.jsonl")
        rows = [json.loads(x) for x in open(src)]
    else:
        tok = {"roberta": "roberta-base", "xlm-roberta": "t5-small", "mpnet": "all-mpnet-base-v2"}[family]
        rows = [json.loads(x)["ids"] for x in open(os.path.join(shared, "data/tokenizers", tok, "ref_dev.jsonl"))]
    out, lens = [], set()
    for ids in rows:
        if len(ids) > 60:
            ids = ids[:59] + ids[-1:]  # keep the final special token
        if len(ids) >= 5 and len(ids) // 8 not in lens:
            lens.add(len(ids) // 8)
            out.append(ids)
        if len(out) == n:
            break
    return out


def bert_pairs(shared, n=4):
    rows = [json.loads(x) for x in open(os.path.join(shared, "data/models/tiny-bert-uncased/reference/corpus_en.ids.jsonl"))]
    pairs = []
    for k in range(n):
        a, b = rows[2 * k][1:-1][:20], rows[2 * k + 1][1:-1][:25]
        ids = [101] + a + [102] + b + [102]
        pairs.append((ids, [0] * (len(a) + 2) + [1] * (len(b) + 1)))
    return pairs


def line(ids, tt=None):
    return " ".join(map(str, ids)) + ("" if tt is None else " | " + " ".join(map(str, tt)))


# ---- a second, plain float64 numpy forward pass (one input, no padding) -------------------
_erf = np.vectorize(math.erf)


def np_forward(folder, ids, type_ids=None):
    """Last hidden state [L, H] in float64, written directly from the published architectures,
    independently of torchref's code: catches slips in wiring, eps, activation, scaling."""
    cfg = json.load(open(os.path.join(folder, "config.json")))
    mt = cfg["model_type"]
    raw = torchref.read_safetensors(os.path.join(folder, "model.safetensors"))
    prefix = {"bert": "bert.", "roberta": "roberta.", "xlm-roberta": "roberta.", "mpnet": "mpnet.",
              "distilbert": "distilbert."}[mt]
    t = {(k[len(prefix):] if k.startswith(prefix) else k): v.astype(np.float64) for k, v in raw.items()}
    ids = np.asarray(ids)
    L = len(ids)

    def lin(x, n):
        return x @ t[n + ".weight"].T + t[n + ".bias"]

    def ln(x, n, eps):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * t[n + ".weight"] + t[n + ".bias"]

    def gelu(x):
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))

    def attn(x, q, k, v, nh, bias=None):
        hd = x.shape[1] // nh
        Q, K, V = (lin(x, n).reshape(L, nh, hd).transpose(1, 0, 2) for n in (q, k, v))
        s = Q @ K.transpose(0, 2, 1) / math.sqrt(hd)
        if bias is not None:
            s = s + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        p = s / s.sum(-1, keepdims=True)
        return (p @ V).transpose(1, 0, 2).reshape(L, -1)

    w = t["embeddings.word_embeddings.weight"][ids]
    if mt == "distilbert":
        x = ln(w + t["embeddings.position_embeddings.weight"][np.arange(L)], "embeddings.LayerNorm", 1e-12)
        for i in range(cfg["n_layers"]):
            pre = f"transformer.layer.{i}."
            a = attn(x, pre + "attention.q_lin", pre + "attention.k_lin", pre + "attention.v_lin", cfg["n_heads"])
            x = ln(lin(a, pre + "attention.out_lin") + x, pre + "sa_layer_norm", 1e-12)
            x = ln(lin(gelu(lin(x, pre + "ffn.lin1")), pre + "ffn.lin2") + x, pre + "output_layer_norm", 1e-12)
        return x
    eps, nh = cfg["layer_norm_eps"], cfg["num_attention_heads"]
    if mt == "bert":
        pos = np.arange(L)
    else:  # no padding here: positions pad+1 .. pad+L
        pad = 1 if mt == "mpnet" else cfg["pad_token_id"]
        pos = pad + 1 + np.arange(L)
    x = w + t["embeddings.position_embeddings.weight"][pos]
    if mt != "mpnet":
        tt = np.zeros(L, dtype=int) if (type_ids is None or mt != "bert") else np.asarray(type_ids)
        x = x + t["embeddings.token_type_embeddings.weight"][tt]
    x = ln(x, "embeddings.LayerNorm", eps)
    bias = None
    if mt == "mpnet":  # bucket of key j for query i, straight from the definition
        def bucket(i, j):
            n = i - j
            r = 16 if n < 0 else 0
            n = abs(n)
            return r + (n if n < 8 else min(15, 8 + int(math.log(n / 8) / math.log(16) * 8)))
        b = np.array([[bucket(i, j) for j in range(L)] for i in range(L)])
        bias = t["encoder.relative_attention_bias.weight"][b].transpose(2, 0, 1)
    for i in range(cfg["num_hidden_layers"]):
        pre = f"encoder.layer.{i}."
        if mt == "mpnet":
            a = attn(x, pre + "attention.attn.q", pre + "attention.attn.k", pre + "attention.attn.v", nh, bias)
            x = ln(lin(a, pre + "attention.attn.o") + x, pre + "attention.LayerNorm", eps)
        else:
            a = attn(x, pre + "attention.self.query", pre + "attention.self.key", pre + "attention.self.value", nh)
            x = ln(lin(a, pre + "attention.output.dense") + x, pre + "attention.output.LayerNorm", eps)
        x = ln(lin(gelu(lin(x, pre + "intermediate.dense")), pre + "output.dense") + x, pre + "output.LayerNorm", eps)
    return x


# ---- checks -----------------------------------------------------------------------------
def check_bert_shared(shared):
    m = os.path.join(shared, "data/models/tiny-bert-uncased")
    ids = [json.loads(x) for x in open(os.path.join(m, "reference/corpus_en.ids.jsonl"))]
    rows, _ = cli(m, [line(i) for i in ids], "--batch-size", "32")
    e = emb(rows)
    for impl in ("torch", "ort", "transformersjs"):
        ref = np.fromfile(os.path.join(m, f"reference/corpus_en.{impl}.f32"), dtype="<f4").reshape(len(ids), -1)
        d = maxdiff(e, ref)
        check(f"bert: tiny-bert-uncased, 2,000 sentences vs ../shared {impl} reference", d <= 1e-6, f"max|diff| {d:.3g}")


def check_embed_family(fam, d, items, tmp):
    m = torchref.Model(d)
    toks = api(m, [(i, None) for i in items[:3]], tokens=True)
    dd = max(maxdiff(r["tokens"], np_forward(d, i)) for r, i in zip(toks, items[:3]))
    check(f"{fam}: hidden states = a plain float64 numpy forward pass", dd < 2e-5, f"max|diff| {dd:.2g}")
    single = emb(api(m, [(i, None) for i in items]))
    check(f"{fam}: embedding dim {H}, unit norm (Normalize)",
          single.shape == (len(items), H) and np.all(np.isfinite(single))
          and maxdiff(np.linalg.norm(single, axis=1), np.ones(len(items))) < 1e-5)
    right = emb(api(m, [(i, None) for i in items], batch_size=len(items)))
    check(f"{fam}: a right-padded batch equals each input alone", maxdiff(right, single) < 1e-5,
          f"max|diff| {maxdiff(right, single):.2g}")
    left = emb(api(m, [(i, None) for i in items], batch_size=len(items), padding_side="left"))
    dl = maxdiff(left, single)
    if fam in ("roberta", "xlm-roberta", "mpnet"):
        check(f"{fam}: left padding changes nothing (positions count non-pad tokens only)", dl < 1e-5,
              f"max|diff| {dl:.2g}")
    else:
        check(f"{fam}: left padding shifts absolute positions 0..L-1 (as BERT does)", dl > 1e-4, f"max|diff| {dl:.2g}")
    pad = m.enc.padding_idx
    pos = "embeddings.position_embeddings.weight"
    pre = "" if not m.enc.p.prefixed else m.enc.prefix
    rng = np.random.default_rng(5)

    def perturb_rows(rows):
        def f(t):
            w = t[pre + pos].copy()
            w[rows] = rng.standard_normal((len(rows), w.shape[1])).astype(np.float32)
            t[pre + pos] = w
            return t
        return f

    one = [(items[0], None)]
    base = emb(api(d, one))
    L = len(items[0])
    if fam in ("roberta", "xlm-roberta", "mpnet"):
        unused = variant(d, os.path.join(tmp, f"{fam}-pos-low"), perturb_rows(list(range(pad + 1))))
        used = variant(d, os.path.join(tmp, f"{fam}-pos-first"), perturb_rows([pad + 1]))
        last = variant(d, os.path.join(tmp, f"{fam}-pos-last"), perturb_rows([pad + L]))
        beyond = variant(d, os.path.join(tmp, f"{fam}-pos-beyond"), perturb_rows([pad + L + 1]))
        check(f"{fam}: position rows 0..padding_idx ({pad}) unused by real tokens",
              maxdiff(emb(api(unused, one)), base) == 0.0)
        check(f"{fam}: first token reads position row padding_idx+1, last row padding_idx+L",
              maxdiff(emb(api(used, one)), base) > 1e-4 and maxdiff(emb(api(last, one)), base) > 1e-4
              and maxdiff(emb(api(beyond, one)), base) == 0.0)
    else:
        first = variant(d, os.path.join(tmp, f"{fam}-pos-0"), perturb_rows([0]))
        beyond = variant(d, os.path.join(tmp, f"{fam}-pos-L"), perturb_rows([L]))
        check(f"{fam}: positions are 0..L-1",
              maxdiff(emb(api(first, one)), base) > 1e-4 and maxdiff(emb(api(beyond, one)), base) == 0.0)
    # token types
    ones = emb(api(m, [(items[0], [1] * L)]))
    if fam == "bert":
        check("bert: token type ids are read (type 1 differs from type 0)", maxdiff(ones, base) > 1e-4)
    else:
        check(f"{fam}: token type ids are ignored (its tokenizer returns none)", maxdiff(ones, base) == 0.0)
    if fam in ("roberta", "xlm-roberta"):
        def tt(t):
            k = pre + "embeddings.token_type_embeddings.weight"
            check(f"{fam}: token_type_embeddings has 1 row", t[k].shape == (1, H), str(t[k].shape))
            t[k] = t[k] + np.random.default_rng(3).standard_normal(t[k].shape).astype(np.float32)
            return t
        v = variant(d, os.path.join(tmp, f"{fam}-tt"), tt)
        check(f"{fam}: the single token type row is added", maxdiff(emb(api(v, one)), base) > 1e-4)
    return base


def check_mpnet(d, items, tmp):
    b = lambda r: int(torchref.relative_position_bucket(torch.tensor(r)))  # noqa: E731
    dists = range(1, 400)
    ok = b(0) == 0 and all(b(-k) == k and b(k) == 16 + k for k in range(1, 8))
    ok = ok and all(b(k) == b(-k) + 16 for k in dists)
    ok = ok and all(b(-k) <= b(-k - 1) for k in dists) and max(b(-k) for k in dists) == 15
    ok = ok and all(b(-k) == 15 for k in range(91, 400)) and b(-90) == 14
    ok = ok and [b(-k) for k in (8, 11, 12, 16, 22, 23, 32, 45, 46, 64)] == [8, 8, 9, 10, 10, 11, 12, 12, 13, 14]
    check("mpnet: relative position buckets (exact below 8, log to 128, +16 for keys after the query)", ok)
    one = [(items[1], None)]
    base = emb(api(d, one))
    key = "encoder.relative_attention_bias.weight"

    def edit(fn):
        def f(t):
            t[key] = fn(t[key].copy()).astype(np.float32)
            return t
        return f

    zero = variant(d, os.path.join(tmp, "mpnet-bias0"), edit(lambda w: w * 0))
    const = variant(d, os.path.join(tmp, "mpnet-biasc"), edit(lambda w: np.zeros_like(w) + np.arange(w.shape[1]) * 0.7))
    swap = variant(d, os.path.join(tmp, "mpnet-biasswap"), edit(lambda w: np.concatenate([w[16:], w[:16]])))
    ez, ec = emb(api(zero, one)), emb(api(const, one))
    check("mpnet: the relative bias changes the output (vs a zero bias)", maxdiff(ez, base) > 1e-4,
          f"max|diff| {maxdiff(ez, base):.2g}")
    check("mpnet: a bias constant per head changes nothing (added to the logits before the softmax)",
          maxdiff(ec, ez) < 1e-6, f"max|diff| {maxdiff(ec, ez):.2g}")
    check("mpnet: direction matters (buckets of keys before and after the query swapped)",
          maxdiff(emb(api(swap, one)), base) > 1e-4)
    cfg0 = variant(d, os.path.join(tmp, "mpnet-cfgpad0"), edit_config=lambda c: c.update({"pad_token_id": 0}))
    check("mpnet: positions use padding_idx 1 whatever config.json's pad_token_id says",
          maxdiff(emb(api(cfg0, one)), base) == 0.0)
    # Which half is which: in a 1-layer model, a bias on the buckets of keys after the query
    # (16..31) cannot touch the last token, which has none after it, and must touch the first.
    d1 = genmodel(GENMODEL, os.path.join(tmp, "mpnet-1layer"), "--family", "mpnet", *SHAPE, "--layers", "1")
    after = variant(d1, os.path.join(tmp, "mpnet-1layer-after"), edit(
        lambda w: np.concatenate([np.zeros_like(w[:16]), np.full_like(w[16:], 3.0) * np.arange(1, 17)[:, None]])))
    zero1 = variant(d1, os.path.join(tmp, "mpnet-1layer-zero"), edit(lambda w: w * 0))
    ta = api(after, one, tokens=True)[0]["tokens"]
    tz = api(zero1, one, tokens=True)[0]["tokens"]
    check("mpnet: buckets 16..31 are keys after the query (last token untouched, first token changed)",
          maxdiff(ta[-1], tz[-1]) == 0.0 and maxdiff(ta[0], tz[0]) > 1e-4)


def check_pooling(fam, d_raw, items):
    m = torchref.Model(d_raw)
    its = [(i, None) for i in items]
    toks = [r["tokens"] for r in api(m, its, tokens=True)]
    expect = {
        "cls": [t[0] for t in toks], "mean": [t.mean(0) for t in toks], "max": [t.max(0) for t in toks],
        "lasttoken": [t[-1] for t in toks], "mean_sqrt_len": [t.sum(0) / math.sqrt(len(t)) for t in toks],
        "weightedmean": [(t * np.arange(1, len(t) + 1)[:, None]).sum(0) / (len(t) * (len(t) + 1) / 2) for t in toks],
    }
    for mode, want in expect.items():
        mm = torchref.Model(d_raw, pooling=mode)
        got = [emb(api(mm, its, batch_size=len(its), padding_side=side)) for side in ("right", "left")]
        # Left padding: only for the families whose hidden states do not depend on it, and not
        # cls / weightedmean, which sentence-transformers defines by position (token 0, weights
        # 1..L over the padded length): encoder tokenizers pad on the right.
        if fam != "bert" and mode not in ("cls", "weightedmean"):
            dd = max(maxdiff(g, np.stack(want)) for g in got)
        else:
            dd = maxdiff(got[0], np.stack(want))
        check(f"{fam}: {mode} pooling over a padded batch", dd < 1e-5, f"max|diff| {dd:.2g}")
    both = emb(api(torchref.Model(d_raw, pooling="mean,cls"), its))
    check(f"{fam}: several modes concatenate in sentence-transformers' order (cls first)",
          maxdiff(both, np.concatenate([np.stack(expect["cls"]), np.stack(expect["mean"])], 1)) < 1e-5)
    return toks


def check_dense_prompt(fam, d_raw, items, toks, tmp):
    rng = np.random.default_rng(7)
    w1, b1 = (rng.standard_normal((32, H)) * 0.2).astype(np.float32), (rng.standard_normal(32) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((16, 32)) * 0.2).astype(np.float32)
    mods = json.load(open(os.path.join(d_raw, "modules.json")))
    mods += [{"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
             {"idx": 3, "name": "3", "path": "3_Dense", "type": "sentence_transformers.models.Dense"},
             {"idx": 4, "name": "4", "path": "4_Normalize", "type": "sentence_transformers.models.Normalize"}]
    dense = variant(d_raw, os.path.join(tmp, f"{fam}-dense"), files={
        "modules.json": mods,
        "2_Dense/config.json": {"in_features": H, "out_features": 32, "bias": True,
                                "activation_function": "torch.nn.modules.activation.Tanh"},
        "2_Dense/model.safetensors": {"__tensors__": {"linear.weight": w1, "linear.bias": b1}},
        "3_Dense/config.json": {"in_features": 32, "out_features": 16, "bias": False,
                                "activation_function": "torch.nn.modules.linear.Identity"},
        "3_Dense/model.safetensors": {"__tensors__": {"linear.weight": w2}},
    })
    got = emb(api(dense, [(i, None) for i in items]))
    mean = np.stack([t.mean(0) for t in toks])
    want = np.tanh(mean @ w1.T.astype(np.float64) + b1) @ w2.T.astype(np.float64)
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    check(f"{fam}: Dense(tanh) -> Dense(identity, no bias) -> Normalize: dim 16, values",
          got.shape == (len(items), 16) and maxdiff(got, want) < 1e-5, f"max|diff| {maxdiff(got, want):.2g}")
    # prompts: exposed; include_prompt false leaves the prompt's tokens out of the pooling
    pool_cfg = json.load(open(os.path.join(d_raw, "1_Pooling/config.json")))
    pool_cfg["include_prompt"] = False
    pr = variant(d_raw, os.path.join(tmp, f"{fam}-prompt"), files={
        "config_sentence_transformers.json": {"prompts": {"query": "query: ", "passage": "passage: "},
                                              "default_prompt_name": "query"},
        "1_Pooling/config.json": pool_cfg})
    desc = torchref.Model(pr).describe()
    check(f"{fam}: prompts exposed", desc["prompts"] == {"query": "query: ", "passage": "passage: "}
          and desc["default_prompt_name"] == "query")
    got = emb(api(pr, [(i, None) for i in items], prompt_length=3))
    want = np.stack([t[3:].mean(0) for t in toks])
    check(f"{fam}: include_prompt false pools after the prompt's tokens", maxdiff(got, want) < 1e-5)


def check_variants(fam, d, items, tmp):
    one = [(i, None) for i in items[:2]]
    base = emb(api(d, one))
    t = torchref.read_safetensors(os.path.join(d, "model.safetensors"))
    names = sorted(t)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    sd = os.path.join(tmp, f"{fam}-sharded")
    shutil.copytree(d, sd)
    os.remove(os.path.join(sd, "model.safetensors"))
    for fname, keys in shards.items():
        torchref.write_safetensors(os.path.join(sd, fname), {k: t[k] for k in keys})
    json.dump({"metadata": {}, "weight_map": {k: f for f, ks in shards.items() for k in ks}},
              open(os.path.join(sd, "model.safetensors.index.json"), "w"))
    check(f"{fam}: sharded checkpoint (index + 2 shards) gives the same bits", maxdiff(emb(api(sd, one)), base) == 0.0)
    extra = variant(d, os.path.join(tmp, f"{fam}-extra"), lambda t: {**t, "classifier.weight": np.zeros((1, H), np.float32),
                                                                     "classifier.bias": np.zeros(1, np.float32)})
    try:
        torchref.Model(extra)
        check(f"{fam}: a tensor the architecture never reads is an error", False)
    except ValueError:
        check(f"{fam}: a tensor the architecture never reads is an error", True)


def check_rerank(fam, gen, out_dir, items, pairs, tmp):
    for nl in (1, 3):
        d = genmodel(gen, os.path.join(out_dir, f"{fam}-rerank{nl}"), "--family", fam, "--head", "rerank",
                     "--num-labels", str(nl), *SHAPE)
        lines = [line(i, tt) for i, tt in pairs] if pairs else [line(i) for i in items]
        rows, _ = cli(d, lines, "--pairs", "--tokens", "--batch-size", "3")
        logits = np.array([r["logits"] for r in rows])
        scores = np.array([r["scores"] for r in rows])
        ok = logits.shape == (len(lines), nl)
        if nl == 1:
            ok = ok and maxdiff(scores, 1 / (1 + np.exp(-logits))) < 1e-6 and "softmax" not in rows[0]
        else:
            sm = np.array([r["softmax"] for r in rows])
            ok = ok and maxdiff(scores, logits) == 0.0 and maxdiff(sm.sum(1), np.ones(len(rows))) < 1e-6
        check(f"{fam}: cross-encoder, {nl} label(s): logits shape, scores "
              + ("= sigmoid(logit)" if nl == 1 else "= logits (identity), softmax sums to 1"), ok)
        # the head recomputed from the hidden states and the folder's tensors
        t = {k: v.astype(np.float64) for k, v in torchref.read_safetensors(os.path.join(d, "model.safetensors")).items()}
        lin = lambda x, n: x @ t[n + ".weight"].T + t[n + ".bias"]  # noqa: E731
        h0 = np.stack([np.array(r["tokens"][0]) for r in rows])
        if fam == "bert":
            want = lin(np.tanh(lin(h0, "bert.pooler.dense")), "classifier")
        elif fam == "distilbert":
            want = lin(np.maximum(lin(h0, "pre_classifier"), 0), "classifier")
        else:
            want = lin(np.tanh(lin(h0, "classifier.dense")), "classifier.out_proj")
        check(f"{fam}: {nl}-label head = " + {"bert": "classifier(tanh(pooler(h[CLS])))",
                                               "distilbert": "classifier(relu(pre_classifier(h[0])))"}.get(
            fam, "out_proj(tanh(dense(h[<s>])))"), maxdiff(logits, want) < 1e-5, f"max|diff| {maxdiff(logits, want):.2g}")
        if nl == 1:
            prefix = torchref.PREFIXES[torchref.FAMILY_OF_MODEL_TYPE[fam]]
            check(f"{fam}: cross-encoder names are under {prefix!r}, head names are not",
                  all(k.startswith(prefix) or k.startswith(("classifier", "pre_classifier")) for k in t)
                  and any(k.startswith("classifier") for k in t))
            idf = variant(d, os.path.join(tmp, f"{fam}-ce-identity"), edit_config=lambda c: c.update(
                {"sentence_transformers": {"activation_fn": "torch.nn.modules.linear.Identity"}}))
            tnh = variant(d, os.path.join(tmp, f"{fam}-ce-tanh"), edit_config=lambda c: c.update(
                {"sbert_ce_default_activation_function": "torch.nn.modules.activation.Tanh"}))
            its = [(i, tt) for i, tt in pairs] if pairs else [(i, None) for i in items]
            r1 = api(idf, its, mode="scores")
            r2 = api(tnh, its, mode="scores")
            check(f"{fam}: config.json's activation_fn / sbert_ce_default_activation_function are followed",
                  maxdiff(emb(r1, "scores"), logits) < 1e-6 and maxdiff(emb(r2, "scores"), np.tanh(logits)) < 1e-6)
    if fam == "bert":
        flipped = [(i, [0] * len(tt)) for i, tt in pairs]
        a = emb(api(d, [(i, tt) for i, tt in pairs], mode="scores"), "logits")
        b2 = emb(api(d, flipped, mode="scores"), "logits")
        check("bert: cross-encoder reads the pair's token types", maxdiff(a, b2) > 1e-6)


def check_distil_sinusoidal(d, items, tmp):
    t = torchref.read_safetensors(os.path.join(d, "model.safetensors"))
    key = "embeddings.position_embeddings.weight"
    n, dim = t[key].shape
    pos, j = np.arange(n)[:, None], np.arange(dim)[None, :]
    angle = pos / np.power(10000.0, (2 * (j // 2)) / dim)
    table = np.where(j % 2 == 0, np.sin(angle), np.cos(angle)).astype(np.float32)
    with_table = variant(d, os.path.join(tmp, "distil-sin-tensor"), lambda t: {**t, key: table})
    without = variant(d, os.path.join(tmp, "distil-sin-flag"), lambda t: {k: v for k, v in t.items() if k != key},
                      edit_config=lambda c: c.update({"sinusoidal_pos_embds": True}))
    one = [(i, None) for i in items[:2]]
    dd = maxdiff(emb(api(with_table, one)), emb(api(without, one)))
    check("distilbert: sinusoidal_pos_embds without the tensor = the sin/cos table", dd < 1e-6, f"max|diff| {dd:.2g}")


GENMODEL = None
SHAPE = ["--hidden", str(H), "--heads", str(HEADS), "--intermediate", str(FFN), "--max-seq-length", str(MAXSEQ),
         "--seed", "11"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--genmodel", required=True)
    ap.add_argument("--shared", default=os.environ.get("OMEGA_SHARED_DIR") or os.path.join(ROOT, "..", "shared"))
    a = ap.parse_args()
    torchref.setup_determinism(1)
    shared = os.path.abspath(a.shared)
    have_shared = os.path.isdir(os.path.join(shared, "data/tokenizers")) and os.path.isdir(
        os.path.join(shared, "data/models/tiny-bert-uncased"))
    if not have_shared:
        print(f"SKIP (part): {shared} absent: no BERT reference embeddings, no roberta/xlm-roberta/mpnet "
              "tokenizer files; checking bert and distilbert on generated folders only")
    global GENMODEL
    env_genmodel = GENMODEL = os.path.abspath(a.genmodel)
    tmp = tempfile.mkdtemp(prefix="omega-torchref-")
    try:
        # omega-genmodel: deterministic bytes; the default folder's bytes pinned
        d1 = genmodel(env_genmodel, os.path.join(tmp, "default-1"))
        d2 = genmodel(env_genmodel, os.path.join(tmp, "default-2"))
        same = all(sha256(os.path.join(d1, f)) == sha256(os.path.join(d2, f)) for f in os.listdir(d1)
                   if os.path.isfile(os.path.join(d1, f)))
        check("genmodel: the same options write the same bytes", same)
        pinned = {f: sha256(os.path.join(d1, f)) for f in PINNED}
        check("genmodel: the default BERT folder's bytes are unchanged (config.json, model.safetensors)",
              pinned == PINNED, "" if pinned == PINNED else json.dumps(pinned))
        if have_shared:
            check_bert_shared(shared)
        fams = ["bert", "roberta", "xlm-roberta", "mpnet", "distilbert"] if have_shared else ["bert", "distilbert"]
        items_bert = None
        for fam in fams:
            if fam in ("bert", "distilbert") and not have_shared:
                items = [[101] + list(range(2000 + 37 * k, 2000 + 37 * k + 4 + 7 * k)) + [102] for k in range(6)]
            else:
                items = inputs_for(fam, shared)
            if fam == "bert":
                items_bert = items
            d = genmodel(env_genmodel, os.path.join(tmp, f"{fam}-embed"), "--family", fam, *SHAPE)
            # the CLI itself: runs, and twice gives the same bytes
            _, out1 = cli(d, [line(i) for i in items])
            _, out2 = cli(d, [line(i) for i in items])
            check(f"{fam}: ref.py output is deterministic", out1 == out2)
            check_embed_family(fam, d, items, tmp)
            if fam == "mpnet":
                check_mpnet(d, items, tmp)
            if fam == "distilbert":
                check_distil_sinusoidal(d, items, tmp)
            if fam in ("bert", "roberta"):
                raw = genmodel(env_genmodel, os.path.join(tmp, f"{fam}-raw"), "--family", fam, "--no-normalize", *SHAPE)
                toks = check_pooling(fam, raw, items)
                check_dense_prompt(fam, raw, items, toks, tmp)
            check_variants(fam, d, items, tmp)
            if fam == "bert":
                pre = genmodel(env_genmodel, os.path.join(tmp, "bert-prefixed"), "--bert-prefix",
                               "--legacy-layernorm-names", "--with-position-ids", *SHAPE)
                plain = genmodel(env_genmodel, os.path.join(tmp, "bert-plain"), *SHAPE)
                its = [(i, None) for i in items[:2]]
                check("bert: bert.-prefixed names, gamma/beta and a position_ids buffer read the same",
                      maxdiff(emb(api(pre, its)), emb(api(plain, its))) == 0.0)
                f16 = genmodel(env_genmodel, os.path.join(tmp, "bert-f16"), "--dtype", "bf16", *SHAPE)
                dd = maxdiff(emb(api(f16, its)), emb(api(plain, its)))
                check("bert: a bf16 checkpoint loads, close to f32", 0 < dd < 2e-2, f"max|diff| {dd:.2g}")
            pairs = bert_pairs(shared) if fam == "bert" and have_shared else None
            if fam == "bert" and not have_shared:
                pairs = [(i, [0] * (len(i) // 2) + [1] * (len(i) - len(i) // 2)) for i in items[:4]]
            check_rerank(fam, env_genmodel, tmp, items, pairs, tmp)
        err = cli(os.path.join(tmp, "bert-rerank1"), [line(i) for i in items_bert[:1]], "--pairs", expect_rc=1)
        check("ref.py: --pairs on a BERT cross-encoder without type ids is refused", "type ids" in err)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(FAILS)} failed" if FAILS else "all passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
