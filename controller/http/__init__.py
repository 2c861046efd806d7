"""What the controller serves on HTTP_PORT: Prometheus metrics, health and the circuit breaker.

Imported only when HTTP_PORT is set."""
