"""Rebinding a global the generated code was derived from compiles again.

The generated code calls the user's globals by name when it runs.  A helper
defined again (a notebook cell run twice) or a function with a ``custom_jvp``
rule replaced by another must not give a value from the new function and a
tangent from the old one: the compiled code records what it was derived from
(``Compiled.depends``) and the compile cache and the call plans check it.
"""

from __future__ import annotations

import importlib
import sys
import textwrap

import numpy as np
import pytest

MODULE = textwrap.dedent('''
    import numpy as np
    import fwdcompile as fc

    def helper(x):
        return x * x

    @fc.forward_gradient
    def f(x):
        return helper(x) + 1.0

    def square(x):
        return x * x

    @fc.custom_jvp(square)
    def _square_jvp(primals, tangents):
        (x,), (dx,) = primals, tangents
        return x * x, 2.0 * x * dx

    @fc.forward_gradient
    def g(x):
        return square(x) * 3.0
''')


@pytest.fixture
def module(tmp_path):
    (tmp_path / "rebinding_user.py").write_text(MODULE)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("rebinding_user")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("rebinding_user", None)


def test_a_helper_defined_again_is_differentiated_again(module):
    for _ in range(6):  # long enough for the call plan (and its inlined entry) to exist
        assert module.f.jvp(3.0, tangents=1.0) == (10.0, 6.0)

    def helper(x):
        return x * x * x
    module.helper = helper
    for _ in range(6):
        assert module.f.jvp(3.0, tangents=1.0) == (28.0, 27.0)
    assert module.f(3.0) == 28.0
    assert module.f.forward_grad(np.float64(3.0), rng=0)[0] == 28.0


def test_a_function_with_a_rule_replaced_by_a_plain_one(module):
    assert module.g.jvp(2.0, tangents=1.0) == (12.0, 12.0)

    def square(x):
        return np.sin(x)
    module.square = square  # now differentiated from its source, not the old rule
    value, tangent = module.g.jvp(2.0, tangents=1.0)
    assert value == pytest.approx(3.0 * np.sin(2.0))
    assert tangent == pytest.approx(3.0 * np.cos(2.0))
