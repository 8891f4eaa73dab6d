#!/usr/bin/env python3
"""Write small tokenizer.json files that exercise every pipeline stage omega implements
beyond what the seven real files in ../shared/data/tokenizers cover (byte fallback, fused
and unfused unk, ignore_merges, subword prefix and end-of-word suffix, Metaspace's
prepend schemes, every split behaviour, inverted patterns, Digits, Punctuation,
Whitespace, CharDelimiterSplit, the Unicode forms, Strip, Prepend, Replace, StripAccents,
added-token flags, BertProcessing). Deterministic; run once, then make_refs.js records
HuggingFace tokenizers' ids for them (the files and refs are committed)."""
import collections, json, random

CORPUS = """The quick brown fox jumps over the lazy dog. Don't stop 12345 believing!
naïve café déjà vu; co-operate re-enter x-ray 3-4-5 ﬁne ﬂow Ⅻ ①②
Straße İstanbul ΣΊΣΥΦΟΣ hello-world foo_bar 007 agent 42nd street
""" * 3

def train_bpe(words, n_merges, prefix="", suffix=""):
    """A tiny BPE learner: most frequent adjacent pair first, ties by first seen."""
    seqs = collections.Counter()
    for w in words:
        chars = list(w)
        toks = [c if i == 0 else prefix + c for i, c in enumerate(chars)]
        if suffix:
            toks[-1] += suffix
        seqs[tuple(toks)] += 1
    vocab, merges = [], []
    for s in seqs:
        for t in s:
            if t not in vocab:
                vocab.append(t)
    for _ in range(n_merges):
        pairs = collections.Counter()
        for s, c in seqs.items():
            for a, b in zip(s, s[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: kv[1])
        new = a + (b[len(prefix):] if prefix and b.startswith(prefix) else b)
        merges.append([a, b])
        if new not in vocab:
            vocab.append(new)
        nseqs = collections.Counter()
        for s, c in seqs.items():
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            nseqs[tuple(out)] += c
        seqs = nseqs
    return vocab, merges

def words_of(text):
    return [w for w in text.replace("\n", " ").split(" ") if w]

def added(content, id_, special=True, normalized=False, lstrip=False, rstrip=False, single_word=False):
    return {"id": id_, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}

def template(single, pair, specials):
    def items(spec):
        out = []
        for x in spec.split():
            name, _, tid = x.partition(":")
            tid = int(tid or 0)
            if name in ("$A", "$B"):
                out.append({"Sequence": {"id": name[1], "type_id": tid}})
            else:
                out.append({"SpecialToken": {"id": name, "type_id": tid}})
        return out
    return {"type": "TemplateProcessing", "single": items(single), "pair": items(pair),
            "special_tokens": {k: {"id": k, "ids": [v], "tokens": [k]} for k, v in specials.items()}}

def write(name, doc):
    with open(name + ".json", "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)

def bpe_model(vocab, merges, **kw):
    m = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
         "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
         "vocab": {t: i for i, t in enumerate(vocab)}, "merges": merges}
    m.update(kw)
    return m

# 1. BPE with byte fallback; NFKD + StripAccents + Lowercase; Whitespace then Digits(individual);
#    a template with type ids.
specials = ["<unk>", "[CLS]", "[SEP]"]
bytes_ = ["<0x%02X>" % b for b in range(256)]
v, m = train_bpe(words_of(CORPUS.lower()), 60)
vocab = specials + bytes_ + [t for t in v if t not in specials]
write("bpe_fallback", {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [added("<unk>", 0), added("[CLS]", 1), added("[SEP]", 2)],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKD"}, {"type": "StripAccents"}, {"type": "Lowercase"}]},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}, {"type": "Digits", "individual_digits": True}]},
    "post_processor": template("[CLS]:0 $A:0 [SEP]:0", "[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1", {"[CLS]": 1, "[SEP]": 2}),
    "decoder": None,
    "model": bpe_model(vocab, m, unk_token="<unk>", byte_fallback=True)})

# 2. BPE with ## prefix and </w> suffix, fused unk, ignore_merges; Strip + Replace(String) +
#    Replace(Regex) + NFC; Punctuation(MergedWithPrevious) then CharDelimiterSplit('-');
#    BertProcessing; added tokens with lstrip / rstrip / single_word / normalized.
v, m = train_bpe(words_of(CORPUS), 80, prefix="##", suffix="</w>")
vocab = ["[UNK]", "[CLS]", "[SEP]", "[MASK]"] + v
write("bpe_affixes", {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [added("[UNK]", 0), added("[CLS]", 1), added("[SEP]", 2),
                     added("[MASK]", 3, lstrip=True, rstrip=True),
                     added("fox", len(vocab), special=False, normalized=True, single_word=True)],
    "normalizer": {"type": "Sequence", "normalizers": [
        {"type": "Strip", "strip_left": True, "strip_right": True},
        {"type": "Replace", "pattern": {"String": "Don't"}, "content": "Do not"},
        {"type": "Replace", "pattern": {"Regex": "[0-9]{3,}"}, "content": "#"},
        {"type": "NFC"}]},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"},
        {"type": "Punctuation", "behavior": "MergedWithPrevious"},
        {"type": "CharDelimiterSplit", "delimiter": "-"}]},
    "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 2], "cls": ["[CLS]", 1]},
    "decoder": None,
    "model": bpe_model(vocab, m, unk_token="[UNK]", fuse_unk=True, continuing_subword_prefix="##",
                       end_of_word_suffix="</w>", ignore_merges=True)})

