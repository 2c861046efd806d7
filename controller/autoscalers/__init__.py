"""The things the controller pauses: one module per kind of autoscaler."""
