#!/usr/bin/python3
"""Reference embeddings / cross-encoder scores from a model folder, from token ids.

usage: /usr/bin/python3 tools/torch_ref/ref.py MODEL_DIR --ids-file F [--pairs]
           [--pooling cls|mean|max|mean_sqrt_len|weightedmean|lasttoken[,...]]
           [--batch-size N] [--padding-side right|left] [--prompt-length N]
           [--activation auto|sigmoid|softmax|identity|tanh] [--tokens] [--threads N] [--out F]
       /usr/bin/python3 tools/torch_ref/ref.py MODEL_DIR --show-config

Input (F, or - for stdin), one input per line, special tokens already in place:
  101 2054 2003 102                   token ids, space-separated
  101 2054 102 2003 102 | 0 0 0 1 1   ids | token type ids (same count)
  [101, 2054, 102]                    a JSON list of ids
  {"ids": [...], "type_ids": [...]}   a JSON object (input_ids / token_type_ids also read),
                                      e.g. a line of ../shared's ref_dev_pairs.jsonl
Output: one JSON line per input, in input order:
  {"n": i, "embedding": [...]}                            (embedding models)
  {"n": i, "logits": [...], "scores": [...]}              (--pairs: *ForSequenceClassification)
  ... "softmax": [...] as well when num_labels > 1; "tokens": [[...], ...] with --tokens
Numbers are the fp32 results printed as float64 with full (round-trip) precision.
See README.md for the conventions (padding, token types, activations, prompts).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torchref  # noqa: E402


def parse_line(line, lineno):
    s = line.strip()
    if not s:
        raise ValueError(f"line {lineno}: empty input")
    if s[0] in "[{":
        j = json.loads(s)
        if isinstance(j, list):
            ids, tt = j, None
        else:
            ids = j.get("ids", j.get("input_ids"))
            tt = j.get("type_ids", j.get("token_type_ids"))
    else:
        left, sep, right = s.partition("|")
        ids = [int(t) for t in left.split()]
        tt = [int(t) for t in right.split()] if sep else None
    if not ids:
        raise ValueError(f"line {lineno}: no token ids")
    if tt is not None and len(tt) != len(ids):
        raise ValueError(f"line {lineno}: {len(ids)} ids but {len(tt)} type ids")
    if any((not isinstance(i, int)) or i < 0 for i in ids):
        raise ValueError(f"line {lineno}: ids must be non-negative integers")
    return [int(i) for i in ids], (None if tt is None else [int(t) for t in tt])


def to_list(t):
    return [float(v) for v in t.tolist()] if t.dim() == 1 else [[float(v) for v in r] for r in t.tolist()]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--ids-file", help="token ids, one input a line (- for stdin)")
    ap.add_argument("--pairs", action="store_true",
                    help="cross-encoder scoring with the *ForSequenceClassification head")
    ap.add_argument("--pooling", help="override 1_Pooling's modes (comma-separated)")
    ap.add_argument("--batch-size", type=int, default=1,
                    help="inputs per forward pass (default 1: no padding at all)")
    ap.add_argument("--padding-side", choices=["right", "left"], default="right")
    ap.add_argument("--prompt-length", type=int, default=0,
                    help="leading tokens (the prompt, [CLS] included) left out of pooling when "
                         "1_Pooling says include_prompt: false")
    ap.add_argument("--activation", choices=["auto", "sigmoid", "softmax", "identity", "tanh"], default="auto",
                    help="function giving 'scores' from 'logits' (auto: sentence-transformers' CrossEncoder rule)")
    ap.add_argument("--tokens", action="store_true", help="also print the last hidden state of every token")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", help="write here instead of stdout")
    ap.add_argument("--show-config", action="store_true",
                    help="print what was understood of the folder (family, pipeline, head, prompts) and exit")
    a = ap.parse_args(argv)
    torchref.setup_determinism(a.threads)
    try:
        model = torchref.Model(a.model_dir, pooling=a.pooling)
    except (OSError, ValueError, KeyError, NotImplementedError) as e:
        print(f"ref.py: {a.model_dir}: {e}", file=sys.stderr)
        return 1
    if a.show_config:
        print(json.dumps(model.describe(), indent=2))
        return 0
    if not a.ids_file:
        ap.error("--ids-file is required (or --show-config)")
    try:
        f = sys.stdin if a.ids_file == "-" else open(a.ids_file, encoding="utf-8")
        items = [parse_line(line, n + 1) for n, line in enumerate(f) if line.strip()]
        if a.pairs and model.enc.family == "bert" and any(t is None for _, t in items):
            raise ValueError("--pairs on a BERT cross-encoder needs token type ids on every line")
        rows = model.run(items, mode="scores" if a.pairs else "embedding", batch_size=a.batch_size,
                         padding_side=a.padding_side, prompt_length=a.prompt_length, tokens=a.tokens,
                         activation=None if a.activation == "auto" else a.activation)
    except (OSError, ValueError, KeyError) as e:
        print(f"ref.py: {e}", file=sys.stderr)
        return 1
    out = open(a.out, "w", encoding="utf-8") if a.out else sys.stdout
    for i, r in enumerate(rows):
        line = {"n": i}
        line.update({k: to_list(v) for k, v in r.items()})
        out.write(json.dumps(line, allow_nan=False) + "\n")
    if a.out:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
