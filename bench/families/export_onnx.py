#!/usr/bin/python3
"""Export a model folder's encoder (or a cross-encoder with its head: inputs input_ids,
attention_mask, token_type_ids, output logits) to MODEL_DIR/onnx/model.onnx for the ONNX Runtime peer,
from the PyTorch reference (tools/torch_ref, any family it reads): inputs input_ids and
attention_mask (int64 [batch, length]), output last_hidden_state, as ../shared/bench/peers'
gen_model.py exports BERT. The peer's harness (bench_ort.mjs) then pools and normalises.

  /usr/bin/python3 bench/families/export_onnx.py MODEL_DIR
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "torch_ref"))
import torchref  # noqa: E402


class WrapClassifier(torch.nn.Module):
    """A cross-encoder: the pair's ids, mask and token types -> the head's logits."""

    def __init__(self, enc):
        super().__init__()
        self.enc = enc

    def forward(self, input_ids, attention_mask, token_type_ids):
        return torchref.classify(self.enc, self.enc.forward(input_ids, attention_mask, token_type_ids))


class Wrap(torch.nn.Module):
    def __init__(self, enc):
        super().__init__()
        self.enc = enc

    def forward(self, input_ids, attention_mask):
        return self.enc.forward(input_ids, attention_mask, torch.zeros_like(input_ids))


def main():
    folder = sys.argv[1]
    model = torchref.Model(folder)
    # the reference takes LayerNorm's width from the tensor, which tracing makes dynamic and the
    # ONNX exporter refuses: give it the model's width as a constant
    hidden = model.enc.hidden
    torchref._ln = lambda x, p, name, eps: torch.nn.functional.layer_norm(x, (hidden,), p[name + ".weight"],
                                                                           p[name + ".bias"], eps)
    ids = torch.tensor([[0, 100, 200, 300, 2], [0, 400, 500, 2, 1]], dtype=torch.long)
    mask = (torch.arange(5)[None, :] < torch.tensor([[5], [4]])).long()
    os.makedirs(os.path.join(folder, "onnx"), exist_ok=True)
    path = os.path.join(folder, "onnx", "model.onnx")
    dyn = {0: "batch_size", 1: "sequence_length"}
    with torch.no_grad():
        if model.is_classifier:
            tt = torch.zeros_like(ids)
            torch.onnx.export(WrapClassifier(model.enc), (ids, mask, tt), path,
                              input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["logits"],
                              dynamic_axes={"input_ids": dyn, "attention_mask": dyn, "token_type_ids": dyn,
                                            "logits": {0: "batch_size"}},
                              opset_version=14, do_constant_folding=True)
        else:
            torch.onnx.export(Wrap(model.enc), (ids, mask), path, input_names=["input_ids", "attention_mask"],
                              output_names=["last_hidden_state"],
                              dynamic_axes={"input_ids": dyn, "attention_mask": dyn, "last_hidden_state": dyn},
                              opset_version=14, do_constant_folding=True)
    import onnx
    onnx.checker.check_model(onnx.load(path))
    print(path)


if __name__ == "__main__":
    main()
