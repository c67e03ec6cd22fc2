#!/usr/bin/python3
"""Loads a Contramask safetensors export into the matching PyTorch module and checks its outputs.

    contramask export --run RUN --format safetensors --out encoder.safetensors --reference reference.safetensors
    /usr/bin/python3 bench/load_in_pytorch.py encoder.safetensors reference.safetensors

The module is built from the file's metadata (contramask.architecture, contramask.input, contramask.table_schema):
image encoders from bench/pytorch_reference.py (ConvNet, ResNet-18, ViT), the table encoders and the classifier
wrapper below, then `load_state_dict(strict=True)` with the file's names as they are. Its evaluation-mode outputs on
the reference file's inputs must equal Contramask's (TorchSharp's) within 1e-4. Prints one JSON line; exits 1 if not.
Needs Debian's python3-torch (bench/speed.sh installs it).
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_reference import ConvNet, ResNet18, TransformerBlock, VisionTransformer  # noqa: E402

TOLERANCE = 1e-4
DTYPES = {"F32": np.float32, "I64": np.int64}


def read_safetensors(path):
    """safetensors: u64 little-endian header size, JSON header (dtype, shape, data_offsets; __metadata__), data."""
    with open(path, "rb") as f:
        blob = f.read()
    (size,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + size])
    metadata = header.pop("__metadata__", {})
    start = 8 + size
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        array = np.frombuffer(blob[start + begin:start + end], dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors, metadata


# ------------------------------------------------------------------------- table encoders (Models/TableEncoder.cs)

class TableLayout:
    """Columns of the packed N×2F rows: values (numbers standardized, category codes), then missing flags."""

    def __init__(self, schema):
        features = schema["features"]
        self.count = len(features)
        self.numeric = [i for i, f in enumerate(features) if f["kind"] == "numeric"]
        self.categorical = [i for i, f in enumerate(features) if f["kind"] == "categorical"]
        self.cardinalities = [len(features[i]["categories"]) + 1 for i in self.categorical]

    def values(self, rows):
        return rows[:, :self.count]

    def missing(self, rows):
        return rows[:, self.count:]

    def codes(self, rows):
        return self.values(rows)[:, self.categorical].long()


def category_dimension(cardinality):
    return min(16, max(2, math.ceil(1.6 * cardinality ** 0.56)))


class ResidualMlp(nn.Module):
    def __init__(self, layout, dim, depth):
        super().__init__()
        self.layout = layout
        self.categories = nn.ModuleList([nn.Embedding(k, category_dimension(k)) for k in layout.cardinalities])
        size = len(layout.numeric) + layout.count + sum(category_dimension(k) for k in layout.cardinalities)
        self.input = nn.Linear(size, dim)
        self.blocks = nn.ModuleList([nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.ReLU(), nn.Linear(2 * dim, dim))
                                     for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, rows):
        parts = [self.layout.values(rows)[:, self.layout.numeric], self.layout.missing(rows)]
        codes = self.layout.codes(rows)
        parts += [table(codes[:, c]) for c, table in enumerate(self.categories)]
        x = self.input(torch.cat(parts, 1))
        for block in self.blocks:
            x = x + block(x)
        return self.norm(x)


class FeatureTokenTransformer(nn.Module):
    def __init__(self, layout, dim, depth, heads):
        super().__init__()
        self.layout = layout
        self.numericWeight = nn.Parameter(torch.zeros(max(1, len(layout.numeric)), dim))
        self.columnBias = nn.Parameter(torch.zeros(layout.count, dim))
        self.missingToken = nn.Parameter(torch.zeros(layout.count, dim))
        self.classToken = nn.Parameter(torch.zeros(1, 1, dim))
        self.categories = nn.ModuleList([nn.Embedding(k, dim) for k in layout.cardinalities])
        self.blocks = nn.ModuleList([TransformerBlock(dim, heads, mlp_ratio=2) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, rows):
        layout = self.layout
        per_column = [None] * layout.count
        if layout.numeric:
            numeric = layout.values(rows)[:, layout.numeric].unsqueeze(-1) * self.numericWeight.unsqueeze(0)
            for i, column in enumerate(layout.numeric):
                per_column[column] = numeric[:, i]
        codes = layout.codes(rows)
        for c, column in enumerate(layout.categorical):
            per_column[column] = self.categories[c](codes[:, c])
        tokens = torch.stack(per_column, 1) + self.columnBias.unsqueeze(0)
        missing = layout.missing(rows).unsqueeze(-1)
        tokens = tokens * (1 - missing) + self.missingToken.unsqueeze(0) * missing
        x = torch.cat([self.classToken.expand(rows.shape[0], -1, -1), tokens], 1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x[:, 0])


class Classifier(nn.Module):
    """Classification/ClassifierNetwork.cs: head((encoder(x) − mean) / std); probabilities softmax(logits / T)."""

    def __init__(self, encoder, classes):
        super().__init__()
        self.encoder = encoder
        size = encoder.embedding_size
        self.head = nn.Linear(size, classes)
        self.register_buffer("featureMean", torch.zeros(1, size))
        self.register_buffer("featureStd", torch.ones(1, size))
        self.register_buffer("temperature", torch.ones(1))

    def outputs(self, x):
        embedding = self.encoder(x)
        logits = self.head((embedding - self.featureMean) / self.featureStd)
        return {"embedding": embedding, "logits": logits, "probabilities": (logits / self.temperature).softmax(1)}


def build(metadata):
    architecture = json.loads(metadata["contramask.architecture"])
    shape = json.loads(metadata["contramask.input"])
    kind = architecture["kind"]
    if kind == "convnet":
        encoder = ConvNet(shape["channels"], architecture["width"])
    elif kind == "resnet18":
        encoder = ResNet18(shape["channels"], architecture["width"])
    elif kind == "vit":
        a = architecture
        encoder = VisionTransformer(a["channels"], a["height"], a["width"], a["patch"], a["dim"], a["depth"], a["heads"])
    else:
        layout = TableLayout(json.loads(metadata["contramask.table_schema"]))
        a = architecture
        encoder = ResidualMlp(layout, a["dim"], a["depth"]) if kind == "mlp" else FeatureTokenTransformer(layout, a["dim"], a["depth"], a["heads"])
        encoder.embedding_size = a["dim"]
    if metadata["contramask.kind"] == "classifier":
        return Classifier(encoder, len(json.loads(metadata["contramask.classes"])))
    return encoder


def normalize(images, metadata):
    """The run's per-channel standardization (Views/ImageNormalization.cs), applied before the encoder."""
    if "contramask.normalization" not in metadata:
        return images
    n = json.loads(metadata["contramask.normalization"])
    mean = torch.tensor(n["mean"]).reshape(1, -1, 1, 1)
    std = torch.tensor(n["std"]).reshape(1, -1, 1, 1)
    return (images - mean) / std


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", help="safetensors written by contramask export --format safetensors")
    parser.add_argument("reference", help="the --reference file of the same export: inputs and Contramask's outputs")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    state, metadata = read_safetensors(args.weights)
    reference, _ = read_safetensors(args.reference)
    module = build(metadata)
    module.load_state_dict(state, strict=True)
    module.eval()
    with torch.no_grad():
        x = normalize(reference["inputs"], metadata)
        outputs = module.outputs(x) if isinstance(module, Classifier) else {"embedding": module(x)}
    differences = {name: float((outputs[name] - reference["outputs." + name]).abs().max()) for name in outputs}
    same = all(d <= TOLERANCE for d in differences.values())
    print(json.dumps({"weights": args.weights, "module": type(module.encoder if isinstance(module, Classifier) else module).__name__,
                      "parameters": len(state), "records": int(reference["inputs"].shape[0]), "max_difference": differences,
                      "tolerance": TOLERANCE, "same": same, "torch": torch.__version__}))
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
