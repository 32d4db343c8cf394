"""scikit-learn's KSG on a CSV written by data.py, timed in-process: what mutual_info_regression
does for one continuous feature (scale to unit sd, add 1e-10 jitter, then _compute_mi_cc with
k = 5). Usage: python3 sklearn_ksg.py data.csv REPEATS. Prints the estimate, the median and minimum
wall seconds of one estimate over REPEATS runs (after one warm-up), and the process CPU seconds
per estimate (all threads)."""
import sys
import time
import numpy as np
from sklearn.feature_selection._mutual_info import _compute_mi_cc

path, repeats = sys.argv[1], int(sys.argv[2])
d = np.loadtxt(path, delimiter=",", skiprows=1)
x0, y0 = d[:, 0].copy(), d[:, 1].copy()

def estimate():
    rng = np.random.RandomState(0)
    x = x0 / np.std(x0)
    y = y0 / np.std(y0)
    x = x + 1e-10 * max(1, np.mean(np.abs(x))) * rng.standard_normal(len(x))
    y = y + 1e-10 * max(1, np.mean(np.abs(y))) * rng.standard_normal(len(y))
    return _compute_mi_cc(x, y, 5)

mi = estimate()
times = []
cpu0 = time.process_time()
for _ in range(repeats):
    t = time.perf_counter()
    mi = estimate()
    times.append(time.perf_counter() - t)
cpu = (time.process_time() - cpu0) / repeats
print(f"sklearn estimate {mi:.6f} median {np.median(times):.4f} s min {min(times):.4f} s wall, {cpu:.4f} s cpu per estimate, over {repeats}")
