"""Pause a DynamoDB throughput autoscaler while EMR backup clusters run."""

__version__ = "1.0.0"
# The console script's name, as messages and --help show it.
PROG = "dynamodb-autoscaler-control"