# 3./4. Unigram: scores from piece frequency, byte fallback, Metaspace "first" (split) and
#    "never" (no split), NFKC, Prepend, Split behaviours with inverted patterns.
rng = random.Random(7)
pieces = collections.Counter()
for w in words_of(CORPUS):
    w = "\u2581" + w
    for i in range(len(w)):
        for j in range(i + 1, min(len(w), i + 5) + 1):
            pieces[w[i:j]] += 1
uni = [["<unk>", 0.0], ["<s>", 0.0], ["</s>", 0.0]] + [["<0x%02X>" % b, 0.0] for b in range(256)]
for p, c in sorted(pieces.items(), key=lambda kv: (-kv[1], kv[0]))[:400]:
    uni.append([p, round(-10.0 / (1 + c) - 0.01 * len(p) - rng.random() * 0.001, 6)])
for first_name, scheme, split, fb, pre_extra, norm in (
        ("unigram_first", "first", True, True,
         [{"type": "Split", "pattern": {"Regex": "[0-9]+"}, "behavior": "MergedWithNext", "invert": False}],
         {"type": "NFKC"}),
        ("unigram_never", "never", False, False,
         [{"type": "Split", "pattern": {"String": "-"}, "behavior": "Contiguous", "invert": False},
          {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "MergedWithPrevious", "invert": True}],
         {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"}, {"type": "NFKC"}]})):
    write(first_name, {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added("<unk>", 0), added("<s>", 1), added("</s>", 2)],
        "normalizer": norm,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": pre_extra + [
            {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme, "split": split}]},
        "post_processor": template("<s> $A </s>", "<s> $A </s> </s> $B:1 </s>:1", {"<s>": 1, "</s>": 2})
        if fb else None,
        "decoder": None,
        "model": {"type": "Unigram", "unk_id": 0, "vocab": uni, "byte_fallback": fb}})

# 5. Byte-level BPE with add_prefix_space and no regex after an isolating Split; no
#    post-processor (pairs: type ids 0 then 1).
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}
b2u = bytes_to_unicode()
bl_words = ["".join(b2u[b] for b in (" " + w).encode()) for w in words_of(CORPUS)]
v, m = train_bpe(bl_words, 120)
alphabet = [b2u[b] for b in range(256)]
vocab = alphabet + [t for t in v if t not in alphabet]
write("bytelevel_prefix", {
    "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
    "normalizer": None,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\p{N}+|[^\\s\\p{L}\\p{N}]"}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": False}]},
    "post_processor": None, "decoder": None,
    "model": bpe_model(vocab, [" ".join(x) for x in m])})
