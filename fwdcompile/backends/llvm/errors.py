"""What can go wrong in the native backend, at compile time and at run time.

:class:`LoweringError` is raised while lowering a construct outside the
native subset (the API turns it into a located ``UnsupportedSyntax``).  The
``*_BIT`` constants are the bits a kernel sets in its ``err`` argument at run
time; jit.py and callwrap.py turn them into the exception Python would raise.
"""

ZERO_DIVISION, INDEX, SHAPE, EMPTY, OVERFLOW, ZERO_STEP = 1, 2, 4, 8, 16, 32
INDEX_SHAPE, MASK_SHAPE, MASK_VALUES = 64, 128, 256

MESSAGES = {
    ZERO_DIVISION: (ZeroDivisionError, "integer division or modulo by zero"),
    INDEX: (IndexError, "index out of bounds"),
    SHAPE: (ValueError, "operands could not be broadcast together (the native backend "
                        "needs equal shapes, or a scalar), or a negative dimension"),
    EMPTY: (ValueError, "zero-size array to reduction operation which has no identity"),
    OVERFLOW: (OverflowError, "an integer left the 64-bit range in native code (Python's "
                              "ints are unbounded: use backend='python' for this)"),
    ZERO_STEP: (ValueError, "range() arg 3 must not be zero"),
    INDEX_SHAPE: (IndexError, "shape mismatch: indexing arrays could not be broadcast "
                              "together"),
    MASK_SHAPE: (IndexError, "boolean index did not match indexed array along its "
                             "dimensions"),
    MASK_VALUES: (ValueError, "NumPy boolean array indexing assignment cannot assign the "
                              "values given to the elements where the mask is true (their "
                              "shapes do not broadcast)"),
}


class LoweringError(Exception):
    """A construct outside the native subset; ``node`` locates it."""

    def __init__(self, message, node=None):
        super().__init__(message)
        self.node = node
        self.function = None  # the generated function holding ``node`` (set by lower.py)


def raise_for(err):
    """Raise the exception for the lowest error bit set in ``err``."""
    for bit, (kind, message) in MESSAGES.items():
        if err & bit:
            raise kind(message)
