import os
import sys

# make `import corpus`, `import oracle`, `import harness` work under any import mode
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
