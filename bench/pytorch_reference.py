#!/usr/bin/python3
"""PyTorch reference of Contramask's pretraining recipes, for the side-by-side speed benchmark (bench/speed.sh).

The same encoders (ConvNet, CIFAR ResNet-18, ViT without class token), the same per-sample tensor augmentations
(affine-grid crop/flip, jitter, grey, blur, noise), the same patch masks, losses (NT-Xent, MAE reconstruction on
per-patch-normalized pixels, CAN fusion), AdamW with the same groups, warm-up + cosine learning rate and gradient
clipping as src/Contramask. Module attribute names follow the C# fields, so `check` can load Contramask's weights
by name and recompute one loss (see `contramask speed --loss-check`).

  run:    pytorch_reference.py run --method fusion --encoder vit-tiny --input 28x28x1 --threads 2 --steps 10
  check:  pytorch_reference.py check DIR        (DIR written by `contramask speed --loss-check DIR`)
  peak:   pytorch_reference.py peak --threads 2 (fp32 matmul GFLOP/s)
  env:    pytorch_reference.py env              (torch, ATen capability, BLAS library and OpenBLAS core type, backend variables)

Written for Debian 12's python3-torch (1.13): attention is spelled out (no scaled_dot_product_attention).
"""
import argparse, json, math, os, resource, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------------- encoders

def conv_block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ConvNet(nn.Module):
    def __init__(self, channels, width=32):
        super().__init__()
        self.layers = nn.Sequential(conv_block(channels, width), nn.MaxPool2d(2), conv_block(width, 2 * width), nn.MaxPool2d(2),
                                    conv_block(2 * width, 4 * width))
        self.embedding_size = 4 * width

    def feature_map(self, x):
        return self.layers(x)

    def forward(self, x):
        return self.feature_map(x).mean([2, 3])


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        y = y + (x if self.shortcut is None else self.shortcut(x))
        return F.relu(y, inplace=True)


class ResNet18(nn.Module):
    def __init__(self, channels, width=1.0):
        super().__init__()
        planes = [max(8, round(p * width)) for p in (64, 128, 256, 512)]  # round half to even, as C#'s Math.Round
        self.stem = nn.Sequential(nn.Conv2d(channels, planes[0], 3, padding=1, bias=False), nn.BatchNorm2d(planes[0]), nn.ReLU(inplace=True))
        blocks, cin = [], planes[0]
        for s, p in enumerate(planes):
            blocks += [BasicBlock(cin, p, 1 if s == 0 else 2), BasicBlock(p, p, 1)]
            cin = p
        self.stages = nn.Sequential(*blocks)
        self.embedding_size = planes[3]

    def feature_map(self, x):
        return self.stages(self.stem(x))

    def forward(self, x):
        return self.feature_map(x).mean([2, 3])


FLOPS = {"on": False, "count": 0.0}  # forward multiply-adds ×2, counted by hooks and the attention function


def attention(q, k, v):
    """softmax(q kᵀ / √d) v, as F.scaled_dot_product_attention computes it in Contramask (libtorch 2.10)."""
    if FLOPS["on"]:
        FLOPS["count"] += 2 * 2 * q.shape[0] * q.shape[1] * q.shape[2] * k.shape[2] * q.shape[3]
    weights = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    return weights.softmax(-1) @ v


class TransformerBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio=4.0):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.projection = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.hidden = nn.Linear(dim, int(dim * mlp_ratio))
        self.output = nn.Linear(int(dim * mlp_ratio), dim)
        for linear in (self.qkv, self.projection, self.hidden, self.output):
            nn.init.xavier_uniform_(linear.weight)
            nn.init.zeros_(linear.bias)

    def forward(self, x):
        n, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attended = attention(qkv[0], qkv[1], qkv[2])
        x = x + self.projection(attended.transpose(1, 2).reshape(n, t, d))
        return x + self.output(F.gelu(self.hidden(self.norm2(x))))


