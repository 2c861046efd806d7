"""Run a built image as `docker run` would, without a container runtime, and check it.

    python scripts/image_test.py IMAGE        # scripts/image-test builds IMAGE, then runs this

`podman run` cannot start containers on the machines this runs on (cgroups in hybrid mode),
so the image's filesystem (`podman image mount`, a writable overlay on top) is run the way a
runtime would: a new PID namespace with the entrypoint as PID 1, chrooted into the tree, as
the image's USER, with only the image's ENV plus the `-e` settings of a run. Everything about
the run is read from `podman image inspect`, never restated here, so a broken ENTRYPOINT,
USER, PATH or HEALTHCHECK in the Dockerfile fails a check below. The network is the host's:
the controller in the tree reaches a moto_server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller import __version__
from tests.support.moto import (
    CLUSTER,
    PREFIX,
    REGION,
    SERVICE,
    SUSPENDED_FLAGS,
    TEST_KEY,
    MotoServer,
    World,
)

# Short enough for a stale heartbeat within seconds: its limit is 3 intervals + a call timeout.
POLL_INTERVAL, CALL_TIMEOUT = 1, 10
STALE_AFTER = 3 * POLL_INTERVAL + CALL_TIMEOUT
# What Docker puts in every container's /dev: Python and the CLI open /dev/null for the calls'
# stdin. An image's own tree has an empty /dev.
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9)}


class Failed(Exception):
    pass


@dataclass(frozen=True)
class Image:
    """What a runtime reads from the image's configuration to start a container."""

    name: str
    user: str
    env: tuple[str, ...]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    workdir: str
    healthcheck: tuple[str, ...]

    @classmethod
    def inspect(cls, name: str) -> Image:
        out = subprocess.run(
            ["podman", "image", "inspect", name], capture_output=True, text=True, check=True
        ).stdout
        found = json.loads(out)[0]
        config = found["Config"]
        # Docker keeps the health check in Config, podman beside it.
        health = config.get("Healthcheck") or found.get("Healthcheck") or {}
        return cls(
            name=name,
            user=config.get("User") or "",
            env=tuple(config.get("Env") or ()),
            entrypoint=tuple(config.get("Entrypoint") or ()),
            cmd=tuple(config.get("Cmd") or ()),
            workdir=config.get("WorkingDir") or "/",
            healthcheck=tuple(health.get("Test") or ()),
        )

    def argv(self, args: tuple[str, ...]) -> list[str]:
        """`docker run IMAGE ARGS...`: the ENTRYPOINT, then ARGS or else the CMD."""
        return [*self.entrypoint, *(args or self.cmd)]

    def health_argv(self) -> list[str]:
        if not self.healthcheck or self.healthcheck[0] not in ("CMD", "CMD-SHELL"):
            raise Failed(f"the image has no HEALTHCHECK command: {self.healthcheck!r}")
        if self.healthcheck[0] == "CMD-SHELL":
            return ["/bin/sh", "-c", *self.healthcheck[1:]]
        return list(self.healthcheck[1:])


