"""Timing helper shared by the benchmarks (imported as `from timing import best_time`)."""

import time


def best_time(function, repeats: int = 3) -> float:
    """Smallest wall time of ``repeats`` calls (after one warm-up call): other processes only add time."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)
