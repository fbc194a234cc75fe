"""Hypothesis profiles of the fuzz tests: a fixed budget for CI, random exploration on demand.

``HYPOTHESIS_PROFILE`` picks one (``ci`` when unset):

* ``ci``: derandomized, so every run sends the same requests and a red build means that the
  code changed, not the dice; the examples change whenever a test or a strategy does.
  About a minute for all the fuzz tests (more while one fails: hypothesis then shrinks the
  request it found to a minimal one).
* ``dev``: the same number of examples, drawn at random on every run; failures are kept in
  ``test-artifacts/hypothesis`` and replayed first on the next run.
* ``long``: random, twenty times the examples (about twenty minutes).

``WPSD_FUZZ_EXAMPLES=N`` sets the examples of a standard test to N in any profile; each test
runs two to four times that, after what one example costs it and how much it explores::

    HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/fuzz
    HYPOTHESIS_PROFILE=dev WPSD_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest tests/fuzz -x

The tests take the profile through ``settings.get_profile("wpsd-fuzz")``; nothing here loads
a profile globally, so other hypothesis tests of the suite keep their own settings.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

#: examples of a standard fuzz test in the ci and dev profiles
BASE_EXAMPLES = 100
_ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "hypothesis"

_COMMON = settings(
    deadline=None,  # a request that starts a worker process takes a second the first time
    # The app fixture serves every example of a test (that is the point: one warm server);
    # strategies that build whole requests are slow to generate by hypothesis' standards.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
    print_blob=True,
)
_PROFILES = {
    "ci": settings(_COMMON, derandomize=True, database=None, max_examples=BASE_EXAMPLES),
    "dev": settings(_COMMON, derandomize=False, max_examples=BASE_EXAMPLES,
                    database=DirectoryBasedExampleDatabase(_ARTIFACTS)),
    "long": settings(_COMMON, derandomize=False, max_examples=20 * BASE_EXAMPLES,
                     database=DirectoryBasedExampleDatabase(_ARTIFACTS)),
}


def _chosen() -> settings:
    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    if name not in _PROFILES:
        raise ValueError(f"HYPOTHESIS_PROFILE={name!r}: choose one of {', '.join(_PROFILES)}")
    profile = _PROFILES[name]
    examples = os.environ.get("WPSD_FUZZ_EXAMPLES")
    return settings(profile, max_examples=int(examples)) if examples else profile


settings.register_profile("wpsd-fuzz", _chosen())
