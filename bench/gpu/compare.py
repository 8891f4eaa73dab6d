#!/usr/bin/env python3
"""Row cosine between two f32 embedding files (omega embed --format f32): min and mean,
and whether the min clears a bound.   compare.py A.f32 B.f32 DIM BOUND LABEL"""
import sys
import numpy as np

a = np.fromfile(sys.argv[1], dtype=np.float32)
b = np.fromfile(sys.argv[2], dtype=np.float32)
dim, bound, label = int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
a, b = a.reshape(-1, dim).astype(np.float64), b.reshape(-1, dim).astype(np.float64)
assert a.shape == b.shape, (a.shape, b.shape)
cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)
ok = cos.min() >= bound
print(f"{label}: {len(cos)} rows, cosine min {cos.min():.7f} mean {cos.mean():.7f} (bound {bound}) {'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
