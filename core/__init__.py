"""Process-wide plumbing shared by the API, the worker and the local stack: settings, connections."""
