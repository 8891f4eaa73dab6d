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


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


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
            for prec, bound in BOUNDS.items():
                p = subprocess.run([args.omega, "embed", "--model", d, "--input", inp, "--quiet", "--accel", "cpu",
                                    "--precision", prec], capture_output=True)
                if p.returncode:
                    err = p.stderr.decode()[:300]
                    if "not supported on this CPU" in err or "needs" in err:
                        print(f"{fam} {prec}: refused on this CPU ({err.strip()}), not checked")
                        continue
                    failures.append(f"{fam} {prec}: omega embed failed: {err}")
                    continue
                got = [json.loads(line) for line in p.stdout.decode().splitlines()]
                if len(got) != len(ref):
                    failures.append(f"{fam} {prec}: {len(got)} rows, wanted {len(ref)}")
                    continue
                cos = [cosine(a, b) for a, b in zip(ref, got)]
                worst = min(cos)
                diff = max(max(abs(x - y) for x, y in zip(a, b)) for a, b in zip(ref, got))
                print(f"{fam} {prec}: {len(got)} rows, min cosine {worst:.9f}, max |diff| {diff:.2e}")
                if worst < bound:
                    failures.append(f"{fam} {prec}: min cosine {worst:.9f} < {bound} (row {cos.index(worst) + 1})")
                if prec == "fp32" and diff > 1e-5:
                    failures.append(f"{fam} fp32: max |diff| {diff:.2e} > 1e-5")
    for f in failures:
        print("FAIL", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
