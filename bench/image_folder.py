#!/usr/bin/python3
"""A folder of N small generated images for scale tests of `contramask embed`: MNIST training digits (28x28 grey),
each drawn at a random shift of up to 2 pixels with a little noise, so that no two files are the same, written as
PNG into OUT/<digit>/<n>.png (ten class folders). Needs Debian's python3-numpy and python3-pil.
Usage: bench/image_folder.py N MNIST_DIR OUT"""
import gzip, os, sys
import numpy as np
from PIL import Image

n, mnist, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with gzip.open(os.path.join(mnist, "train-images-idx3-ubyte.gz")) as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
with gzip.open(os.path.join(mnist, "train-labels-idx1-ubyte.gz")) as f:
    labels = np.frombuffer(f.read(), np.uint8, offset=8)
rng = np.random.default_rng(0)
for d in range(10):
    os.makedirs(os.path.join(out, str(d)), exist_ok=True)
padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))
for i in range(n):
    k = i % len(images)
    dy, dx = rng.integers(0, 5, size=2)
    image = padded[k, dy:dy + 28, dx:dx + 28].astype(np.int16) + rng.integers(-8, 9, size=(28, 28))
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(os.path.join(out, str(labels[k]), f"{i:07d}.png"), optimize=False)
    if (i + 1) % 100000 == 0:
        print(f"{i + 1} images", flush=True)
