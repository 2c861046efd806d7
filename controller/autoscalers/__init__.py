"""The kinds of autoscaler, one line each: adding a kind is its module and a line in ALL.

Configuration reads each kind's settings, --help lists them, and the loop, the act,
--release, the report and the metrics drive it, all through ALL and the interface in
controller/autoscalers/autoscaler.py (`Autoscaler`).
"""

from __future__ import annotations

from typing import Any

from controller.autoscalers import dynamodb, ecs
from controller.autoscalers.autoscaler import Autoscaler

# In the order they are queried, changed, logged and listed in --help.
ALL: tuple[type[Autoscaler[Any]], ...] = (
    ecs.Ecs,
    dynamodb.Dynamodb,
)
