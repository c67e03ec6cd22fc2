#!/usr/bin/env python3
"""Per-operator profile from `perf report` output: the share of CPU samples per family of operators.

    profile_report.py OUT.json LABEL=PERF_REPORT.txt [LABEL=PERF_REPORT.txt …]

Each PERF_REPORT.txt is `perf report --sort dso,sym --stdio` of one process (bench/profile.sh writes them). Symbols
are grouped by what they compute, so Contramask (libtorch 2.10, MKL) and PyTorch 1.13 (OpenBLAS) line up although
their kernels have other names. Code that perf cannot name inside an anonymous executable mapping ("[JIT]") is
oneDNN's just-in-time kernels (convolutions, bfloat16 matrix products): .NET's own JIT code is named through the perf
map the script asks the runtime to write (DOTNET_PerfMapEnabled=1). Prints a Markdown table; writes the JSON.
"""
import json
import re
import sys

# First match wins; (family, dso pattern or None, symbol pattern or None).
FAMILIES = [
    ("OpenMP wait and sync", r"libgomp|libiomp|libomp", None),
    ("fp32 GEMM (MKL / OpenBLAS)", r"libopenblas|libblas", None),
    ("fp32 GEMM (MKL / OpenBLAS)", None, r"sgemm|dgemm|gemm_kernel|gemm_[a-z]copy|gemm_beta|cblas_|mkl_blas|gemm_oncopy|gemm_otcopy|gemm_incopy|gemm_itcopy"),
    ("oneDNN JIT kernels (convolution, bf16 GEMM, reorders)", r"^\[JIT\]", r"^0x"),
    ("oneDNN JIT kernels (convolution, bf16 GEMM, reorders)", None, r"dnnl|mkldnn|brgemm|jit_avx|jit_uni|jit_sse"),
    ("attention", None, r"flash_attention|_softmax|softmax_"),
    ("layer norm", None, r"LayerNorm|layer_norm|RowwiseMoments"),
    ("batch norm", None, r"batch_norm|BatchNorm"),
    ("convolution (ATen, not oneDNN)", None, r"im2col|col2im|slow_conv|conv_depthwise|unfolded2d"),
    ("pooling", None, r"max_pool|avg_pool|adaptive_avg|pool2d"),
    ("augmentation (grid sample)", None, r"grid_sampler|grid_sample"),
    ("gather / scatter / index", None, r"scatter|gather|index_|Index|take"),
    ("type casts and copies", None, r"reduced_float_copy|direct_copy|copy_kernel|_to_copy|cast_|Cast|copy_"),
    ("reductions", None, r"Welford|reduce|sum_kernel|outer_sum|norm_kernel|cascade_sum|mean_kernel|std_var"),
    ("elementwise (add, mul, GELU, ReLU, fill, …)", None, r"VectorizedLoop|vectorized_loop|basic_loop|add_kernel|mul_kernel|div_|fill_|gelu|GeluKernel|relu|threshold|clamp|sigmoid|exp|log|sqrt|where|addcmul|addcdiv|lerp|pow|Sleef|mkl_vml|unary|binary|loop_2d|serial_for_each|uniform|normal|random"),
    ("memcpy / memset", None, r"memmove|memcpy|memset"),
    ("malloc / free", r"libc\.so", r"malloc|free|_int_|unlink_chunk|sysmalloc|tcache|chunk|mmap|munmap|brk"),
    ("kernel (page faults, zeroing pages, scheduling)", r"kernel", None),
    ("libtorch code without symbols (Debian's stripped 1.13 build)", r"libtorch_cpu\.so\.1", r"^0x"),
    (".NET runtime and managed code", r"libcoreclr|libclrjit|System\.|Contramask|TorchSharp|libSystem|memfd:doublemapper|\.dll", None),
    (".NET runtime and managed code", r"^\[JIT\]", None),
    ("Python interpreter", r"python", None),
]


def family(dso, sym):
    for name, dso_pattern, sym_pattern in FAMILIES:
        if dso_pattern and not re.search(dso_pattern, dso):
            continue
        if sym_pattern and not re.search(sym_pattern, sym):
            continue
        return name
    return "other (dispatch, autograd bookkeeping, …)"


def parse(path):
    shares = {}
    line_re = re.compile(r"^\s*([\d.]+)%\s+(\S.*?)\s{2,}\[([.k])\]\s+(.*)$")
    for line in open(path, errors="replace"):
        if line.startswith("#") or not line.strip():
            continue
        m = line_re.match(line)
        if not m:
            continue
        share, dso, _, sym = float(m.group(1)), m.group(2).strip(), m.group(3), m.group(4).strip()
        f = family(dso, sym)
        shares[f] = shares.get(f, 0.0) + share
    return shares


def main():
    out, pairs = sys.argv[1], sys.argv[2:]
    profiles = {}
    for pair in pairs:
        label, path = pair.split("=", 1)
        profiles[label] = parse(path)
    families = sorted({f for p in profiles.values() for f in p}, key=lambda f: -max(p.get(f, 0) for p in profiles.values()))
    labels = list(profiles)
    print("| operator family | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for f in families:
        print(f"| {f} | " + " | ".join(f"{profiles[l].get(f, 0.0):.1f}%" for l in labels) + " |")
    with open(out, "w") as handle:
        json.dump({"unit": "percent of CPU samples", "profiles": profiles}, handle, indent=1)


if __name__ == "__main__":
    main()
