"""The Dockerfile as BuildKit parses it, and what `docker run IMAGE ...` would execute.

The image cannot be built here (no base image can be pulled), so tests run its command lines
on the host instead: the same argv, with the console script taken from this virtualenv.
"""

from __future__ import annotations

from pathlib import Path

import dockerfile

from tests.support.moto import executable

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> tuple[dockerfile.Command, ...]:
    return dockerfile.parse_file(str(DOCKERFILE))


def final_stage() -> tuple[dockerfile.Command, ...]:
    """The instructions after the last FROM: what the image is made of."""
    commands = instructions()
    start = max(i for i, c in enumerate(commands) if c.cmd.upper() == "FROM")
    return commands[start:]


def instruction(name: str) -> dockerfile.Command:
    """The final stage's last `name` instruction (the one Docker uses)."""
    found = [c for c in final_stage() if c.cmd.upper() == name]
    assert found, f"the Dockerfile's final stage has no {name}"
    return found[-1]


def exec_form(name: str) -> list[str]:
    command = instruction(name)
    assert command.json, f"{command.original!r} is shell form: /bin/sh would be PID 1"
    return list(command.value)


def on_host(argv: list[str]) -> list[str]:
    """The image's argv with its program resolved in this virtualenv, as PATH resolves it there."""
    return [executable(Path(argv[0]).name), *argv[1:]]


def run_command(*args: str) -> list[str]:
    """What `docker run IMAGE ARGS...` executes: ENTRYPOINT, then ARGS or else CMD."""
    return on_host(exec_form("ENTRYPOINT") + (list(args) or exec_form("CMD")))


def healthcheck_command() -> list[str]:
    words = exec_form("HEALTHCHECK")
    assert words[0] == "CMD", words
    return words[1:]
