"""fastabx worker: run as ``python _fastabx_worker.py '<json args>'`` by an
interpreter that has fastabx (Python >= 3.12), or imported where fastabx exists.

Imports only numpy, torch and fastabx (never this package), so any Python with
fastabx can run the file. Prints ``{"error": float, "n_cells": int}``.
"""

import json
import sys
import time


def score(args: dict) -> dict:
    """fastabx ABX error of ``.npy`` features with exact frame times."""
    import numpy as np
    import torch
    from fastabx import Dataset, Score, Task

    def load(path):
        return torch.from_numpy(np.load(path))

    ds = Dataset.from_item_with_times(
        args["item"], args["features"], args["times"], feature_maker=load,
        time_maker=load, extension=".npy", device="cpu", progress=False)
    t0, c0 = time.perf_counter(), time.process_time()
    task = Task(ds, on=args["on"], by=args["by"] or None,
                across=args["across"] or None)
    result = Score(task, args["distance"])
    # average over the across cells, then the by cells, then the contrasts
    levels = ([tuple(args["across"])] if args["across"] else []) + (
        [tuple(args["by"])] if args["by"] else [])
    error = float(result.collapse(levels=levels))
    return {"error": error, "n_cells": len(task),
            "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0}


if __name__ == "__main__":
    print(json.dumps(score(json.loads(sys.argv[1]))))
