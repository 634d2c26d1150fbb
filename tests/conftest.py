"""Session settings for the test suite.

``SCIPY_ARRAY_API=1`` lets scikit-learn's estimator checks run
``check_array_api_input`` (the estimators fitted on array-API input under
``array_api_dispatch``) rather than skip it; SciPy reads it once, at import,
so it is set here, before any test module imports SciPy.

The formula-gradient cache (``gradstep.cache``) of the commands run in-process
goes to a temporary folder of the session, not the user's ``~/.cache``.
"""

import os
import tempfile

os.environ.setdefault("SCIPY_ARRAY_API", "1")
os.environ.setdefault("GRADSTEP_CACHE_DIR", tempfile.mkdtemp(prefix="gradstep-test-cache-"))
