# Synthetic 128-d embeddings for mine's scale test (usage: synthetic_embeddings.py N OUT.npy), seeded: 100 Gaussian clusters of varied spread, 1% far-out records,
# 2,000 near-duplicate pairs (a copy plus noise of std 1e-3); ids r0..r{N-1} in OUT.npy.ids.tsv (Debian's python3-numpy).
import numpy as np, sys
n, d = int(sys.argv[1]), 128
out = sys.argv[2]
rng = np.random.default_rng(0)
centres = rng.normal(size=(100, d)).astype(np.float32)
assign = rng.integers(0, 100, size=n)
spread = rng.uniform(0.3, 0.8, size=100).astype(np.float32)
x = centres[assign] + rng.normal(size=(n, d)).astype(np.float32) * spread[assign, None]
far = rng.choice(n, size=n // 100, replace=False)
x[far] = rng.normal(size=(len(far), d)).astype(np.float32) * 3
dup = rng.choice(n, size=(2000, 2), replace=False)
x[dup[:, 1]] = x[dup[:, 0]] + rng.normal(size=(2000, d)).astype(np.float32) * 1e-3
np.save(out, x.astype(np.float32))
with open(out + '.ids.tsv', 'w') as f:
    f.write("id\tlabel\n")
    for i in range(n): f.write(f"r{i}\t\n")
