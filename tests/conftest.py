"""Session settings for the test suite.

``SCIPY_ARRAY_API=1`` lets scikit-learn's estimator checks run
``check_array_api_input`` (the estimators fitted on array-API input under
``array_api_dispatch``) rather than skip it; SciPy reads it once, at import,
so it is set here, before any test module imports SciPy.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")
