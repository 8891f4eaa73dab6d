"""Omega's PyTorch reference for encoder embedding models and cross-encoders.

Written from the published architectures (BERT, RoBERTa / XLM-RoBERTa / CamemBERT, MPNet,
DistilBERT) and the sentence-transformers folder conventions; independent of Omega's C code
and of the transformers library (not needed, not imported). Run it with Debian's
/usr/bin/python3 (python3-torch, python3-numpy). Math is fp32, eager, deterministic
(torch.use_deterministic_algorithms, a fixed thread count).

README.md beside this file documents every convention chosen; the CLI is ref.py.
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

# --------------------------------------------------------------------------------------
# safetensors: u64 LE header length N | N bytes of JSON | data. Offsets relative to data.
# --------------------------------------------------------------------------------------
_ST_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # widened to fp32 by hand below
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}


def read_safetensors(path):
    """name -> np.ndarray (float tensors as float32, BF16 widened exactly). Checks the layout."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: too short for safetensors")
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        raise ValueError(f"{path}: header length past the end of the file")
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    data = memoryview(buf)[8 + n:]
    out, spans = {}, []
    for name, info in header.items():
        dt = _ST_DTYPES.get(info["dtype"])
        if dt is None:
            raise ValueError(f"{path}: {name}: unsupported dtype {info['dtype']}")
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        if not 0 <= b <= e <= len(data) or e - b != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
            raise ValueError(f"{path}: {name}: offsets do not match shape and dtype")
        a = np.frombuffer(data[b:e], dtype=dt).reshape(shape)
        if info["dtype"] == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        elif a.dtype.kind == "f":
            a = a.astype(np.float32)
        out[name] = np.array(a)  # own, writable copy
        spans.append((b, e))
    pos = 0
    for b, e in sorted(spans):
        if b != pos:
            raise ValueError(f"{path}: holes or overlaps in the data section")
        pos = e
    if pos != len(data):
        raise ValueError(f"{path}: trailing bytes after the last tensor")
    return out


