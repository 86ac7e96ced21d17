"""The HTTP layer's parts, one concern each; `worker.api` assembles them into the app."""