def sincos_1d(dim, positions):
    omega = torch.pow(10000.0, -torch.arange(dim // 2, dtype=torch.float32) / (dim / 2.0))
    angles = positions.float().unsqueeze(1) * omega.unsqueeze(0)
    return torch.cat([angles.sin(), angles.cos()], 1)


def sincos_2d(dim, gh, gw):
    rows = torch.arange(gh, dtype=torch.float32).repeat_interleave(gw)
    cols = torch.arange(gw, dtype=torch.float32).repeat(gh)
    return torch.cat([sincos_1d(dim // 2, rows), sincos_1d(dim // 2, cols)], 1).unsqueeze(0)


def patchify(images, p):
    n, c, h, w = images.shape
    return images.reshape(n, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(n, (h // p) * (w // p), p * p * c)


class VisionTransformer(nn.Module):
    def __init__(self, channels, height, width, patch, dim, depth, heads):
        super().__init__()
        self.patch, self.dim, self.channels = patch, dim, channels
        self.grid_h, self.grid_w = height // patch, width // patch
        self.patchEmbedding = nn.Linear(patch * patch * channels, dim)
        nn.init.xavier_uniform_(self.patchEmbedding.weight)
        nn.init.zeros_(self.patchEmbedding.bias)
        self.blocks = nn.ModuleList([TransformerBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.register_buffer("positions", sincos_2d(dim, self.grid_h, self.grid_w), persistent=False)
        self.embedding_size = dim

    def encode_visible(self, images, keep=None):
        x = self.patchEmbedding(patchify(images, self.patch)) + self.positions
        if keep is not None:
            x = x.gather(1, keep.unsqueeze(-1).expand(-1, -1, self.dim))
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def forward(self, images):
        return self.encode_visible(images).mean(1)


def build_encoder(name, channels, height, width):
    if name == "convnet":
        return ConvNet(channels)
    if name == "resnet18":
        return ResNet18(channels)
    shapes = {"vit-mini": (128, 4, 4), "vit-tiny": (192, 6, 3), "vit-small": (384, 12, 6)}
    dim, depth, heads = shapes[name]
    return VisionTransformer(channels, height, width, patch_for(height, width), dim, depth, heads)


def patch_for(height, width):
    """EncoderOptions.PatchFor: smallest p ≥ 2 dividing the side with ≤ 4 patches per side up to 28 px, ≤ 8 beyond."""
    side = min(height, width)
    per_side = 4 if side <= 28 else 8
    return next((p for p in range(2, side + 1) if side % p == 0 and side // p <= per_side), side)

# ---------------------------------------------------------------------------------------------------- objectives

class ProjectionHead(nn.Module):
    def __init__(self, cin, hidden=512, out=128):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(cin, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out))

    def forward(self, x):
        return self.layers(x)


def nt_xent(z1, z2, temperature):
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], 0), dim=1)
    logits = (z @ z.T) / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(logits, positives)


def reconstruction_loss(predictions, targets, patch, weights):
    target = patchify(targets, patch)
    mean = target.mean(-1, keepdim=True)
    var = target.var(-1, keepdim=True)
    target = (target - mean) / (var + 1e-6).sqrt()
    per_patch = (predictions - target).square().mean(-1)
    return (per_patch * weights).sum() / weights.sum().clamp_min(1)


class MaeBranch(nn.Module):
    def __init__(self, encoder, decoder_dim=128, decoder_depth=2, decoder_heads=4):
        super().__init__()
        self.decoder_dim = decoder_dim
        self.decoderEmbedding = nn.Linear(encoder.dim, decoder_dim)
        self.maskToken = nn.Parameter(torch.randn(1, 1, decoder_dim) * 0.02)
        self.decoderBlocks = nn.ModuleList([TransformerBlock(decoder_dim, decoder_heads) for _ in range(decoder_depth)])
        self.decoderNorm = nn.LayerNorm(decoder_dim, eps=1e-6)
        self.predictor = nn.Linear(decoder_dim, encoder.patch * encoder.patch * encoder.channels)
        self.noiseEmbedding = nn.Sequential(nn.Linear(decoder_dim, decoder_dim), nn.ReLU(), nn.Linear(decoder_dim, decoder_dim))
        self.register_buffer("decoder_positions", sincos_2d(decoder_dim, encoder.grid_h, encoder.grid_w), persistent=False)

    def forward(self, encoder, images, keep, restore):
        visible = encoder.encode_visible(images, keep)
        pooled = visible.mean(1)
        n, hidden = visible.shape[0], restore.shape[1] - keep.shape[1]
        x = self.decoderEmbedding(visible)
        x = torch.cat([x, self.maskToken.expand(n, hidden, self.decoder_dim)], 1)
        x = x.gather(1, restore.unsqueeze(-1).expand(-1, -1, self.decoder_dim)) + self.decoder_positions
        for block in self.decoderBlocks:
            x = block(x)
        return pooled, self.predictor(self.decoderNorm(x))


def random_mask(batch, count, ratio, generator):
    """PatchMask.Random: keep the first round((1 − ratio)·L) of a random shuffle; returns keep, restore, mask (1 = hidden)."""
    keep = max(1, int(round(count * (1 - ratio))))
    shuffle = torch.rand(batch, count, generator=generator).argsort(1)
    restore = shuffle.argsort(1)
    sorted_mask = torch.ones(batch, count)
    sorted_mask[:, :keep] = 0
    return shuffle[:, :keep].contiguous(), restore, sorted_mask.gather(1, restore)


class Objective(nn.Module):
    """contrastive (SimCLR), masked (MAE) or fusion (CAN, both views masked) around a ViT or CNN, as in Contramask."""

    def __init__(self, method, encoder, temperature=0.2, mask_ratio=0.5, decoder_dim=128, decoder_depth=2):
        super().__init__()
        self.method, self.encoder, self.temperature, self.mask_ratio = method, encoder, temperature, mask_ratio
        if method in ("contrastive", "fusion"):
            self.projection = ProjectionHead(encoder.embedding_size)
        if method in ("masked", "fusion"):
            if not isinstance(encoder, VisionTransformer):
                raise SystemExit("the reference implements masked and fusion recipes with a ViT only")
            self.branch = MaeBranch(encoder, decoder_dim=decoder_dim, decoder_depth=decoder_depth)

    view_count = property(lambda self: 1 if self.method == "masked" else 2)

    def loss(self, views, generator, mask=None):
        if self.method == "contrastive":
            n = views[0].shape[0]
            z = self.projection(self.encoder(torch.cat(views, 0)))
            loss = nt_xent(z[:n], z[n:], self.temperature)
            return loss, {"contrastive": loss}
        images = views[0] if self.method == "masked" else torch.cat(views, 0)
        e = self.encoder
        keep, restore, hidden = mask if mask is not None else random_mask(images.shape[0], e.grid_h * e.grid_w, self.mask_ratio, generator)
        pooled, predictions = self.branch(e, images, keep, restore)
        reconstruction = reconstruction_loss(predictions, images, e.patch, hidden)
        if self.method == "masked":
            return reconstruction, {"reconstruction": reconstruction}
        n = views[0].shape[0]
        contrastive = nt_xent(self.projection(pooled[:n]), self.projection(pooled[n:]), self.temperature)
        return reconstruction + contrastive, {"contrastive": contrastive, "reconstruction": reconstruction}

# --------------------------------------------------------------------------------------------------------- views

class Augmenter:
    """ImageAugmenter: per-sample random resized crop + flip (one affine grid_sample), jitter, grey, blur, noise."""

    def __init__(self, channels, strong, generator):
        self.g = generator
        self.crop_min = 0.35 if strong else 0.5
        self.flip = channels == 3
        self.jitter, self.jitter_p = (0.4, 0.8) if strong else (0.0, 0.0)
        self.saturation = 0.4 if strong else 0.0
        self.grey_p = 0.2 if strong else 0.0
        self.blur_p = 0.3 if strong else 0.0
        self.noise = 0.05 if strong else 0.0

    def u(self, n, lo=0.0, hi=1.0):
        return torch.rand(n, generator=self.g) * (hi - lo) + lo

    def __call__(self, x):
        n, c = x.shape[0], x.shape[1]
        area = self.u(n, self.crop_min, 1.0)
        ratio = self.u(n, math.log(3 / 4), math.log(4 / 3)).exp()
        w = (area * ratio).sqrt().clamp(max=1)
        h = (area / ratio).sqrt().clamp(max=1)
        cx = self.u(n, -1, 1) * (1 - w)
        cy = self.u(n, -1, 1) * (1 - h)
        flip = torch.where(self.u(n) < 0.5, -1.0, 1.0) if self.flip else torch.ones(n)
        zero = torch.zeros(n)
        theta = torch.stack([w * flip, zero, cx, zero, h, cy], 1).view(n, 2, 3)
        x = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), mode="bilinear", padding_mode="border", align_corners=False)
        if self.jitter_p > 0:
            apply = (self.u(n) < self.jitter_p).float()
            factor = lambda s: ((self.u(n, 1 - s, 1 + s) - 1) * apply + 1).view(n, 1, 1, 1)
            x = x * factor(self.jitter)
            mean = luma(x).mean([1, 2, 3], keepdim=True)
            x = (x - mean) * factor(self.jitter) + mean
            if c == 3 and self.saturation > 0:
                grey = luma(x)
                x = (x - grey) * factor(self.saturation) + grey
            x = x.clamp(0, 1)
        if c == 3 and self.grey_p > 0:
            x = torch.where((self.u(n) < self.grey_p).view(n, 1, 1, 1), luma(x).expand(-1, 3, -1, -1), x)
        if self.blur_p > 0:
            k, sigma = 3, 1.0
            offsets = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
            g = (-(offsets * offsets) / (2 * sigma * sigma)).exp()
            g = g / g.sum()
            kernel = torch.outer(g, g).expand(c, 1, k, k).contiguous()
            blurred = F.conv2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), kernel, groups=c)
            amount = ((self.u(n) < self.blur_p).float() * self.u(n)).view(n, 1, 1, 1)
            x = x + (blurred - x) * amount
        if self.noise > 0:
            x = x + torch.randn(x.shape, generator=self.g) * (self.u(n) * self.noise).view(n, 1, 1, 1)
        return x.clamp(0, 1)


def luma(x):
    return x if x.shape[1] == 1 else x[:, 0:1] * 0.299 + x[:, 1:2] * 0.587 + x[:, 2:3] * 0.114

# ------------------------------------------------------------------------------------------------------ training

def optimizer_for(objective, lr=1e-3, weight_decay=0.05):
    decay, no_decay = [], []
    for name, p in objective.named_parameters():
        (decay if p.dim() >= 2 and "mask" not in name.lower() else no_decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.95), eps=1e-8)


def lr_at(progress, peak, warmup=0.05, final=0.01):
    progress = min(max(progress, 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        return peak * max(progress / warmup, 1e-3)
    t = (progress - warmup) / (1 - warmup)
    floor = peak * final
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * t))


def parse_shape(text):
    h, w, c = (int(v) for v in text.lower().split("x"))
    return h, w, c


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    h, w, c = parse_shape(args.input)
    count = max(2048, 4 * args.batch_size)
    pixels = torch.from_numpy(np.random.default_rng(0).integers(0, 256, size=(count, c, h, w), dtype=np.uint8))
    unit = pixels.float() / 255
    mean = unit.mean([0, 2, 3]).view(1, c, 1, 1)
    std = unit.std([0, 2, 3]).clamp_min(1e-3).view(1, c, 1, 1)
    del unit
    encoder = build_encoder(args.encoder, c, h, w)
    vit = isinstance(encoder, VisionTransformer)
    mask_ratio = {"masked": 0.75, "fusion": 0.5}.get(args.method, 0.5)
    objective = Objective(args.method, encoder, mask_ratio=mask_ratio)
    objective.train()
    optimizer = optimizer_for(objective)
    generator = torch.Generator().manual_seed(42)
    augment = Augmenter(c, args.method != "masked", generator)
    batch = args.batch_size
    steps_per_epoch = count // batch
    total = 100_000 * steps_per_epoch
    order = torch.randperm(count, generator=torch.Generator().manual_seed(0))
    phases = {k: 0.0 for k in ("data", "views", "forward", "backward", "optimizer")}
    step_times, first_timed, last, loss_value = [], None, None, float("nan")
    flops_per_step = None
    for step in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        if step == args.warmup:
            phases = {k: 0.0 for k in phases}
        i = step % steps_per_epoch
        if i == 0 and step > 0:
            order = torch.randperm(count, generator=torch.Generator().manual_seed(step))
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step / total, 1e-3)
        inputs = pixels[order[i * batch:(i + 1) * batch]].float().div_(255)
        t1 = time.perf_counter()
        views = [(augment(inputs) - mean) / std for _ in range(objective.view_count)]
        t2 = time.perf_counter()
        optimizer.zero_grad()
        counting = step == 0
        hooks = count_flops(objective) if counting else []
        loss, components = objective.loss(views, generator)
        if counting:
            flops_per_step = 3 * FLOPS["count"]  # backward ≈ 2× forward
            FLOPS["on"] = False
            for hook in hooks:
                hook.remove()
        loss_value = loss.item()
        {k: v.item() for k, v in components.items()}  # Contramask reads every component for its metrics log: same work
        t3 = time.perf_counter()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(objective.parameters(), 3.0)
        t4 = time.perf_counter()
        optimizer.step()
        t5 = time.perf_counter()
        for k, a, b in (("data", t0, t1), ("views", t1, t2), ("forward", t2, t3), ("backward", t3, t4), ("optimizer", t4, t5)):
            phases[k] += b - a
        if step == args.warmup - 1:
            first_timed = t5
        elif step >= args.warmup:
            step_times.append(t5 - last)
        last = t5
    total_s = last - first_timed
    phases = {k: v / args.steps for k, v in phases.items()}
    step_times.sort()
    print(json.dumps({
        "implementation": "pytorch", "torch": torch.__version__, "method": args.method, "encoder": args.encoder, "input": args.input,
        "threads": torch.get_num_threads(), "batch": batch, "steps": args.steps, "images_per_s": batch * args.steps / total_s,
        "median_step_s": step_times[len(step_times) // 2], "pure_step_s": phases["forward"] + phases["backward"] + phases["optimizer"],
        "phases_s": phases, "peak_rss_mb": peak_rss_mb(), "loss": loss_value, "flops_per_step": flops_per_step,
    }))


def count_flops(model):
    """Forward hooks that add 2·multiply-adds of every linear and convolution layer (attention adds its own)."""
    FLOPS["on"], FLOPS["count"] = True, 0.0

    def linear(m, i, o):
        FLOPS["count"] += 2.0 * o.numel() * m.in_features

    def conv(m, i, o):
        FLOPS["count"] += 2.0 * o.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear))
        elif isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv))
    return hooks


