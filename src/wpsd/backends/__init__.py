"""Implementations of the ports (:mod:`wpsd.ports`): job stores, output storage, executors."""
