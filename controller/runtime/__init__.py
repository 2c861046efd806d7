"""The process around the loop: logs, signals, the heartbeat and its check, PID 1 duties."""
