"""Job stores: the interface and its SQLAlchemy implementation."""

from .base import JobStore as JobStore
from .sql import SQLJobStore as SQLJobStore