@contextmanager
def image_tree(image: Image) -> Iterator[Path]:
    """The image's filesystem with a writable layer over it, as a runtime gives a container,
    and the /dev a runtime provides, in a directory that also holds the runs' logs. An
    overlay, not a copy: copying the tree and deleting it took over a minute on a loaded
    2-core machine, most of this script's time."""
    mounted = subprocess.run(
        ["podman", "image", "mount", image.name], capture_output=True, text=True, check=True
    ).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="image-test."))
    tree, upper, scratch = work / "tree", work / "upper", work / "scratch"
    for directory in (tree, upper, scratch):
        directory.mkdir()
    layers = f"lowerdir={mounted},upperdir={upper},workdir={scratch}"
    try:
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", layers, str(tree)], check=True)
        try:
            # A runtime mounts a fresh /dev over whatever the image holds there.
            dev = tree / "dev"
            shutil.rmtree(dev, ignore_errors=True)
            dev.mkdir(exist_ok=True)
            for name, (major, minor) in DEVICES.items():
                os.mknod(dev / name, stat.S_IFCHR | 0o666, os.makedev(major, minor))
                # Any user may use these, as in any container; mknod's mode is cut by the umask.
                os.chmod(dev / name, 0o666)  # noqa: S103
            for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0")):
                (dev / name).symlink_to(target)
            (dev / "stdout").symlink_to("/proc/self/fd/1")
            (dev / "stderr").symlink_to("/proc/self/fd/2")
            yield tree
        finally:
            subprocess.run(["umount", str(tree)], check=False)
    finally:
        subprocess.run(["podman", "image", "unmount", image.name], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


def user_of(image: Image, tree: Path) -> tuple[int, int, str]:
    """The image's USER as uid, gid and home, held to what the Dockerfile means by it: a user
    of the image's own /etc/passwd, in its own group, with a home it owns (the CLI caches
    credentials in ~/.aws). Docker would run an unknown uid or gid all the same; here that is
    a mistake in the Dockerfile."""
    if not image.user:
        raise Failed("the image has no USER: it would run as root")
    name, _, group = image.user.partition(":")

    def table(file: str) -> list[list[str]]:
        return [line.split(":") for line in (tree / file).read_text().splitlines() if line]

    user = next((row for row in table("etc/passwd") if name in (row[0], row[2])), None)
    if user is None:
        raise Failed(f"USER {image.user}: no user {name} in the image's /etc/passwd")
    uid, gid, home = int(user[2]), int(user[3]), user[5]
    if group:
        found = next((row for row in table("etc/group") if group in (row[0], row[2])), None)
        if found is None:
            raise Failed(f"USER {image.user}: no group {group} in the image's /etc/group")
        if int(found[2]) != gid:
            raise Failed(
                f"USER {image.user}: group {found[2]} is not the user's own group {gid} "
                f"(/etc/passwd: {':'.join(user)})"
            )
    where = tree / home.lstrip("/")
    if not where.is_dir() or where.stat().st_uid != uid:
        raise Failed(f"USER {image.user}: the home {home} is missing or not the user's own")
    return uid, gid, home


class Container:
    """The image's tree run as a container would run it; its output collected in a file."""

    def __init__(self, image: Image, tree: Path, settings: dict[str, str], log: Path) -> None:
        self.image, self.tree, self.log = image, tree, log
        self.uid, self.gid, home = user_of(image, tree)
        if self.uid == 0:
            raise Failed(f"USER {image.user} is root")
        # As Docker does: the image's ENV, HOME from the user's passwd entry unless the image
        # sets it, then the run's own `-e` settings.
        env = dict(line.split("=", 1) for line in image.env)
        env.setdefault("HOME", home)
        self.env = [f"{k}={v}" for k, v in {**env, **settings}.items()]
        self.process: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.namespace = ""

    def _as_user(self, argv: list[str]) -> list[str]:
        ids = [f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]
        return ["setpriv", *ids, "env", "-i", *self.env, *argv]

    def _new_namespace(self, argv: list[str]) -> list[str]:
        # --kill-child: should this script die, its PID 1 goes with it.
        return [
            "unshare",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount-proc",
            f"--root={self.tree}",
            f"--wd={self.image.workdir}",
            *self._as_user(argv),
        ]

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """`docker run --rm IMAGE ARGS...`, to the end."""
        return subprocess.run(
            self._new_namespace(self.image.argv(args)),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def run_program(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """`docker run --entrypoint ARGV[0] IMAGE ARGV[1:]`."""
        return subprocess.run(
            self._new_namespace(list(argv)), capture_output=True, text=True, timeout=60, check=False
        )

    def start(self, *args: str) -> None:
        """`docker run -d IMAGE ARGS...`: returns once the entrypoint is PID 1 as the USER."""
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                self._new_namespace(self.image.argv(args)), stdout=out, stderr=subprocess.STDOUT
            )
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")

        def started() -> bool:
            if self.process is None or self.process.poll() is not None:
                raise Failed(f"the container exited at start:\n{self.output()}")
            found = children.read_text().split()
            if not found:
                return False
            self.pid = int(found[0])
            # setpriv and env exec in turn; done once the entrypoint runs as the user.
            fields = status(self.pid)
            return fields["Uid"].split()[0] == str(self.uid) and self.is_entrypoint()

        wait_until(started, 30, "the entrypoint running as the image's user")
        self.namespace = os.readlink(f"/proc/{self.pid}/ns/pid")
        nspid = status(self.pid)["NSpid"].split()
        if nspid[-1] != "1":
            raise Failed(f"the entrypoint is not PID 1 of its namespace: NSpid {nspid}")

    def is_entrypoint(self) -> bool:
        argv = Path(f"/proc/{self.pid}/cmdline").read_bytes().decode().split("\0")
        return any(Path(word).name == Path(self.image.entrypoint[0]).name for word in argv)

    def exec(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        """`docker exec`: in the running container's namespaces, root and user (the health
        check runs this way)."""
        enter = ["nsenter", f"--target={self.pid}", "--pid", "--mount", "--root", "--wd"]
        return subprocess.run(
            [*enter, *self._as_user(argv)], capture_output=True, text=True, timeout=30, check=False
        )

    def namespace_pids(self) -> list[int]:
        """Every process in the container's PID namespace, as seen from here."""
        found = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    if os.readlink(proc / "ns/pid") == self.namespace:
                        found.append(int(proc.name))
                except OSError:
                    continue  # exited while we looked
        return found

    def zombies(self) -> list[int]:
        found = []
        for pid in self.namespace_pids():
            try:
                if status(pid)["State"].startswith("Z"):
                    found.append(pid)
            except OSError:
                continue
        return found

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()  # unshare --kill-child takes PID 1 down with it
            self.process.wait()


def status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def wait_until(ready: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll an outside process or service for `what`, up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


STARTED = time.monotonic()


def ok(what: str) -> None:
    print(f"ok [{time.monotonic() - STARTED:5.1f}s]: {what}", flush=True)


# --- the checks ---------------------------------------------------------------------------


def check_version_and_help(image: Image, tree: Path) -> None:
    container = Container(image, tree, {}, tree.parent / "unused.log")
    version = container.run("--version")
    if version.returncode != 0 or __version__ not in version.stdout:
        raise Failed(f"--version: exit {version.returncode}, {version.stdout}{version.stderr}")
    ok(f"--version: {version.stdout.strip()}")
    shown = container.run("--help")
    if shown.returncode != 0 or "usage:" not in shown.stdout or "healthcheck" not in shown.stdout:
        raise Failed(f"--help: exit {shown.returncode}, {shown.stdout}{shown.stderr}")
    ok("--help shows the usage and the healthcheck subcommand")
    # The CLI the controller calls, found through the image's own PATH.
    cli = container.run_program("aws", "--version")
    if cli.returncode != 0:
        raise Failed(f"`aws --version` in the image: exit {cli.returncode}, {cli.stderr}")
    which = container.run_program("sh", "-c", "command -v aws")
    ok(f"the image's PATH finds {which.stdout.strip()}: {(cli.stdout + cli.stderr).strip()}")


def settings(endpoint: str, **extra: str) -> dict[str, str]:
    """The `-e` settings of a run: fake credentials for moto, and the controller's own."""
    return {
        "AWS_ACCESS_KEY_ID": TEST_KEY[0],
        "AWS_SECRET_ACCESS_KEY": TEST_KEY[1],
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "EMR_PREFIX": PREFIX,
        "EMR_REGION": REGION,
        "POLL_INTERVAL": str(POLL_INTERVAL),
        "CALL_TIMEOUT": str(CALL_TIMEOUT),
        **extra,
    }


def healthcheck(container: Container) -> subprocess.CompletedProcess[str]:
    return container.exec(container.image.health_argv())


def check_health(container: Container) -> None:
    wait_until(
        lambda: healthcheck(container).returncode == 0, 30, "the HEALTHCHECK to pass while ticking"
    )
    ok(f"HEALTHCHECK while the loop ticks: {healthcheck(container).stdout.strip()}")
    # A stuck loop, as a hung call or a deadlock would leave it: no more heartbeats.
    os.kill(container.pid, signal.SIGSTOP)
    try:
        seen: list[subprocess.CompletedProcess[str]] = []

        def unhealthy() -> bool:
            seen.append(healthcheck(container))
            return seen[-1].returncode != 0

        wait_until(unhealthy, STALE_AFTER + 30, "the HEALTHCHECK to fail on a stale heartbeat")
        if "stale" not in seen[-1].stderr:
            raise Failed(f"HEALTHCHECK failed, but not for staleness: {seen[-1].stderr}")
        ok(f"HEALTHCHECK with the loop stopped: exit 1, {seen[-1].stderr.strip()}")
    finally:
        os.kill(container.pid, signal.SIGCONT)
    wait_until(lambda: healthcheck(container).returncode == 0, 30, "healthy again once resumed")
    ok("HEALTHCHECK healthy again once the loop runs on")


def check_no_zombies(container: Container) -> None:
    # A zombie can exist for the moment between a call's exit and its reaping: only one that
    # stays is a leak.
    wait_until(lambda: not container.zombies(), 5, "no zombie in the container")
    ok("no zombie under PID 1")


def check_sigterm(container: Container) -> None:
    assert container.process is not None
    started = time.monotonic()
    # To the controller itself: unshare --fork does not pass SIGTERM on (docker stop signals
    # the container's PID 1).
    os.kill(container.pid, signal.SIGTERM)
    try:
        code = container.process.wait(10)
    except subprocess.TimeoutExpired:
        raise Failed(f"still running 10 s after SIGTERM:\n{container.output()}") from None
    elapsed = time.monotonic() - started
    if code != 0 or elapsed >= 2:
        raise Failed(f"SIGTERM: exit {code} after {elapsed:.1f}s:\n{container.output()}")
    if "received SIGTERM" not in container.output():
        raise Failed(f"SIGTERM not reported:\n{container.output()}")
    wait_until(lambda: not container.namespace_pids(), 2, "its PID namespace to be empty")
    ok(f"SIGTERM: exit 0 after {elapsed:.2f}s, nothing left in its PID namespace")


def check_ecs_mode(image: Image, tree: Path, moto: MotoServer) -> None:
    world = World(moto.url)
    world.create_service(CLUSTER, SERVICE, 3)
    env = settings(
        moto.url,
        AUTOSCALER_CLUSTER=CLUSTER,
        AUTOSCALER_REGION=REGION,
        AUTOSCALER_SERVICE=SERVICE,
    )
    container = Container(image, tree, env, tree.parent / "ecs.log")
    try:
        container.start()
        ok(f"ECS mode: the ENTRYPOINT is PID 1 as uid {container.uid} (USER {image.user})")
        check_health(container)
        cluster = world.start_cluster(f"{PREFIX}nightly")
        wait_until(lambda: world.desired(CLUSTER, SERVICE) == 0, 60, "the pause (desired 0)")
        recorded = list(world.service_tags(CLUSTER, SERVICE).values())
        if recorded != ["3"]:
            raise Failed(f"the paused count is not recorded on the service: {recorded}")
        ok("ECS mode: backup started, service paused 3 -> 0, the count recorded")
        world.terminate_cluster(cluster)
        wait_until(lambda: world.desired(CLUSTER, SERVICE) == 3, 60, "the resume (desired 3)")
        ok("ECS mode: backup ended, service resumed 0 -> 3")
        check_no_zombies(container)
        check_sigterm(container)
    except Failed as failed:
        raise Failed(f"{failed}\n--- the container's output:\n{container.output()}") from None
    finally:
        container.stop()


def check_native_mode(image: Image, tree: Path, moto: MotoServer) -> None:
    world = World(moto.url)
    world.autoscale_table("orders-eu", indexes=("by-date",))
    env = settings(moto.url, DYNAMODB_TABLE_PREFIX="orders-")
    container = Container(image, tree, env, tree.parent / "native.log")
    every = set(SUSPENDED_FLAGS)

    def targets_are(flags: set[str]) -> Callable[[], bool]:
        return lambda: all(found == flags for found in world.suspended().values())

    try:
        container.start()
        cluster = world.start_cluster(f"{PREFIX}nightly")
        wait_until(targets_are(every), 60, "the table's scalable targets suspended")
        ok(f"native mode: backup started, {len(world.suspended())} scalable targets suspended")
        world.terminate_cluster(cluster)
        wait_until(targets_are(set()), 60, "the table's scalable targets unsuspended")
        ok("native mode: backup ended, every scalable target unsuspended")
        check_sigterm(container)
    except Failed as failed:
        raise Failed(f"{failed}\n--- the container's output:\n{container.output()}") from None
    finally:
        container.stop()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    image = Image.inspect(argv[0])
    print(f"image: USER {image.user}, ENTRYPOINT {list(image.entrypoint)}, CMD {list(image.cmd)}")
    print(f"image: HEALTHCHECK {list(image.healthcheck)}, ENV {list(image.env)}")
    try:
        with image_tree(image) as tree:
            ok(f"the image's tree mounted at {tree}")
            check_version_and_help(image, tree)
            with MotoServer() as moto:
                check_ecs_mode(image, tree, moto)
                moto.reset()
                check_native_mode(image, tree, moto)
            ok("moto stopped")
        ok("the image's tree removed")
    except Failed as failed:
        print(f"image-test: FAILED: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
