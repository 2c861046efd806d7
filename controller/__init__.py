"""Pause a DynamoDB throughput autoscaler while EMR backup clusters run."""

__version__ = "1.0.0"
