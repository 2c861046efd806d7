"""How many CLI calls run at once by default: the CPUs and memory a container's cgroup allows
(v2 and v1), read from fake cgroup files, not the host's."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.cli import concurrency
from controller.config import load
from controller.runtime import host
from controller.runtime.host import MIB, Limits
from tests.test_config import env, problems

HOST = host.read(Path("/nonexistent"), Path("/nonexistent"))


def cgroup(tmp_path: Path, memberships: str, files: dict[str, str]) -> Limits:
    """The limits read from a fake /sys/fs/cgroup holding `files` and a fake
    /proc/self/cgroup saying `memberships`."""
    root = tmp_path / "sys-fs-cgroup"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(memberships)
    return host.read(root, proc)


def test_without_cgroup_files_the_host_is_the_limit() -> None:
    assert HOST.where == "host"
    assert HOST.cpus >= 1
    assert HOST.memory > 100 * MIB


def test_cgroup_v2_in_a_container_a_quarter_cpu_and_512_mib(tmp_path: Path) -> None:
    limits = cgroup(
        tmp_path,
        "0::/\n",
        {"cgroup.controllers": "cpu memory", "cpu.max": "25000 100000", "memory.max": "536870912"},
    )

    assert (limits.cpus, limits.memory, limits.where) == (0.25, 512 * MIB, "cgroup")
    assert str(limits) == "0.25 CPUs and 512 MiB, cgroup limits"


def test_cgroup_v2_without_limits_is_the_host(tmp_path: Path) -> None:
    limits = cgroup(
        tmp_path, "0::/\n", {"cgroup.controllers": "", "cpu.max": "max 100000", "memory.max": "max"}
    )

    assert limits == HOST


def test_cgroup_v2_a_limit_set_on_a_parent_applies_too(tmp_path: Path) -> None:
    # A systemd service in a slice: the slice caps memory, the service caps CPU.
    limits = cgroup(
        tmp_path,
        "0::/system.slice/controller.service\n",
        {
            "cgroup.controllers": "cpu memory",
            "system.slice/memory.max": str(1024 * MIB),
            "system.slice/controller.service/memory.max": "max",
            "system.slice/controller.service/cpu.max": "150000 100000",
        },
    )

    assert (limits.cpus, limits.memory) == (min(1.5, HOST.cpus), 1024 * MIB)


def test_cgroup_v1_quota_and_memory_limit(tmp_path: Path) -> None:
    limits = cgroup(
        tmp_path,
        "12:memory:/\n4:cpu,cpuacct:/\n1:name=systemd:/\n",
        {
            "cpu,cpuacct/cpu.cfs_quota_us": "50000",
            "cpu,cpuacct/cpu.cfs_period_us": "100000",
            "memory/memory.limit_in_bytes": str(2048 * MIB),
        },
    )

    assert (limits.cpus, limits.memory, limits.where) == (0.5, 2048 * MIB, "cgroup")


def test_cgroup_v1_no_quota_and_no_limit_is_the_host(tmp_path: Path) -> None:
    limits = cgroup(
        tmp_path,
        "4:memory:/\n3:cpu,cpuacct:/\n",
        {
            "cpu,cpuacct/cpu.cfs_quota_us": "-1",
            "cpu,cpuacct/cpu.cfs_period_us": "100000",
            "memory/memory.limit_in_bytes": "9223372036854771712",
        },
    )

    assert limits == HOST


def test_cgroup_v1_without_a_cgroup_namespace_reads_the_container_at_the_mount(
    tmp_path: Path,
) -> None:
    # /proc/self/cgroup names the host's path, but the container sees its own cgroup mounted
    # at the root of each hierarchy.
    limits = cgroup(
        tmp_path,
        "9:memory:/docker/0123abcd\n4:cpu,cpuacct:/docker/0123abcd\n",
        {
            "cpu/cpu.cfs_quota_us": "200000",
            "cpu/cpu.cfs_period_us": "100000",
            "memory/memory.limit_in_bytes": str(768 * MIB),
        },
    )

    assert (limits.cpus, limits.memory) == (min(2.0, HOST.cpus), 768 * MIB)


def test_a_hybrid_host_reads_v1_controllers_and_ignores_an_empty_unified_tree(
    tmp_path: Path,
) -> None:
    limits = cgroup(
        tmp_path,
        "4:memory:/batch/job-1\n2:cpu:/\n0::/\n",
        {
            "unified/cgroup.controllers": "",
            "memory/memory.limit_in_bytes": "9223372036854771712",
            "memory/batch/memory.limit_in_bytes": str(4096 * MIB),
            "memory/batch/job-1/memory.limit_in_bytes": "9223372036854771712",
            "cpu/cpu.cfs_quota_us": "-1",
        },
    )

    assert (limits.cpus, limits.memory) == (HOST.cpus, min(4096 * MIB, HOST.memory))


@pytest.mark.parametrize(
    "files",
    [
        {"cgroup.controllers": "", "cpu.max": "garbage", "memory.max": "-5"},
        {"cgroup.controllers": "", "cpu.max": "0 100000", "memory.max": "0"},
        {"cgroup.controllers": "", "cpu.max": "", "memory.max": ""},
    ],
)
def test_unreadable_cgroup_files_are_no_limit(tmp_path: Path, files: dict[str, str]) -> None:
    assert cgroup(tmp_path, "0::/\n", files) == HOST


@pytest.mark.parametrize(
    ("cpus", "mib", "calls"),
    [
        (0.25, 512, 2),  # the ECS recipe's task: two calls share a quarter CPU
        (0.5, 1024, 2),
        (1, 2048, 2),
        (1.5, 2048, 2),
        (2, 4096, 2),
        (4, 8192, 4),
        (16, 512, 6),  # memory binds: (512 - 40) // 70
        (2, 160, 1),  # room for one CLI process only
        (1, 64, 1),  # never none
    ],
)
def test_concurrent_calls_fit_both_the_cpus_and_the_memory(
    cpus: float, mib: int, calls: int
) -> None:
    assert host.concurrent_calls(Limits(cpus, mib * MIB, "cgroup")) == calls


def test_max_concurrent_calls_when_set_wins_over_the_host() -> None:
    assert concurrency(load([], env(MAX_CONCURRENT_CALLS="3"))) == (3, "MAX_CONCURRENT_CALLS")
    calls, why = concurrency(load([], env()))
    assert calls == host.concurrent_calls(host.read())
    assert why.startswith("MAX_CONCURRENT_CALLS unset: for ")


@pytest.mark.parametrize("value", ["", "0", "-2", "1.5", "four", "257"])
def test_bad_max_concurrent_calls(value: str) -> None:
    assert problems([], env(MAX_CONCURRENT_CALLS=value)) == [
        f"MAX_CONCURRENT_CALLS must be a whole number from 1 to 256: {value!r}"
    ]