def write_safetensors(path, tensors):
    """tensors: name -> np.ndarray (f32/f16/i64). Used by the self-test to make variants."""
    names = {np.dtype("<f4"): "F32", np.dtype("<f2"): "F16", np.dtype("<i8"): "I64"}
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        raw = a.tobytes()
        header[name] = {"dtype": names[np.dtype(a.dtype.str)], "shape": list(a.shape),
                        "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


def read_json(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_weights(folder):
    """model.safetensors, or the shards model.safetensors.index.json names, or
    pytorch_model.bin (torch.load with weights_only). Returns name -> float32/int ndarray."""
    st = os.path.join(folder, "model.safetensors")
    idx = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(st):
        return read_safetensors(st)
    if os.path.exists(idx):
        wm = read_json(idx)["weight_map"]
        out = {}
        for shard in sorted(set(wm.values())):
            part = read_safetensors(os.path.join(folder, shard))
            for k, v in part.items():
                if wm.get(k) != shard:
                    raise ValueError(f"{shard}: tensor {k} is not mapped to this shard by the index")
                out[k] = v
        missing = set(wm) - set(out)
        if missing:
            raise ValueError(f"index names tensors no shard holds: {sorted(missing)[:5]}")
        return out
    binp = os.path.join(folder, "pytorch_model.bin")
    if os.path.exists(binp):
        sd = torch.load(binp, map_location="cpu", weights_only=True)
        return {k: (v.float() if v.is_floating_point() else v).numpy() for k, v in sd.items()}
    raise FileNotFoundError(f"{folder}: no model.safetensors, model.safetensors.index.json or pytorch_model.bin")


# --------------------------------------------------------------------------------------
# Families
# --------------------------------------------------------------------------------------
FAMILY_OF_MODEL_TYPE = {
    "bert": "bert",
    "roberta": "roberta", "xlm-roberta": "roberta", "camembert": "roberta",
    "mpnet": "mpnet",
    "distilbert": "distilbert",
}
# base_model_prefix of each transformers class: *ForSequenceClassification checkpoints (and
# some embedding checkpoints) store the encoder under it.
PREFIXES = {"bert": "bert.", "roberta": "roberta.", "mpnet": "mpnet.", "distilbert": "distilbert."}
# Buffers older transformers versions saved; never read.
IGNORED_SUFFIXES = ("embeddings.position_ids", "embeddings.token_type_ids")


def family_of(cfg):
    mt = cfg.get("model_type")
    if mt in FAMILY_OF_MODEL_TYPE:
        return FAMILY_OF_MODEL_TYPE[mt]
    for arch in cfg.get("architectures") or []:
        for key, fam in (("XLMRoberta", "roberta"), ("Camembert", "roberta"), ("Roberta", "roberta"),
                         ("MPNet", "mpnet"), ("DistilBert", "distilbert"), ("Bert", "bert")):
            if arch.startswith(key):
                return fam
    raise ValueError(f"unsupported model_type {mt!r} (architectures {cfg.get('architectures')})")


def _gelu_new(x):
    # transformers' NewGELUActivation (tanh approximation, written out)
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


ACTIVATIONS = {
    "gelu": F.gelu,  # exact erf
    "gelu_new": _gelu_new,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu, "swish": F.silu,
}


class Params:
    """The checkpoint's tensors as torch fp32, names with the family prefix removed and old
    gamma/beta LayerNorm names mapped; records what the forward pass reads so unread
    tensors are an error (a silently ignored tensor is how wrong semantics hide)."""

    def __init__(self, raw, prefix):
        self.t, self.used = {}, set()
        for k, v in raw.items():
            if k.endswith(IGNORED_SUFFIXES):
                continue
            name = k[len(prefix):] if k.startswith(prefix) else k
            if name.endswith("LayerNorm.gamma"):
                name = name[:-5] + "weight"
            elif name.endswith("LayerNorm.beta"):
                name = name[:-4] + "bias"
            if name in self.t:
                raise ValueError(f"tensor {name} given twice (with and without the {prefix!r} prefix)")
            self.t[name] = torch.from_numpy(np.ascontiguousarray(v))
        self.prefixed = any(k.startswith(prefix) for k in raw)

    def has(self, name):
        return name in self.t

    def __getitem__(self, name):
        if name not in self.t:
            raise KeyError(f"missing tensor {name}")
        self.used.add(name)
        return self.t[name]

    def get(self, name):
        return self[name] if name in self.t else None

    def unused(self):
        return sorted(set(self.t) - self.used)


def _linear(x, p, name):
    return F.linear(x, p[name + ".weight"], p.get(name + ".bias"))


def _ln(x, p, name, eps):
    return F.layer_norm(x, (x.shape[-1],), p[name + ".weight"], p[name + ".bias"], eps)


def _heads(t, nh):
    B, L, H = t.shape
    return t.view(B, L, nh, H // nh).transpose(1, 2)


def _merge(t):
    B, nh, L, hd = t.shape
    return t.transpose(1, 2).reshape(B, L, nh * hd)


def extended_mask(mask, dtype=torch.float32):
    """[B, L] 0/1 -> additive [B, 1, 1, L]: 0 where attended, finfo.min where masked."""
    m = mask.to(dtype)[:, None, None, :]
    return (1.0 - m) * torch.finfo(dtype).min


def roberta_position_ids(ids, padding_idx):
    """Position of each non-pad token = padding_idx + its rank among non-pad tokens; pads get
    padding_idx. Computed from the ids (as fairseq / transformers do), not the attention mask."""
    m = ids.ne(padding_idx).to(torch.int64)
    return torch.cumsum(m, dim=1) * m + padding_idx


def relative_position_bucket(relative_position, num_buckets=32, max_distance=128):
    """MPNet's (T5-style, bidirectional) bucket of relative_position = key_pos - query_pos.
    Half the buckets for keys after the query; within a half, distances below
    num_buckets/4 map exactly, larger ones logarithmically up to max_distance, then clamp.
    The log is taken in fp32 exactly as the published code does, so the boundary
    distances (16, 32, 64) fall where fp32 rounding puts them."""
    nb = num_buckets // 2
    n = -relative_position
    ret = (n < 0).to(torch.long) * nb
    n = torch.abs(n)
    max_exact = nb // 2
    is_small = n < max_exact
    large = max_exact + (torch.log(n.float() / max_exact) / math.log(max_distance / max_exact)
                         * (nb - max_exact)).to(torch.long)
    large = torch.clamp(large, max=nb - 1)
    return ret + torch.where(is_small, n, large)


def sinusoidal_table(n_pos, dim):
    """DistilBERT's fixed table when sinusoidal_pos_embds is set (float64 math, then fp32)."""
    enc = np.array([[pos / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)] for pos in range(n_pos)])
    out = np.zeros((n_pos, dim), dtype=np.float32)
    out[:, 0::2] = np.sin(enc[:, 0::2])
    out[:, 1::2] = np.cos(enc[:, 1::2])
    return out


class Encoder:
    """forward(ids [B,L] int64, mask [B,L] 0/1, type_ids [B,L]) -> last hidden state [B,L,H]."""

    def __init__(self, cfg, raw):
        self.cfg = cfg
        self.family = family_of(cfg)
        self.prefix = PREFIXES[self.family]
        self.p = Params(raw, self.prefix)
        c = cfg
        if self.family == "distilbert":
            self.hidden, self.layers, self.nh = c["dim"], c["n_layers"], c["n_heads"]
            self.act_name = c.get("activation", "gelu")
            self.eps = 1e-12  # fixed in the published DistilBERT code
        else:
            self.hidden, self.layers, self.nh = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"]
            self.act_name = c.get("hidden_act", "gelu")
            self.eps = c.get("layer_norm_eps", 1e-12)
            pet = c.get("position_embedding_type", "absolute")
            if pet != "absolute":
                raise NotImplementedError(f"position_embedding_type {pet!r}")
        if self.act_name not in ACTIVATIONS:
            raise NotImplementedError(f"activation {self.act_name!r}")
        self.act = ACTIVATIONS[self.act_name]
        if self.hidden % self.nh:
            raise ValueError("hidden size is not a multiple of the head count")
        self.max_pos = c.get("max_position_embeddings", 512)
        # padding id: what padding is filled with, and (RoBERTa, MPNet) the position offset
        if self.family == "mpnet":
            self.padding_idx = 1  # hard-coded in the published MPNet embeddings
        elif self.family == "roberta":
            self.padding_idx = c.get("pad_token_id", 1)
        else:
            self.padding_idx = c.get("pad_token_id", 0)
        self.pad_id = self.padding_idx
        self.type_vocab = c.get("type_vocab_size", 0) if self.family in ("bert", "roberta") else 0
        if self.family == "distilbert" and not self.p.has("embeddings.position_embeddings.weight"):
            if not c.get("sinusoidal_pos_embds", False):
                raise KeyError("missing tensor embeddings.position_embeddings.weight")
            self.p.t["embeddings.position_embeddings.weight"] = torch.from_numpy(
                sinusoidal_table(self.max_pos, self.hidden))
        self.num_buckets = c.get("relative_attention_num_buckets", 32)

    # ---- embeddings -------------------------------------------------------------------
    def position_ids(self, ids):
        B, L = ids.shape
        if self.family in ("roberta", "mpnet"):
            pos = roberta_position_ids(ids, self.padding_idx)
        else:
            pos = torch.arange(L, dtype=torch.long).unsqueeze(0).expand(B, L)
        if int(pos.max()) >= self.max_pos:
            raise ValueError(f"input too long: position {int(pos.max())} >= max_position_embeddings {self.max_pos}")
        return pos

    def embed(self, ids, type_ids):
        p = self.p
        x = F.embedding(ids, p["embeddings.word_embeddings.weight"])
        if self.family in ("bert", "roberta"):
            # RoBERTa-family tokenizers return no token_type_ids: the model sees zeros.
            tt = type_ids if self.family == "bert" else torch.zeros_like(ids)
            if int(tt.max()) >= self.type_vocab:
                raise ValueError(f"token type {int(tt.max())} >= type_vocab_size {self.type_vocab}")
            x = x + F.embedding(tt, p["embeddings.token_type_embeddings.weight"])
        x = x + F.embedding(self.position_ids(ids), p["embeddings.position_embeddings.weight"])
        return _ln(x, p, "embeddings.LayerNorm", self.eps)

    # ---- attention --------------------------------------------------------------------
    def _attend(self, q, k, v, add_mask, bias=None, scale_q=False, bool_mask=None):
        hd = q.shape[-1]
        if scale_q:  # DistilBERT scales q before the product
            scores = torch.matmul(q / math.sqrt(hd), k.transpose(-1, -2))
        else:
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
        if bias is not None:
            scores = scores + bias
        if bool_mask is not None:  # DistilBERT: masked_fill, not an additive mask
            scores = scores.masked_fill(bool_mask, torch.finfo(scores.dtype).min)
        else:
            scores = scores + add_mask
        return torch.matmul(torch.softmax(scores, dim=-1), v)

    def position_bias(self, L):
        """MPNet: one [1, heads, L, L] bias from the plain positions 0..L-1, shared by all
        layers. Always 32 buckets and max distance 128 (the published code's defaults;
        relative_attention_num_buckets only sizes the table)."""
        ctx = torch.arange(L, dtype=torch.long)[:, None]
        mem = torch.arange(L, dtype=torch.long)[None, :]
        bucket = relative_position_bucket(mem - ctx, num_buckets=32, max_distance=128)
        table = self.p["encoder.relative_attention_bias.weight"]  # [num_buckets, heads]
        if table.shape[0] < 32:
            raise ValueError("relative_attention_bias has fewer than 32 buckets")
        return F.embedding(bucket, table).permute(2, 0, 1).unsqueeze(0)

    def forward(self, ids, mask, type_ids):
        p, nh, eps = self.p, self.nh, self.eps
        x = self.embed(ids, type_ids)
        add_mask = extended_mask(mask)
        fam = self.family
        bias = self.position_bias(ids.shape[1]) if fam == "mpnet" else None
        for i in range(self.layers):
            if fam in ("bert", "roberta"):
                pre = f"encoder.layer.{i}."
                q, k, v = (_heads(_linear(x, p, pre + "attention.self." + n), nh) for n in ("query", "key", "value"))
                ctx = _merge(self._attend(q, k, v, add_mask))
                a = _ln(_linear(ctx, p, pre + "attention.output.dense") + x, p, pre + "attention.output.LayerNorm", eps)
                h = self.act(_linear(a, p, pre + "intermediate.dense"))
                x = _ln(_linear(h, p, pre + "output.dense") + a, p, pre + "output.LayerNorm", eps)
            elif fam == "mpnet":
                pre = f"encoder.layer.{i}."
                q, k, v = (_heads(_linear(x, p, pre + "attention.attn." + n), nh) for n in ("q", "k", "v"))
                ctx = _merge(self._attend(q, k, v, add_mask, bias=bias))
                a = _ln(_linear(ctx, p, pre + "attention.attn.o") + x, p, pre + "attention.LayerNorm", eps)
                h = self.act(_linear(a, p, pre + "intermediate.dense"))
                x = _ln(_linear(h, p, pre + "output.dense") + a, p, pre + "output.LayerNorm", eps)
            else:  # distilbert
                pre = f"transformer.layer.{i}."
                q, k, v = (_heads(_linear(x, p, pre + "attention." + n), nh) for n in ("q_lin", "k_lin", "v_lin"))
                ctx = _merge(self._attend(q, k, v, None, scale_q=True, bool_mask=(mask == 0)[:, None, None, :]))
                a = _ln(_linear(ctx, p, pre + "attention.out_lin") + x, p, pre + "sa_layer_norm", eps)
                h = self.act(_linear(a, p, pre + "ffn.lin1"))
                x = _ln(_linear(h, p, pre + "ffn.lin2") + a, p, pre + "output_layer_norm", eps)
        return x


# --------------------------------------------------------------------------------------
# Heads and sentence-transformers modules
# --------------------------------------------------------------------------------------
def num_labels_of(cfg):
    if "id2label" in cfg:
        return len(cfg["id2label"])
    return int(cfg.get("num_labels", 2))  # transformers' PretrainedConfig default


def _torch_module(path):
    """'torch.nn.modules.activation.Tanh' -> callable. Only torch.nn modules (as
    sentence-transformers allows without trust_remote_code)."""
    if not path.startswith("torch.nn.modules."):
        raise ValueError(f"activation {path!r}: only torch.nn.modules.* is accepted")
    return getattr(torch.nn, path.rsplit(".", 1)[1])()


def classifier_activation(cfg):
    """(name, fn) applied to the logits for 'scores', following sentence-transformers'
    CrossEncoder: config.json's sentence_transformers.activation_fn, else the older
    sbert_ce_default_activation_function, else Sigmoid for 1 label and Identity for more."""
    path = (cfg.get("sentence_transformers") or {}).get("activation_fn") or cfg.get(
        "sbert_ce_default_activation_function")
    if path:
        return path.rsplit(".", 1)[1].lower(), _torch_module(path)
    if num_labels_of(cfg) == 1:
        return "sigmoid", torch.sigmoid
    return "identity", (lambda x: x)


def named_activation(name):
    return {"sigmoid": torch.sigmoid, "identity": (lambda x: x), "tanh": torch.tanh,
            "softmax": (lambda x: torch.softmax(x, dim=-1))}[name]


def classify(enc, h):
    """*ForSequenceClassification heads on the last hidden state h [B, L, H] -> logits."""
    p, fam = enc.p, enc.family
    first = h[:, 0]
    if fam == "bert":  # pooler (dense + tanh on [CLS]) then classifier
        return _linear(torch.tanh(_linear(first, p, "pooler.dense")), p, "classifier")
    if fam in ("roberta", "mpnet"):  # classifier.dense + tanh + out_proj on <s>; no pooler
        return _linear(torch.tanh(_linear(first, p, "classifier.dense")), p, "classifier.out_proj")
    # distilbert: pre_classifier + ReLU + classifier on the first token
    return _linear(F.relu(_linear(first, p, "pre_classifier")), p, "classifier")


POOLING_KEYS = [("cls", "pooling_mode_cls_token"), ("max", "pooling_mode_max_tokens"),
                ("mean", "pooling_mode_mean_tokens"), ("mean_sqrt_len", "pooling_mode_mean_sqrt_len_tokens"),
                ("weightedmean", "pooling_mode_weightedmean_tokens"), ("lasttoken", "pooling_mode_lasttoken")]


def pool(h, mask, modes, prompt_length=0):
    """sentence-transformers Pooling: modes concatenated in its fixed order (cls, max, mean,
    mean_sqrt_len, weightedmean, lasttoken) whatever order they are named in."""
    mask = mask.clone()
    if prompt_length:
        mask[:, :prompt_length] = 0  # include_prompt false: prompt tokens not pooled
    m = mask.unsqueeze(-1).to(h.dtype)
    out = []
    for name, _ in POOLING_KEYS:
        if name not in modes:
            continue
        if name == "cls":
            out.append(h[:, 0])
        elif name == "max":
            out.append(torch.where(m == 0, torch.full_like(h, -1e9), h).max(dim=1).values)
        elif name in ("mean", "mean_sqrt_len"):
            s, n = (h * m).sum(1), torch.clamp(m.sum(1), min=1e-9)
            out.append(s / n if name == "mean" else s / torch.sqrt(n))
        elif name == "weightedmean":
            w = m * torch.arange(1, h.shape[1] + 1, dtype=h.dtype)[None, :, None]
            out.append((h * w).sum(1) / torch.clamp(w.sum(1), min=1e-9))
        else:  # lasttoken: the last position whose mask is 1 (left or right padding)
            L = h.shape[1]
            vals, idx = mask.flip(1).max(1)
            idx = torch.where(vals == 0, torch.full_like(idx, L - 1), idx)
            last = L - idx - 1
            out.append((h * m)[torch.arange(h.shape[0]), last])
    return torch.cat(out, dim=1)


class Dense:
    """sentence-transformers Dense: activation(Linear(x)), weights in DIR/model.safetensors
    or DIR/pytorch_model.bin as linear.weight / linear.bias."""

    def __init__(self, folder):
        c = read_json(os.path.join(folder, "config.json"))
        if c.get("module_input_name", "sentence_embedding") != "sentence_embedding":
            raise NotImplementedError("Dense on token embeddings")
        w = load_weights(folder)
        self.w = torch.from_numpy(w["linear.weight"])
        self.b = torch.from_numpy(w["linear.bias"]) if c.get("bias", True) else None
        if tuple(self.w.shape) != (c["out_features"], c["in_features"]):
            raise ValueError(f"{folder}: linear.weight shape {tuple(self.w.shape)} != config")
        self.act_path = c.get("activation_function", "torch.nn.modules.activation.Tanh")
        self.act = _torch_module(self.act_path)
        self.in_features, self.out_features = c["in_features"], c["out_features"]

    def __call__(self, x):
        return self.act(F.linear(x, self.w, self.b))


# --------------------------------------------------------------------------------------
# A model folder
# --------------------------------------------------------------------------------------
class Model:
    def __init__(self, folder, pooling=None):
        self.folder = folder
        modules = read_json(os.path.join(folder, "modules.json"))
        # the Transformer module's folder: the root, or a subfolder (older sentence-transformers
        # layouts: 0_Transformer/ with its own config.json, weights and sentence_bert_config.json)
        tdir = folder
        for mod in modules or []:
            if mod["type"].rsplit(".", 1)[-1] == "Transformer":
                tdir = os.path.join(folder, mod.get("path", ""))
        self.cfg = read_json(os.path.join(tdir, "config.json"))
        if self.cfg is None:
            raise FileNotFoundError(f"{tdir}: no config.json")
        self.enc = Encoder(self.cfg, load_weights(tdir))
        archs = self.cfg.get("architectures") or []
        self.is_classifier = any(a.endswith("ForSequenceClassification") for a in archs)
        self.num_labels = num_labels_of(self.cfg) if self.is_classifier else 0
        self.activation, self.activation_fn = classifier_activation(self.cfg) if self.is_classifier else (None, None)
        st = read_json(os.path.join(folder, "config_sentence_transformers.json"), {})
        self.prompts = st.get("prompts", {})
        self.default_prompt_name = st.get("default_prompt_name")
        sb = read_json(os.path.join(tdir, "sentence_bert_config.json"), {})
        self.max_seq_length = sb.get("max_seq_length")
        # sentence-transformers pipeline after the Transformer module
        self.steps = []  # ("pool", modes, include_prompt) | ("dense", Dense) | ("normalize",)
        if modules is None:  # a plain HF folder: sentence-transformers would add mean pooling
            self.steps.append(["pool", ["mean"], True])
        else:
            for mod in sorted(modules, key=lambda m: m.get("idx", 0)):
                kind = mod["type"].rsplit(".", 1)[-1]
                path = os.path.join(folder, mod.get("path", ""))
                if kind == "Transformer":
                    continue
                if kind == "Pooling":
                    pc = read_json(os.path.join(path, "config.json"), {})
                    modes = [n for n, key in POOLING_KEYS if pc.get(key)]
                    if pc.get("pooling_mode") and not modes:
                        modes = [pc["pooling_mode"]]
                    self.steps.append(["pool", modes, pc.get("include_prompt", True)])
                elif kind == "Dense":
                    self.steps.append(["dense", Dense(path)])
                elif kind == "Normalize":
                    self.steps.append(["normalize"])
                else:
                    raise NotImplementedError(f"sentence-transformers module {mod['type']}")
        if pooling:
            modes = pooling.split(",")
            for m in modes:
                if m not in dict(POOLING_KEYS):
                    raise ValueError(f"unknown pooling {m!r}")
            pools = [s for s in self.steps if s[0] == "pool"]
            if pools:
                pools[0][1] = modes
            else:
                self.steps.insert(0, ["pool", modes, True])
        self._check_tensors()

    def _check_tensors(self):
        """Run a 2-token dummy input through every path once so tensors the chosen
        architecture never reads are reported (e.g. a classifier on an embedding model)."""
        ids = torch.tensor([[self.enc.pad_id + 2, self.enc.pad_id + 3]], dtype=torch.long)
        with torch.inference_mode():
            h = self.enc.forward(ids, torch.ones_like(ids), torch.zeros_like(ids))
            if self.is_classifier:
                classify(self.enc, h)
        unused = [n for n in self.enc.p.unused() if not (n.startswith("pooler.") and not self.is_classifier)]
        if unused:
            raise ValueError(f"tensors the {self.enc.family} architecture does not use: {unused[:8]}")

    def describe(self):
        return {
            "family": self.enc.family, "model_type": self.cfg.get("model_type"),
            "architectures": self.cfg.get("architectures"), "hidden": self.enc.hidden,
            "layers": self.enc.layers, "heads": self.enc.nh, "activation_fn": self.enc.act_name,
            "layer_norm_eps": self.enc.eps, "max_position_embeddings": self.enc.max_pos,
            "pad_id": self.enc.pad_id, "prefixed_names": self.enc.p.prefixed,
            "position_ids": ("padding-aware cumsum from %d" % (self.enc.padding_idx + 1))
            if self.enc.family in ("roberta", "mpnet") else "0..L-1",
            "uses_token_types": self.enc.family == "bert",
            "classifier": {"num_labels": self.num_labels, "activation": self.activation} if self.is_classifier else None,
            "pipeline": [self._step_desc(s) for s in self.steps] if not self.is_classifier else None,
            "embedding_dim": self.embedding_dim() if not self.is_classifier else None,
            "max_seq_length": self.max_seq_length,
            "prompts": self.prompts, "default_prompt_name": self.default_prompt_name,
        }

    @staticmethod
    def _step_desc(s):
        if s[0] == "pool":
            return {"pooling": s[1], "include_prompt": s[2]}
        if s[0] == "dense":
            return {"dense": [s[1].in_features, s[1].out_features], "activation": s[1].act_path}
        return {"normalize": True}

    def embedding_dim(self):
        d = self.enc.hidden
        for s in self.steps:
            if s[0] == "pool":
                d = self.enc.hidden * len(s[1])
            elif s[0] == "dense":
                d = s[1].out_features
        return d

    # ---- running ----------------------------------------------------------------------
    def batch(self, items, padding_side="right"):
        """items: list of (ids, type_ids or None). -> ids, mask, type_ids [B, L] int64."""
        L = max(len(i) for i, _ in items)
        B = len(items)
        ids = torch.full((B, L), self.enc.pad_id, dtype=torch.long)
        mask = torch.zeros((B, L), dtype=torch.long)
        tt = torch.zeros((B, L), dtype=torch.long)
        for r, (x, t) in enumerate(items):
            s = slice(0, len(x)) if padding_side == "right" else slice(L - len(x), L)
            ids[r, s] = torch.tensor(x, dtype=torch.long)
            mask[r, s] = 1
            if t is not None:
                tt[r, s] = torch.tensor(t, dtype=torch.long)
        return ids, mask, tt

    @torch.inference_mode()
    def run(self, items, mode="embedding", batch_size=1, padding_side="right", prompt_length=0,
            tokens=False, activation=None):
        """items: list of (ids, type_ids|None). Returns a list of dicts per input:
        mode 'embedding': {"embedding"}; mode 'scores': {"logits", "scores"[, "softmax"]};
        tokens=True adds "tokens" (last hidden state of the input's own positions)."""
        if mode == "scores" and not self.is_classifier:
            raise ValueError("scores need a *ForSequenceClassification model")
        if mode == "embedding" and self.is_classifier:
            raise ValueError("this folder is a cross-encoder (*ForSequenceClassification): use scores (--pairs)")
        act_fn = named_activation(activation) if activation else self.activation_fn
        out = []
        for b0 in range(0, len(items), batch_size):
            chunk = items[b0:b0 + batch_size]
            ids, mask, tt = self.batch(chunk, padding_side)
            h = self.enc.forward(ids, mask, tt)
            rows = [dict() for _ in chunk]
            if mode == "embedding":
                e = h
                for s in self.steps:
                    if s[0] == "pool":
                        e = pool(h, mask, s[1], 0 if s[2] else prompt_length)
                    elif s[0] == "dense":
                        e = s[1](e)
                    else:
                        e = F.normalize(e, p=2, dim=1)
                for r in range(len(chunk)):
                    rows[r]["embedding"] = e[r]
            else:
                logits = classify(self.enc, h)
                scores = act_fn(logits)
                for r in range(len(chunk)):
                    rows[r]["logits"] = logits[r]
                    rows[r]["scores"] = scores[r]
                    if self.num_labels > 1:
                        rows[r]["softmax"] = torch.softmax(logits[r], dim=-1)
            if tokens:
                for r, (x, _) in enumerate(chunk):
                    keep = mask[r].bool()
                    rows[r]["tokens"] = h[r][keep]
            out.extend(rows)
        return out


def setup_determinism(threads=1):
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.set_grad_enabled(False)
