"""Asynchronous jobs: records, store, runner and executors."""
