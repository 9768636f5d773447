#!/bin/bash
# libraries.sh — the supported scientific stack works inside the read-only root.
. "$top_srcdir/tests/tap.sh"
. "$top_srcdir/tests/sandbox/lib.sh"

sb --timeout 120 <<'EOF_PY'
import numpy as np
a = np.arange(12, dtype=float).reshape(3, 4)
print("numpy", a.sum(), round(float(np.linalg.det(np.eye(3) * 2)), 6))
import pandas as pd
df = pd.DataFrame({"x": [1, 2, 3], "y": [2.0, 4.0, 6.0]})
print("pandas", df.y.mean())
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.plot([1, 2, 3], [1, 4, 9])
fig.savefig("output/chart.png")
print("matplotlib", plt.get_backend())
EOF_PY
is "$RC" 0 "numpy, pandas and matplotlib run (stderr: $(printf '%s' "$ERR" | tail -1))"
like "$OUT" "numpy 66.0 8.0" "numpy computes, BLAS/LAPACK included"
like "$OUT" "pandas 4.0" "pandas computes"
like "$OUT" "matplotlib [Aa]gg" "matplotlib uses the Agg backend"
is "$(head -c 4 "$WORK/output/chart.png" | od -An -c | tr -d ' ')" '211PNG' "the chart arrives as a PNG in ./output"

sb --timeout 120 <<'EOF_PY'
import importlib
for name in ["scipy", "sklearn", "seaborn", "sympy", "requests", "httpx", "bs4", "yaml", "toml",
             "dateutil", "tqdm", "PIL"]:
    try:
        importlib.import_module(name)
        print(name, "ok")
    except Exception as e:
        print(name, "FAILED", e)
EOF_PY
unlike "$OUT" FAILED "every library of the supported list imports"

sb <<'EOF_PY'
import multiprocessing as mp
with mp.Pool(2) as p:
    print("pool", sum(p.map(abs, range(-5, 5))))
EOF_PY
like "$OUT" "pool 25" "multiprocessing pools work (/dev/shm semaphores)"

done_testing
