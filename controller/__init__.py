"""Pause DynamoDB throughput automation while a backup (a bulk reader of the tables) runs."""

__version__ = "1.1.0"
# The console script's name, as messages and --help show it.
PROG = "dynamodb-autoscaler-control"
