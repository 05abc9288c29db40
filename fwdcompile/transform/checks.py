"""Checking mode: the generated code asserts every tangent's shape and dtype.

Contract: :func:`insert_checks` takes the finished JVP tree, the map from
primal names to tangent names, the parameters and whether tangents are
batched, and inserts after each group of statements coming from one user
statement a call ``_rt.check_tangent(d_x, x, _K or None, site)`` for every
tangent that group assigned, and wraps each ``return (value, tangent)`` in
``_rt.check_return``.  ``site`` indexes a table of the user's statements
(bound in the generated function's namespace) so a failure names the line
that produced the bad tangent.

The invariant checked: a tangent has exactly its value's shape (batched:
``(K,) + shape``) and an inexact dtype.  Checks run where both names are
certainly bound: after the user statement's whole group (a tangent may be
written before its value when it needs the old value), and only for values
assigned in that group or passed as parameters.
"""

from __future__ import annotations

import gast

from ..syntax import nodes


def _stored_names(stmt):
    """Names a statement binds or updates (not inside nested blocks)."""
    targets = []
    if isinstance(stmt, gast.Assign):
        targets = list(stmt.targets)
    elif isinstance(stmt, (gast.AugAssign, gast.AnnAssign)):
        targets = [stmt.target]
    names = []

    def visit(target):
        if isinstance(target, gast.Name):
            names.append(target.id)
        elif isinstance(target, (gast.Tuple, gast.List)):
            for elt in target.elts:
                visit(elt)
        elif isinstance(target, gast.Starred):
            visit(target.value)
        elif isinstance(target, gast.Subscript):  # d_x[i] = ...: d_x changed
            visit(target.value)

    for target in targets:
        visit(target)
    return names


class _Inserter:
    def __init__(self, primal_of, params, batched, sites_name):
        self.primal_of = primal_of  # tangent name -> primal name
        self.params = set(params)
        self.batched = batched
        self.sites_name = sites_name
        self.sites = []

    def site(self, origin):
        self.sites.append(origin)
        return nodes.subscript(nodes.name(self.sites_name), nodes.const(len(self.sites) - 1))

    def check(self, tangent, primal, origin):
        size = nodes.name("_K") if self.batched else nodes.const(None)
        return nodes.expr_stmt(nodes.call("_rt.check_tangent", [
            nodes.name(tangent), nodes.name(primal), size, nodes.const(primal),
            self.site(origin)]))

    def block(self, stmts):
        out = []
        group, stored, origin = [], set(), None

        def flush():
            for tangent in group:
                primal = self.primal_of[tangent]
                if primal in stored or primal in self.params:
                    out.append(self.check(tangent, primal, origin))
            group.clear()
            stored.clear()

        for stmt in stmts:
            here = getattr(stmt, "fc_origin", None)
            if here is not origin and here != origin:
                flush()
                origin = here
            if isinstance(stmt, (gast.Return, gast.Break, gast.Continue)):
                flush()
            if isinstance(stmt, gast.Return) and isinstance(stmt.value, gast.Tuple) \
                    and len(stmt.value.elts) == 2:
                stmt = gast.copy_location(nodes.ret(nodes.call(
                    "_rt.check_return", list(stmt.value.elts) + [
                        nodes.name("_K") if self.batched else nodes.const(None),
                        self.site(here)])), stmt)
                stmt.fc_origin = here
            if isinstance(stmt, (gast.If, gast.For, gast.While, gast.With)):  # by the transform
                for field in ("body", "orelse"):
                    inner = getattr(stmt, field, None)
                    if inner:
                        setattr(stmt, field, self.block(inner))
            out.append(stmt)
            for name in _stored_names(stmt):
                if name in self.primal_of:
                    if name not in group:
                        group.append(name)
                else:
                    stored.add(name)
        flush()
        return out


def insert_checks(node, tangents, params, batched, sites_name):
    """Insert the checks into ``node`` (a FunctionDef) in place; returns the
    table of user-statement locations the checks index."""
    primal_of = {t: p for p, t in tangents.items()}
    inserter = _Inserter(primal_of, params, batched, sites_name)
    node.body = inserter.block(node.body)
    return inserter.sites