def canonical(name):
    """Contramask parameter names → this module's: the objective's encoder appears as a C# auto-property field."""
    name = name[len("param."):]
    return name.replace("<Encoder>k__BackingField.", "encoder.").replace("branch.encoder.", "encoder.")


def check(args):
    torch.set_num_threads(args.threads)
    manifest = json.load(open(os.path.join(args.folder, "manifest.json")))
    tensors = {}
    for t in manifest["tensors"]:
        data = np.fromfile(os.path.join(args.folder, t["file"]), dtype=np.int64 if t["dtype"] == "int64" else np.float32)
        tensors[t["name"]] = torch.from_numpy(data.reshape(t["shape"]))
    views = [tensors[k] for k in sorted(k for k in tensors if k.startswith("view"))]
    enc, obj = manifest["encoder"], manifest["objective"]
    name = {"convnet": "convnet", "resnet18": "resnet18"}.get(enc["kind"]) or {192: "vit-tiny", 128: "vit-mini", 384: "vit-small"}[enc["dim"]]
    _, c, h, w = views[0].shape
    encoder = build_encoder(name, c, h, w)
    if obj["method"] == "fusion" and (obj.get("fusion", "can") != "can" or obj.get("masked_views", 2) != 2):
        raise SystemExit(f"the reference implements CAN's fusion only (--fusion can, both views masked), not "
                         f"fusion {obj.get('fusion')} with {obj.get('masked_views')} masked view(s): pass --fusion can to contramask speed")
    objective = Objective(obj["method"], encoder, temperature=obj["temperature"], mask_ratio=obj["mask_ratio"],
                          decoder_dim=obj.get("decoder_dim", 128), decoder_depth=obj.get("decoder_depth", 2))
    state = {canonical(k): v for k, v in tensors.items() if k.startswith("param.")}
    own = dict(objective.named_parameters())
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        raise SystemExit(f"parameter names differ: missing {missing[:5]}, unexpected {extra[:5]}")
    with torch.no_grad():
        for k, p in own.items():
            if tuple(p.shape) != tuple(state[k].shape):
                raise SystemExit(f"{k}: shape {tuple(p.shape)} here, {tuple(state[k].shape)} in Contramask")
            p.copy_(state[k])
    objective.train()
    mask = None
    if "mask.keep" in tensors:
        keep, restore = tensors["mask.keep"], tensors["mask.restore"]
        count = restore.shape[1]
        hidden = torch.ones(restore.shape[0], count)
        hidden[:, :keep.shape[1]] = 0
        mask = (keep, restore, hidden.gather(1, restore))
    loss, components = objective.loss(views, None, mask)
    ours, theirs = loss.item(), manifest["loss"]
    relative = abs(ours - theirs) / max(abs(theirs), 1e-12)
    ok = relative < 1e-4
    print(json.dumps({"folder": args.folder, "contramask_loss": theirs, "pytorch_loss": ours, "relative_difference": relative,
                      "components": {k: v.item() for k, v in components.items()}, "same": ok}))
    sys.exit(0 if ok else 1)


