import atexit
import os
import shutil
import sys
import tempfile

# make `import corpus`, `import oracle`, `import harness` work under any import mode
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

# native kernels are cached on disk by default: the suite keeps them in a
# directory of its own, removed at exit, never in the user's ~/.cache
_CACHE_DIR = tempfile.mkdtemp(prefix="fwdcompile-test-kernels-")
os.environ["FWDCOMPILE_CACHE_DIR"] = _CACHE_DIR
atexit.register(shutil.rmtree, _CACHE_DIR, ignore_errors=True)

# `python -m pytest --hypothesis-profile=thorough` with
# FWDCOMPILE_PROPERTY_EXAMPLES=5000: many examples, failures reported as
# found (no shrinking), nothing remembered between runs
from hypothesis import Phase, settings  # noqa: E402

settings.register_profile("thorough", database=None,
                          phases=[Phase.explicit, Phase.generate, Phase.target])
