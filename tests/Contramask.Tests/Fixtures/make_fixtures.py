# Regenerates the test fixtures (run once by a developer; the build and tests never run Python).
#   python3 make_fixtures.py ../../../../shared/data/mnist
# MNIST subset: CC BY-SA 3.0 (LeCun, Cortes, Burges), see NOTICE.md. CIFAR files here are synthetic.
import gzip, os, struct, sys, zlib

mnist = sys.argv[1]
def read_idx(name):
    with gzip.open(os.path.join(mnist, name)) as f:
        data = f.read()
    rank = data[3]
    dims = struct.unpack('>' + 'I' * rank, data[4:4 + 4 * rank])
    return dims, data[4 + 4 * rank:]

def write_idx(path, dims, payload, gz):
    raw = bytes([0, 0, 8, len(dims)]) + struct.pack('>' + 'I' * len(dims), *dims) + payload
    if gz:
        with gzip.GzipFile(path, 'wb', mtime=0) as f: f.write(raw)
    else:
        open(path, 'wb').write(raw)
    return raw

os.makedirs('idx', exist_ok=True); os.makedirs('bad', exist_ok=True)
(n, h, w), train_px = read_idx('train-images-idx3-ubyte.gz')
_, train_lb = read_idx('train-labels-idx1-ubyte.gz')
_, test_px = read_idx('t10k-images-idx3-ubyte.gz')
_, test_lb = read_idx('t10k-labels-idx1-ubyte.gz')
write_idx('idx/train-images-idx3-ubyte.gz', (64, 28, 28), train_px[:64 * 784], True)
write_idx('idx/train-labels-idx1-ubyte.gz', (64,), train_lb[:64], True)
write_idx('idx/t10k-images-idx3-ubyte', (32, 28, 28), test_px[:32 * 784], False)
write_idx('idx/t10k-labels-idx1-ubyte', (32,), test_lb[:32], False)

raw = write_idx('bad/images-idx3-ubyte', (4, 28, 28), train_px[:4 * 784], False)
open('bad/wrong-magic-idx3-ubyte', 'wb').write(b'\x12\x34' + raw[2:])
open('bad/truncated-idx3-ubyte', 'wb').write(raw[:4 + 12 + 1000])
with gzip.GzipFile('bad/truncated-idx3-ubyte.gz', 'wb', mtime=0) as f: f.write(raw[:4 + 12 + 1000])
open('bad/absurd-dims-idx3-ubyte', 'wb').write(bytes([0, 0, 8, 3]) + struct.pack('>III', 2**31 - 1, 60000, 60000) + b'\0' * 16)
open('bad/empty-idx3-ubyte', 'wb').write(b'')
os.remove('bad/images-idx3-ubyte')

def png(path, pixels, width, height, channels):
    colour = 0 if channels == 1 else 2
    rows = b''.join(b'\0' + bytes(pixels[y * width * channels:(y + 1) * width * channels]) for y in range(height))
    def chunk(kind, body): return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body) & 0xffffffff)
    data = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, colour, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(rows, 9)) + chunk(b'IEND', b'')
    open(path, 'wb').write(data)
    return data

# A labelled folder: 3 classes (digits 0, 1, 7) × 4 MNIST images each.
counts = {}
for i in range(64):
    label = train_lb[i]
    if label not in (0, 1, 7) or counts.get(label, 0) >= 4: continue
    counts[label] = counts.get(label, 0) + 1
    os.makedirs(f'folder/digit{label}', exist_ok=True)
    png(f'folder/digit{label}/mnist{i:02d}.png', train_px[i * 784:(i + 1) * 784], 28, 28, 1)
# A flat, unlabeled folder of RGB images of two sizes (needs size= to read).
os.makedirs('flat', exist_ok=True)
for i in range(3):
    wd = 16 if i < 2 else 20
    rgb = [((x * 16 + i * 40) % 256, (y * 16) % 256, (x * y + i * 7) % 256) for y in range(16) for x in range(wd)]
    png(f'flat/image{i}.png', [c for p in rgb for c in p], wd, 16, 3)
# Bad image files.
os.makedirs('badimages/cls', exist_ok=True)
good = png('badimages/cls/good.png', train_px[:784], 28, 28, 1)
open('badimages/cls/truncated.png', 'wb').write(good[:len(good) // 2])
open('badimages/cls/empty.png', 'wb').write(b'')
open('badimages/cls/notanimage.png', 'w').write('this is text, not a PNG\n')

# Synthetic CIFAR-10 binary: 2 records per batch file.
os.makedirs('cifar', exist_ok=True)
def cifar_record(label, seed):
    return bytes([label]) + bytes(((seed * 37 + c * 11 + p) % 256) for c in range(3) for p in range(1024))
for b in range(1, 6):
    open(f'cifar/data_batch_{b}.bin', 'wb').write(cifar_record(b % 10, b) + cifar_record((b + 5) % 10, b + 10))
open('cifar/test_batch.bin', 'wb').write(cifar_record(3, 99) + cifar_record(8, 98))
open('cifar/batches.meta.txt', 'w').write('\n'.join(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']) + '\n')
open('bad/cifar-truncated.bin', 'wb').write(cifar_record(1, 1)[:2000])

# Tables. digits.csv: the 8×8 digits (BSD-3; see THIRD-PARTY-NOTICES.md) from the library's embedded resource, as
# a headerless table (64 pixel counts, then the digit). mixed.csv: hand-made, numbers, text, missing values, a label.
os.makedirs('tables', exist_ok=True)
open('tables/digits.csv', 'w').write(gzip.open('../../../src/Contramask/Data/Resources/digits.csv.gz', 'rt').read().strip() + '\n')
import random as _random
rng = _random.Random(7)
cities = ['Lyon', 'Porto', 'Turin', 'Graz']
rows = ['id,age,city,income,rooms,note,label']
for i in range(40):
    city = cities[i % 4]
    age = '' if i % 9 == 3 else ('NA' if i % 13 == 5 else str(20 + (i * 7) % 50))
    income = '?' if i % 11 == 4 else f'{1000 + rng.random() * 3000:.2f}'
    rooms = str(1 + i % 4)
    note = '"has, comma"' if i % 10 == 0 else ('NaN' if i % 10 == 1 else 'plain')
    label = 'yes' if (i % 4) < 2 else 'no'
    rows.append(f'r{i},{age},{city},{income},{rooms},{note},{label}')
open('tables/mixed.csv', 'w').write('\n'.join(rows) + '\n')
bad = rows[:6] + ['r99,30,Lyon,1000.00,2,plain'] + rows[6:]
open('tables/ragged.csv', 'w').write('\n'.join(bad) + '\n')
text = rows[:25] + ['r98,thirty,Lyon,1000.00,2,plain,yes'] + rows[25:]
open('tables/not-a-number.csv', 'w').write('\n'.join(text) + '\n')
open('tables/empty.csv', 'w').write('')
open('tables/latin1.csv', 'wb').write(('\n'.join(rows[:4]) + '\nr77,30,Malm\xf6,1000.00,2,plain,yes\n').encode('latin-1'))
one = [r if i == 0 else r.rsplit(',', 1)[0] + ',yes' for i, r in enumerate(rows)]
open('tables/one-class.csv', 'w').write('\n'.join(one) + '\n')