def peak(args):
    torch.set_num_threads(args.threads)
    n, repeats = 2048, 10
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    print(json.dumps({"implementation": "pytorch", "matmul_gflops": 2.0 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9}))


# Environment variables that select BLAS / oneDNN / OpenMP code paths or sizes: some machines pin OpenBLAS to an
# older core type (OPENBLAS_CORETYPE=Haswell on an AVX-512 CPU), which halves its fp32 GEMM rate.
BACKEND_VARIABLES = ("OPENBLAS_", "GOTO_", "MKL_", "KMP_", "OMP_", "DNNL_", "ONEDNN_", "ATEN_CPU_CAPABILITY", "LD_PRELOAD")


def environment(args):
    """What this process computes with: torch version, ATen's CPU capability, the BLAS library loaded and, for
    OpenBLAS, the core type whose kernels it chose (openblas_get_corename), and every backend variable set."""
    import ctypes
    torch.set_num_threads(args.threads)
    torch.randn(8, 8) @ torch.randn(8, 8)  # load the BLAS
    maps = {line.split()[-1] for line in open(f"/proc/{os.getpid()}/maps") if ".so" in line}
    blas = sorted(m for m in maps if "blas" in os.path.basename(m).lower())
    corename = config = None
    for path in blas:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        if hasattr(lib, "openblas_get_corename"):
            lib.openblas_get_corename.restype = lib.openblas_get_config.restype = ctypes.c_char_p
            corename, config = lib.openblas_get_corename().decode(), lib.openblas_get_config().decode()
            break
    capability = next((l.split(":", 1)[1].strip() for l in torch.__config__.show().splitlines() if "CPU capability usage" in l), None)
    print(json.dumps({
        "implementation": "pytorch", "torch": torch.__version__, "aten_cpu_capability": capability,
        "mkldnn": torch.backends.mkldnn.is_available(), "mkl": torch.backends.mkl.is_available(),
        "blas_libraries": blas, "openblas_corename": corename, "openblas_config": config,
        "variables": {k: v for k, v in sorted(os.environ.items()) if k.startswith(BACKEND_VARIABLES)},
    }))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("run")
    r.add_argument("--method", default="fusion", choices=["contrastive", "masked", "fusion"])
    r.add_argument("--encoder", default="convnet", choices=["convnet", "resnet18", "vit-mini", "vit-tiny", "vit-small"])
    r.add_argument("--input", default="28x28x1")
    r.add_argument("--batch-size", type=int, default=256)
    r.add_argument("--warmup", type=int, default=3)
    r.add_argument("--steps", type=int, default=10)
    r.add_argument("--threads", type=int, default=2)
    k = sub.add_parser("check")
    k.add_argument("folder")
    k.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("peak")
    p.add_argument("--threads", type=int, default=2)
    e = sub.add_parser("env")
    e.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    {"run": run, "check": check, "peak": peak, "env": environment}[args.mode](args)
