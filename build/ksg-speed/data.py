"""Writes the side-by-side KSG benchmark data: n rows of the bivariate normal with rho = 0.75
(numpy default_rng(seed)), as CSV columns X0,Y0. Usage: python3 data.py N SEED OUT.csv"""
import sys
import numpy as np

n, seed, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(seed)
a, b = rng.standard_normal(n), rng.standard_normal(n)
y = 0.75 * a + np.sqrt(1 - 0.75 ** 2) * b
np.savetxt(out, np.column_stack([a, y]), delimiter=",", header="X0,Y0", comments="", fmt="%.17g")
