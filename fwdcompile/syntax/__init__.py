"""The syntax foundation: gast node constructors (:mod:`.nodes`), tree
utilities (:mod:`.trees`) and source text (:mod:`.source`).

Contract: this package imports nothing of fwdcompile but
:mod:`fwdcompile.errors` (tests/test_import_graph.py checks it), so every
layer above it (frontend, rules, transform, backends) may use it without an
import cycle.  It holds no state: how the reserved module aliases are spelled
in one generated function is an argument (:func:`.trees.spell_aliases`).
"""
