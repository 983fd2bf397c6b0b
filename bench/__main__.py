import os
import sys

# OpenMP threads that spin while they wait collapse when processes share the cores: two quick
# suites run in-process with 2 threads each on 2 cores took 410 s together against 82 s alone
# (5x), 107 s with passive waiting, which costs 16% alone (95 s).  Training commands therefore
# wait passively unless the user chose otherwise; `perf` keeps the runtime's default, as its
# committed baseline was measured with it.  It must be set before torch loads OpenMP.
if len(sys.argv) > 1 and sys.argv[1] in ("run", "tune"):
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .cli import main  # noqa: E402

sys.exit(main())
