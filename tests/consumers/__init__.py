"""The real OpenStack consumers (glean, cloudbase-init) and Nova, as judges of our output.

They live in their own environment, ``.venv-consumers`` (made by ``scripts/consumers.sh``
from ``requirements.lock`` here), never in the project's: each wrapper runs a small script
from ``scripts/`` under that environment's Python, JSON in and JSON out, so the tests in the
project's environment can call them like functions.

A test that needs a consumer says so with ``@pytest.mark.consumers("glean", ...)`` (names:
``cloud-init``, ``glean``, ``cloudbase-init``, ``nova``) or by calling
:func:`tests.consumers.require.require_consumers`. A consumer that is not installed fails
such a test with one line naming it and how to install it (``bash scripts/consumers.sh``,
or ``apt-get install cloud-init``), so a broken install never passes: ``pytest
--allow-missing-consumers`` skips these tests instead, on a machine without them on purpose.
"""

from tests.consumers._run import CONSUMERS_PYTHON, ConsumerError, consumers_available, run_script

__all__ = ["CONSUMERS_PYTHON", "ConsumerError", "consumers_available", "run_script"]
