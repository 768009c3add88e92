"""The real OpenStack consumers (glean, cloudbase-init) and Nova, as judges of our output.

They live in their own environment, ``.venv-consumers`` (made by ``scripts/consumers.sh``
from ``requirements.lock`` here), never in the project's: each wrapper runs a small script
from ``scripts/`` under that environment's Python, JSON in and JSON out, so the tests in the
project's environment can call them like functions.
"""

from tests.consumers._run import CONSUMERS_PYTHON, ConsumerError, consumers_available, run_script

__all__ = ["CONSUMERS_PYTHON", "ConsumerError", "consumers_available", "run_script"]
