#!/usr/bin/env python3
"""Every encoder family Omega loads, on every CPU precision, against the PyTorch reference
(tools/torch_ref, written from the published architectures, independent of the C code).

For bert, roberta, xlm-roberta, distilbert and mpnet: omega-genmodel writes a random-weight folder
(the real tokenizer.json of the family from ../shared, or the BERT vocab), `omega tokenize`
gives the ids the engine will see, tools/torch_ref/ref.py embeds those ids, and `omega embed`
embeds the texts at fp32, bf16x3, bf16 and int8. Bounds: fp32 cosine >= 0.99999 and
max |diff| <= 1e-5 per row (the issue asks 1e-4; Omega measures about 1e-7, and a single wrong
MPNet bucket at distance 90 shows as 7e-5); bf16x3 cosine >= 0.99999; bf16 and int8 cosine >= 0.999 (the BERT
path's bounds, tests/model/test_precision.c). The texts include the hostile corpus and a
literal "<pad>" (RoBERTa gives the padding id the padding position and does not count it).

Needs Debian's python3-torch (/usr/bin/python3) and ../shared; exits 77 (skip) without them.
  test_families.py --omega BIN --genmodel BIN --shared DIR
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REF = os.path.join(ROOT, "tools", "torch_ref", "ref.py")
FAMILIES = ["bert", "roberta", "xlm-roberta", "distilbert", "mpnet"]
BOUNDS = {"fp32": 0.99999, "bf16x3": 0.99999, "bf16": 0.999, "int8": 0.999}


def skip(why):
    print("SKIP:", why)
    sys.exit(77)


def read_safetensors(path):
    """{name: (header entry, bytes)} of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    return {k: (v, body[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in header.items() if k != "__metadata__"}


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (entry, blob) in tensors.items():
        header[name] = {"dtype": entry["dtype"], "shape": entry["shape"], "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def shard(model_dir, out_dir, index_override=None):
    """model_dir's weights as two shards and an index (transformers' sharded layout)."""
    subprocess.run(["cp", "-r", model_dir + "/.", out_dir], check=True)
    tensors = read_safetensors(os.path.join(out_dir, "model.safetensors"))
    os.remove(os.path.join(out_dir, "model.safetensors"))
    names = sorted(tensors)
    halves = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    weight_map = {}
    for fname, part in halves.items():
        write_safetensors(os.path.join(out_dir, fname), {k: tensors[k] for k in part})
        weight_map.update({k: fname for k in part})
    if index_override:
        index_override(weight_map)
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)


def check_sharded(args, tmp, inp, failures):
    """A sharded checkpoint embeds exactly as the single file does; a wrong index is refused."""
    d = os.path.join(tmp, "bert")
    one = subprocess.run([args.omega, "embed", "--model", d, "--input", inp, "--quiet", "--accel", "cpu",
                         "--precision", "fp32"],
                         capture_output=True, check=True).stdout
    sd = os.path.join(tmp, "bert-sharded")
    os.mkdir(sd)
    shard(d, sd)
    p = subprocess.run([args.omega, "embed", "--model", sd, "--input", inp, "--quiet", "--accel", "cpu",
                         "--precision", "fp32"],
                       capture_output=True)
    if p.returncode or p.stdout != one:
        failures.append(f"sharded weights: rc {p.returncode}, same output {p.stdout == one}: {p.stderr[:300]}")
    else:
        print("sharded weights: two shards and an index embed byte for byte as the single file")

    def misplace(m):
        k = sorted(m)[0]
        m[k] = "model-00002-of-00002.safetensors" if m[k].startswith("model-00001") else "model-00001-of-00002.safetensors"

    def escape(m):
        m[sorted(m)[0]] = "../model.safetensors"

    for what, edit, want in (("misplaced", misplace, "where the index puts it"),
                             ("escaping", escape, "not a file name in the folder")):
        bd = os.path.join(tmp, "bert-" + what)
        os.mkdir(bd)
        shard(d, bd, edit)
        p = subprocess.run([args.omega, "embed", "--model", bd, "--input", inp, "--quiet", "--accel", "cpu",
                         "--precision", "fp32"],
                           capture_output=True)
        if p.returncode == 0 or want not in p.stderr.decode():
            failures.append(f"{what} shard index: rc {p.returncode}, stderr {p.stderr.decode()[:300]!r}")
        else:
            print(f"{what} shard index refused: {want}")


def f32_blob(values):
    import struct
    return struct.pack("<%df" % len(values), *values)


def add_dense(model_dir, out_dir, normalize_between):
    """model_dir with two Dense modules after Pooling (128 -> 48 Tanh with bias, 48 -> 24
    Identity with bias, so a Normalize between them shows), a Normalize between them when asked, and Normalize last."""
    import random
    subprocess.run(["cp", "-r", model_dir + "/.", out_dir], check=True)
    rng = random.Random(5)
    with open(os.path.join(out_dir, "config.json")) as f:
        hidden = json.load(f)["hidden_size"]
    dims = [(hidden, 48, True, "torch.nn.modules.activation.Tanh"), (48, 24, True, "torch.nn.modules.linear.Identity")]
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    for k, (i, o, bias, act) in enumerate(dims):
        sub = f"{2 + k}_Dense"
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
        with open(os.path.join(out_dir, sub, "config.json"), "w") as f:
            json.dump({"in_features": i, "out_features": o, "bias": bias, "activation_function": act}, f)
        t = {"linear.weight": ({"dtype": "F32", "shape": [o, i]}, f32_blob([rng.gauss(0, 0.3) for _ in range(o * i)]))}
        if bias:
            t["linear.bias"] = ({"dtype": "F32", "shape": [o]}, f32_blob([rng.gauss(0, 0.3) for _ in range(o)]))
        write_safetensors(os.path.join(out_dir, sub, "model.safetensors"), t)
        modules.append({"idx": len(modules), "name": str(len(modules)), "path": sub,
                        "type": "sentence_transformers.models.Dense"})
        if k == 0 and normalize_between:
            modules.append({"idx": len(modules), "name": str(len(modules)), "path": "",
                            "type": "sentence_transformers.models.Normalize"})
    modules.append({"idx": len(modules), "name": str(len(modules)), "path": "4_Normalize",
                    "type": "sentence_transformers.models.Normalize"})
    with open(os.path.join(out_dir, "modules.json"), "w") as f:
        json.dump(modules, f)


def check_pooling_override(args, tmp, inp, failures):
    """--pooling replaces the folder's pooling (here cls+max, concatenated), as the reference's."""
    d = os.path.join(tmp, "roberta")
    ref_out = d + ".pool.ref"
    subprocess.run(["/usr/bin/python3", REF, d, "--ids-file", os.path.join(tmp, "roberta.ids"), "--pooling",
                    "cls,max", "--out", ref_out], check=True)
    with open(ref_out) as f:
        ref = [json.loads(line)["embedding"] for line in f]
    p = subprocess.run([args.omega, "embed", "--model", d, "--input", inp, "--quiet", "--accel", "cpu", "--pooling",
                        "cls+max", "--precision", "fp32"], capture_output=True)
    got = [json.loads(line) for line in p.stdout.decode().splitlines()] if p.returncode == 0 else []
    if len(got) != len(ref) or any(len(a) != len(b) for a, b in zip(got, ref)):
        failures.append(f"--pooling cls+max: rc {p.returncode}, {p.stderr.decode()[:200]}")
        return
    diff = max(max(abs(x - y) for x, y in zip(a, b)) for a, b in zip(ref, got))
    print(f"--pooling cls+max: {len(got)} rows of {len(got[0])}, max |diff| {diff:.2e}")
    if diff > 1e-5:
        failures.append(f"--pooling cls+max: max |diff| {diff:.2e} > 1e-5")
    p = subprocess.run([args.omega, "embed", "--model", d, "--input", inp, "--quiet", "--pooling", "median"],
                       capture_output=True)
    if p.returncode == 0 or "median" not in p.stderr.decode():
        failures.append(f"--pooling median: rc {p.returncode}, {p.stderr.decode()[:200]}")


def check_rerankers(args, tmp, texts, failures, env):
    """Cross-encoders (*ForSequenceClassification, one label) of every family: omega rerank's
    raw logits and sigmoid scores against the reference's, pair by pair, with BERT's token
    types (1 from the first [SEP] on)."""
    queries = [b"what is the capital of France", texts[3][:200], b"<pad> query with a pad"]
    passages = [t for t in texts[:40] if t.strip()]
    pin = os.path.join(tmp, "passages.txt")
    with open(pin, "wb") as f:
        f.write(b"\n".join(passages) + b"\n")
    for fam in FAMILIES:
        d = os.path.join(tmp, "rr-" + fam)
        subprocess.run([args.genmodel, "--out", d, "--family", fam, "--head", "rerank", "--shape", "tiny", "--seed",
                        "13", "--max-seq-length", "128"], check=True, capture_output=True, env=env)
        worst = 0.0
        for qi, q in enumerate(queries):
            pairs = b"".join(q + b"\n" + p + b"\n" for p in passages)
            ids = subprocess.run([args.omega, "tokenize", "--tokenizer", d, "--pairs", "--max-length", "128"],
                                 input=pairs, capture_output=True, check=True).stdout.decode().splitlines()
            lines = []
            for row in ids:
                v = [int(x) for x in row.split()]
                sep = v.index(102) if fam == "bert" else len(v)
                lines.append(" ".join(map(str, v)) + " | " + " ".join("0" if k <= sep else "1" for k in range(len(v))))
            idf = os.path.join(tmp, f"rr-{fam}-{qi}.ids")
            with open(idf, "w") as f:
                f.write("\n".join(lines) + "\n")
            ref = subprocess.run(["/usr/bin/python3", REF, d, "--ids-file", idf, "--pairs"], capture_output=True,
                                 check=True).stdout.decode().splitlines()
            ref = [json.loads(x) for x in ref]
            out = {}
            for raw in (True, False):
                p = subprocess.run([args.omega, "rerank", "--model", d, "--query", q.decode(), "--input", pin,
                                    "--accel", "cpu", "--precision", "fp32"] + (["--raw-scores"] if raw else []), capture_output=True)
                if p.returncode:
                    failures.append(f"rerank {fam}: {p.stderr.decode()[:300]}")
                    break
                rows = [json.loads(x) for x in p.stdout.decode().splitlines()]
                if [r["score"] for r in rows] != sorted((r["score"] for r in rows), reverse=True):
                    failures.append(f"rerank {fam}: not sorted best first")
                out[raw] = {r["index"]: r["score"] for r in rows}
            if len(out) != 2 or len(out[True]) != len(ref):
                failures.append(f"rerank {fam}: {len(out.get(True, {}))} scores for {len(ref)} pairs")
                continue
            for i, r in enumerate(ref):
                worst = max(worst, abs(out[True][i] - r["logits"][0]), abs(out[False][i] - r["scores"][0]))
        print(f"rerank {fam}: {len(queries)} queries x {len(passages)} passages, max |diff| {worst:.2e} "
              "(logits and sigmoid scores)")
        if worst > 1e-5:
            failures.append(f"rerank {fam}: max |diff| {worst:.2e} > 1e-5")


def check_dense(args, tmp, inp, failures):
    """Dense modules (and a Normalize between them) against the reference, every precision."""
    for between in (False, True):
        d = os.path.join(tmp, "bert-dense" + ("-norm" if between else ""))
        os.mkdir(d)
        add_dense(os.path.join(tmp, "bert"), d, between)
        ids = os.path.join(tmp, "bert.ids")
        ref_out = d + ".ref"
        subprocess.run(["/usr/bin/python3", REF, d, "--ids-file", ids, "--out", ref_out], check=True)
        with open(ref_out) as f:
            ref = [json.loads(line)["embedding"] for line in f]
        compare(args, "dense" + ("+normalize" if between else ""), d, inp, ref, failures)


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def compare(args, fam, d, inp, ref, failures):
    """omega embed of inp with the folder d at every CPU precision against ref's rows."""
    for prec, bound in BOUNDS.items():
        p = subprocess.run([args.omega, "embed", "--model", d, "--input", inp, "--quiet", "--accel", "cpu",
                            "--precision", prec], capture_output=True)
        if p.returncode:
            err = p.stderr.decode()[:300]
            if "not available on this CPU" in err:
                print(f"{fam} {prec}: refused on this CPU, not checked")
                continue
            failures.append(f"{fam} {prec}: omega embed failed: {err}")
            continue
        got = [json.loads(line) for line in p.stdout.decode().splitlines()]
        if len(got) != len(ref) or any(len(a) != len(b) for a, b in zip(got, ref)):
            failures.append(f"{fam} {prec}: {len(got)} rows of {len(got[0]) if got else 0}, wanted {len(ref)} of "
                            f"{len(ref[0])}")
            continue
        cos = [cosine(a, b) for a, b in zip(ref, got)]
        worst = min(cos)
        diff = max(max(abs(x - y) for x, y in zip(a, b)) for a, b in zip(ref, got))
        print(f"{fam} {prec}: {len(got)} rows of {len(got[0])}, min cosine {worst:.9f}, max |diff| {diff:.2e}")
        if worst < bound:
            failures.append(f"{fam} {prec}: min cosine {worst:.9f} < {bound} (row {cos.index(worst) + 1})")
        if prec == "fp32" and diff > 1e-5:
            failures.append(f"{fam} fp32: max |diff| {diff:.2e} > 1e-5")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--omega", required=True)
    ap.add_argument("--genmodel", required=True)
    ap.add_argument("--shared", required=True)
    args = ap.parse_args()
    if subprocess.run(["/usr/bin/python3", "-c", "import torch, numpy"], capture_output=True).returncode:
        skip("/usr/bin/python3 has no torch (apt-get install python3-torch python3-numpy)")
    corpus = os.path.join(args.shared, "data", "corpus_en.txt")
    dev = os.path.join(args.shared, "data", "tokenizer", "dev.txt")
    if not os.path.isfile(corpus) or not os.path.isdir(os.path.join(args.shared, "data", "tokenizers")):
        skip(f"{args.shared}: no reference data")
    with open(corpus, "rb") as f:
        texts = f.read().split(b"\n")[:60]
    with open(dev, "rb") as f:
        texts += f.read().split(b"\n")[:60]
    texts += [b"hello <pad> world", b"<pad><pad>x", b"<s> a </s> <pad>", b"", b"   "]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "texts.txt")
        with open(inp, "wb") as f:
            f.write(b"\n".join(texts) + b"\n")
        env = dict(os.environ, OMEGA_SHARED_DIR=args.shared)
        for fam in FAMILIES:
            d = os.path.join(tmp, fam)
            subprocess.run([args.genmodel, "--out", d, "--family", fam, "--shape", "tiny", "--seed", "11",
                            "--max-seq-length", "128"], check=True, capture_output=True, env=env)
            ids = os.path.join(tmp, fam + ".ids")
            with open(inp, "rb") as fi, open(ids, "wb") as fo:
                subprocess.run([args.omega, "tokenize", "--tokenizer", d], stdin=fi, stdout=fo, check=True)
            ref_out = os.path.join(tmp, fam + ".ref")
            subprocess.run(["/usr/bin/python3", REF, d, "--ids-file", ids, "--out", ref_out], check=True)
            with open(ref_out) as f:
                ref = [json.loads(line)["embedding"] for line in f]
            assert len(ref) == len(texts), (fam, len(ref))
            compare(args, fam, d, inp, ref, failures)
        check_sharded(args, tmp, inp, failures)
        check_dense(args, tmp, inp, failures)
        check_pooling_override(args, tmp, inp, failures)
        check_rerankers(args, tmp, texts, failures, env)
    for f in failures:
        print("FAIL", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
