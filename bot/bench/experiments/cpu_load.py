"""How busy the other processes kept the CPU while an experiment timed something. Standard
library only: decode_llamacpp.py imports it from a virtual environment without the project."""

from __future__ import annotations

import os
import time
from pathlib import Path


class CpuOthers:
    """Cores that other processes kept busy while this one ran a block (from /proc)."""

    def __enter__(self) -> CpuOthers:
        self.start = self._sample()
        return self

    def __exit__(self, *_) -> None:
        end = self._sample()
        wall = end[0] - self.start[0]
        busy = (end[1] - self.start[1]) - (end[2] - self.start[2])
        self.cores = max(0.0, busy / os.sysconf("SC_CLK_TCK") / wall) if wall > 0 else 0.0

    @staticmethod
    def _sample() -> tuple[float, int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        busy = sum(values) - values[3] - values[4]  # less idle and iowait
        mine = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        return time.monotonic(), busy, int(mine[11]) + int(mine[12])
