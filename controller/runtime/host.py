"""What the controller may use of the machine it runs on: CPUs and memory, from its
container's cgroup limits where there are any, else the host's; and from them, how many AWS
CLI calls to run at once when MAX_CONCURRENT_CALLS does not say.

A container sees the host's CPUs and memory in os.cpu_count() and /proc/meminfo, not its own
share: an ECS task of 0.25 vCPU and 512 MiB on a 16-core host would start 16 CLI processes of
70 MiB each and be killed for memory. The cgroup files say what the kernel will enforce.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
MIB = 1024 * 1024
# One aws CLI process at its peak (55-62 MiB measured for v1, 71 MiB for v2, which the
# image ships; docs/performance.md), and the controller itself with room to spare (27-33 MiB
# measured, 200 tables included).
CLI_MIB = 70
OWN_MIB = 40
# CLI calls per CPU: a call is almost all the CLI's own CPU (its start-up), so one per CPU
# keeps them busy; more made no tick shorter and each call's CPU time longer, measured in
# docs/performance.md ("Sizing").
CALLS_PER_CPU = 1
# cgroup v1 writes "no limit" as the largest page-aligned 64-bit number.
_UNLIMITED = 1 << 60


@dataclass(frozen=True)
class Limits:
    cpus: float  # CPUs the process may use: a quota of 1.5 CPUs is 1.5
    memory: int  # bytes
    where: str  # "cgroup" when its cgroup limits either, else "host"

    def __str__(self) -> str:
        limited = ", cgroup limits" if self.where == "cgroup" else ""
        return f"{self.cpus:g} CPUs and {self.memory / MIB:.0f} MiB{limited}"


def concurrent_calls(limits: Limits) -> int:
    """How many CLI calls fit: one per CPU, as many as the memory holds next to the
    controller, never fewer than one. At least two when the memory holds them, so that a
    tick's first two queries (a source and the service) still start together on a fraction of
    a CPU, as they always have."""
    by_memory = max(1, (limits.memory // MIB - OWN_MIB) // CLI_MIB)
    by_cpu = max(2, math.ceil(CALLS_PER_CPU * limits.cpus))
    return min(by_cpu, by_memory)


def read(root: Path = CGROUP_ROOT, proc: Path = PROC_CGROUP) -> Limits:
    """The limits of this process: its cgroup's (v2 or v1, and every ancestor's) where they
    are lower than the host's CPUs and memory."""
    cpus = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    where = "host"
    try:
        memberships = proc.read_text()
    except OSError:
        return Limits(cpus, memory, where)
    quota = min(_cpu_quotas(root, memberships), default=None)
    if quota is not None and quota < cpus:
        cpus, where = quota, "cgroup"
    limit = min(_memory_limits(root, memberships), default=None)
    if limit is not None and limit < memory:
        memory, where = limit, "cgroup"
    return Limits(cpus, memory, where)


def _cpu_quotas(root: Path, memberships: str) -> Iterator[float]:
    for directory in _directories(root, memberships, "cpu"):
        # v2: "max 100000" (none) or "150000 100000" (1.5 CPUs); v1: a quota of -1 is none.
        quota, _, period = (_read(directory / "cpu.max") or "").partition(" ")
        if not quota:
            quota = _read(directory / "cpu.cfs_quota_us") or ""
            period = _read(directory / "cpu.cfs_period_us") or ""
        if _positive(quota) and _positive(period):
            yield int(quota) / int(period)


def _memory_limits(root: Path, memberships: str) -> Iterator[int]:
    for directory in _directories(root, memberships, "memory"):
        for name in ("memory.max", "memory.limit_in_bytes"):  # v2, v1
            value = _read(directory / name)
            if value is not None and _positive(value) and int(value) < _UNLIMITED:
                yield int(value)


def _directories(root: Path, memberships: str, controller: str) -> Iterator[Path]:
    """The cgroup directories whose limits apply to this process for `controller`: its own
    and its ancestors', in the v2 hierarchy and in the v1 one of that controller.

    /proc/self/cgroup names the process's cgroup within each hierarchy. In a container with
    a cgroup namespace that is "/", the container's own. Without one it is the path on the
    host ("/docker/<id>"), which does not exist under the container's /sys/fs/cgroup: the
    container's cgroup is then mounted at the hierarchy's root, which is read instead.
    """
    for line in memberships.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and not controllers:  # v2, or the unified part of a hybrid
            mounts = [m for m in (root, root / "unified") if (m / "cgroup.controllers").is_file()]
        elif controller in controllers.split(","):
            mounts = [m for m in (root / controllers, root / controller) if m.is_dir()]
        else:
            continue
        mount = next(iter(mounts), None)
        if mount is None:
            continue
        own = mount / path.strip("/")
        if not own.is_dir():
            yield mount
            continue
        while True:
            yield own
            if own == mount:
                break
            own = own.parent


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _positive(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) > 0
