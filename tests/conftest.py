import os
import sys

# make `import corpus`, `import oracle`, `import harness` work under any import mode
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

# `python -m pytest --hypothesis-profile=thorough` with
# FWDCOMPILE_PROPERTY_EXAMPLES=5000: many examples, failures reported as
# found (no shrinking), nothing remembered between runs
from hypothesis import Phase, settings  # noqa: E402

settings.register_profile("thorough", database=None,
                          phases=[Phase.explicit, Phase.generate, Phase.target])
