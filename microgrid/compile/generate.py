"""The graph to source: the forward pass (``v7 = v3 * v5``) and then the backward pass
(``d_v3 += d_v7 * v5``), in functions of at most `CHUNK` statements, with a loop over many
items (`map`) and a forward pass of its own (for `no_grad`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from microgrid.compile.symbolic import _code, _Names, _Template
from microgrid.core.engine import Value
from microgrid.core.functions import rule

_FAILED = "return True"  # a guard's statement ends so: its part returns True when it fails
INLINE = 16  # at most this many operations in one generated expression
# The operations whose result is not finite when an operand is not (inf or nan goes on to the
# output, which is checked). Any other (tanh(inf) is 1.0, relu(-inf) 0.0, 1 / inf 0.0) has its
# operands checked, so that the compiled step refuses what the engine refuses (the engine checks
# every node's result).
PROPAGATING = {"+", "-", "*", "neg", "dot", "log", "sqrt", "abs"}


def _generate(args: list[Value], params: list[Value], grad_params: list[Value],
              nodes: list[Value], backward_order: list[Value], out: Value,
              guards: list[tuple[Value, str, Any, bool]], stopped: set[Value], chunk: int
              ) -> tuple[str, dict[str, str], dict[str, Any]]:
    """The source of ``step(S)``, those of the functions compiled at their first use (the
    loops `loop` and `forward_loop` of `map`, see `_loop`; for a graph of more than one
    generated function, ``forward(S)``, the forward pass alone), and their namespace.
    ``S`` is a list: the arguments, the parameters' data and grads first, then the slots that
    pass values between the generated functions (each at most `chunk` statements)."""
    names = _Names()
    name: dict[Value, str] = {}
    for i, v in enumerate(nodes):
        name[v] = names.value(v.label, i)
    # per node: its template, its operands, and their names (then its own, the n-th)
    templates: dict[tuple[Any, ...], _Template] = {}
    node_of: dict[Value, tuple[_Template, tuple[Any, ...], list[str]]] = {}
    for v in nodes:
        op = v._op
        if not op:
            continue
        operands = _operands(v)
        key = (op, *[None if isinstance(x, Value) else _constant_key(x) for x in operands])
        t = templates.get(key)
        if t is None:
            t = templates[key] = _Template(
                rule(op), tuple(None if isinstance(x, Value) else float(x) for x in operands),
                names)
        node_of[v] = (t, operands, [*[name[x] if isinstance(x, Value) else "" for x in operands],
                                    name[v]])

    # --- backward: reverse topological order, as Value.backward. A parameter's gradient is
    # added to term by term, in that order; an intermediate value's gradient is the sum of its
    # terms, in the same order, written as one expression when its last term is known
    # (``d_x = d_a * w1 + d_b * w2``: the same additions, without a store and a load per
    # term). A gradient of one term that is a copy of another (through + and leaves' 1.0) is
    # that other variable, not a new line.
    needs: set[Value] = set(grad_params)  # the nodes whose gradient leads to a parameter
    for v in backward_order:  # parents before children
        node = node_of.get(v)
        if node is not None and v not in stopped and any(x in needs for x in node[1]):
            needs.add(v)  # (no gradient flows through a node made in no_grad())
    reached = {out}  # ... and that a gradient reaches from out (not through no_grad() only)
    for v in reversed(backward_order):
        if v in reached and v in needs and v in node_of:
            reached.update(x for x in node_of[v][1] if isinstance(x, Value))
    needs &= reached
    grad_set = set(grad_params)
    waiting: dict[Value, int] = {}  # an intermediate value's terms still to come
    for v in needs:
        node = node_of.get(v)
        if node is not None:
            for i in node[0].value_operands:
                x = node[1][i]
                if x in needs and x not in grad_set:
                    waiting[x] = waiting.get(x, 0) + 1
    terms_of: dict[Value, list[tuple[str, str, tuple[str, ...]]]] = {}
    adds: dict[int, tuple[str, str, str, tuple[str, ...]]] = {}  # a parameter's terms
    backward: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
    read_by_backward: set[str] = set()
    gvar: dict[Value, str] = {p: f"d_{name[p]}" for p in grad_params}  # current variable
    root = name[out]
    backward.append((f"d_{root} = 1.0", (f"d_{root}",), ()))
    gvar[out] = f"d_{root}"
    for v in reversed(backward_order):
        node = node_of.get(v)
        if node is None or v not in needs:
            continue
        g = gvar[v]
        t, operands, opnames = node
        for i in t.value_operands:
            x = operands[i]
            if x not in needs:
                continue
            term = t.terms[i](opnames, g)  # type: ignore[misc]
            whole = term[1:-1] if t.terms_wrapped[i] else term  # a statement's right side
            reads = (*[opnames[k] for k in t.reads[i]], g)
            read_by_backward.update(reads)
            if x in grad_set:
                target = gvar[x]
                adds[len(backward)] = (target, term, whole, reads)
                backward.append((f"{target} += {whole}", (target,), (target, *reads)))
                continue
            terms = terms_of.setdefault(x, [])
            terms.append((term, whole, reads))
            waiting[x] -= 1
            if not waiting[x]:
                del terms_of[x]
                if len(terms) == 1 and term == g:
                    gvar[x] = g  # an alias: no line
                else:
                    gvar[x] = _sum_of(terms, "d_" + opnames[i], backward)
    assert not terms_of, "a gradient whose terms did not all arrive"
    final_grads = [gvar[p] for p in grad_params]

    # --- forward: each node once, in order; a value used once, unlabelled, and not read by
    # backward or a guard, is written into the expression that uses it (up to INLINE ops)
    uses: dict[Value, int] = {}
    for t, operands, _ in node_of.values():
        for i in t.value_operands:
            x = operands[i]
            uses[x] = uses.get(x, 0) + 1
    guarded = {g[0] for g in guards} | {g[2] for g in guards if isinstance(g[2], Value)}
    checked = set(guarded)  # the values checked to be finite where they are computed
    for v, (t, operands, _) in node_of.items():
        if v._op not in PROPAGATING:  # (a user's Function is not in it)
            checked.update(operands[i] for i in t.value_operands)

    def check(v: Value) -> None:
        statements.append((f"if {name[v]} - {name[v]}: _not_finite({str(v._op)!r}, {name[v]})",
                           (), (name[v],)))
    statements: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [("# forward", (), ())]
    pending: dict[Value, tuple[str, int, tuple[str, ...]]] = {}  # code, size, reads

    def emit(v: Value) -> None:
        code, _, reads = pending.pop(v)
        if node_of[v][0].wrapped:
            code = code[1:-1]
        statements.append((f"{name[v]} = {code}", (name[v],), reads))
        if v in checked:
            check(v)

    position = {v: i for i, v in enumerate(nodes)}
    guards_after: dict[int, list[tuple[Value, str, Any, bool]]] = {}
    for guard in guards:
        v, _, other, _ = guard
        last = max(position[v], position[other] if isinstance(other, Value) else -1)
        guards_after.setdefault(last, []).append(guard)
    for i, v in enumerate(nodes):
        node = node_of.get(v)
        if node is not None:
            t, operands, opnames = node
            inlinable = t.inlinable
            codes = list(opnames)
            size = 1
            reading: list[str] = []
            for k in t.value_operands:
                x = operands[k]
                if x in pending:
                    code, n, r = pending[x]
                    if inlinable[k] and size + n <= INLINE:
                        del pending[x]
                        codes[k] = code
                        size += n
                        reading.extend(r)
                    else:
                        emit(x)
                        reading.append(opnames[k])
                else:
                    reading.append(opnames[k])
            pending[v] = (t.forward_code(codes), size, tuple(reading))
            if (v is out or v.label or opnames[-1] in read_by_backward or v in checked
                    or uses.get(v, 0) != 1):  # a labelled value keeps its line, for reading
                emit(v)
        elif v in checked:  # a leaf: an argument or a parameter
            check(v)
        for v, op, other, result in guards_after.get(i, ()):
            other_code = name[other] if isinstance(other, Value) else _code(other)
            test = f"{name[v]} {op} {other_code}"
            statements.append((f"if {'not ' if result else ''}{test}: {_FAILED}", (),
                               (name[v], *([other_code] if isinstance(other, Value) else []))))
    assert not pending, "a value computed but never used"
    statements.append(("# backward", (), ()))
    adds = {len(statements) + j: add for j, add in adds.items()}
    statements.extend(backward)

    n_args = len(args)
    slots: dict[str, int] = {}
    for i, a in enumerate(args):
        if a in name:
            slots[name[a]] = i
    for i, p in enumerate(params):
        slots[name[p]] = n_args + i
    for i, p in enumerate(grad_params):
        slots[f"d_{name[p]}"] = n_args + len(params) + i
    results = [root, *final_grads]
    parts = _parts(statements, adds, chunk)
    initial = n_args + len(params) + len(grad_params)
    given = dict(slots)  # the slots of the arguments, parameters and grads
    source = _chunks(parts, slots, results, initial)
    if len(parts) == 1:  # a small graph: `map` runs it over many items in one call
        arg_names, param_names = [name.get(a, "_") for a in args], [name[p] for p in params]
        later = {kind: _loop(parts[0], arg_names, param_names, final_grads, root, kind)
                 for kind in ("loop", "forward_loop")}
    else:  # `forward(S)`: the forward pass alone, in parts of its own
        forward = statements[:statements.index(("# backward", (), ()))]
        later = {"forward": _chunks(_parts(forward, {}, chunk), given, [root], initial,
                                    "forward")}
    return source, later, names.namespace


def _loop(statements: list[tuple[str, tuple[str, ...], tuple[str, ...]]], args: list[str],
          params: list[str], grads: list[str], root: str, kind: str) -> str:
    """``loop(_rows, _data, _grads, _outs)`` (or ``forward_loop``, the forward pass only), the
    step for each row of arguments in `_rows` (flat lists) in turn: the parameters' `_data` and
    `_grads` are unpacked into locals once, the grads add up there, and the list of them is
    returned. Each output is appended to `_outs`; a row whose guards fail, or whose output is
    not finite, ends the loop before its backward pass (``len(_outs)`` tells where), to be
    called as an ordinary call; the forward loop stops at a guard only. (Its own names begin
    with ``_``, which no value's name does.)"""
    backward = kind == "loop"
    lines = [f"def {kind}(_rows, _data, _grads, _outs):", "    _append = _outs.append"]
    lines += [f"    {', '.join(names)}, = {what}"
              for names, what in ((params, "_data"), (grads if backward else [], "_grads"))
              if names]
    lines.append(f"    for {', '.join(args)}, in _rows:" if args else "    for _ in _rows:")
    for code, _, _ in statements:
        if code == "# backward":
            if not backward:
                break
            lines.append(f"        if {root} - {root} != 0.0: break  # not finite")
        if code.endswith(_FAILED):
            code = code.removesuffix(_FAILED) + "break"
        lines.append(f"        {code}")
    lines += [f"        _append({root})",
              f"    return [{', '.join(grads)}]" if backward else "    return _grads"]
    return "\n".join(lines) + "\n"


def _parts(statements: list[tuple[str, tuple[str, ...], tuple[str, ...]]],
           adds: dict[int, tuple[str, str, str, tuple[str, ...]]], chunk: int
           ) -> list[list[tuple[str, tuple[str, ...], tuple[str, ...]]]]:
    """The statements in parts of at most `chunk`. In each part, the terms added to one
    parameter's gradient (`adds`: the statements ``d_w += term``) are one sum, where its last
    term is: ``d_w = d_w + t1 + t2 ...``, the same additions in the same order."""
    parts = []
    for start in range(0, len(statements), chunk):
        where = range(start, min(start + chunk, len(statements)))
        last = {adds[j][0]: j for j in where if j in adds}
        part: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []
        terms: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
        for j in where:
            add = adds.get(j)
            if add is None:
                part.append(statements[j])
                continue
            target = add[0]
            terms.setdefault(target, []).append(add[1:])
            if last[target] == j:
                if len(terms[target]) == 1:
                    part.append(statements[j])  # d_w += term
                    del terms[target]
                else:
                    _sum_of(terms.pop(target), target, part, accumulate=True)
        parts.append(part)
    return parts or [[]]


FUSE = 32  # at most this many terms in one generated sum


def _sum_of(terms: list[tuple[str, str, tuple[str, ...]]], target: str,
            backward: list[tuple[str, tuple[str, ...], tuple[str, ...]]],
            accumulate: bool = False) -> str:
    """Append the statements of ``target = t0 + t1 + ...`` (``target = target + t0 + ...``
    to `accumulate`), left to right as backward() adds them, at most `FUSE` terms a
    statement; return `target`."""
    for k in range(0, len(terms), FUSE):
        piece = terms[k:k + FUSE]
        codes = [target] if k or accumulate else []
        reads: list[str] = list(codes)
        alone = len(piece) == 1 and not codes
        for term, whole, r in piece:
            # inside a sum, a conditional expression keeps its parentheses; a product needs none
            codes.append(term if " if " in whole and not alone else whole)
            reads.extend(r)
        backward.append((f"{target} = {' + '.join(codes)}", (target,), tuple(reads)))
    return target


def _operands(v: Value) -> tuple[Any, ...]:
    """``v.operands``, read from the slots (generation reads them once per node)."""
    if v.__class__ is Value:
        b = v._b
        return (v._a,) if b is None else (v._a, b)
    return v.operands


def _constant_key(x: Any) -> Any:
    """A constant operand as a template's key: its value (``-0.0`` apart from ``0.0``)."""
    return x if x else repr(float(x))


def _chunks(groups: list[list[tuple[str, tuple[str, ...], tuple[str, ...]]]],
            slots: dict[str, int], results: list[str], initial: int, entry: str = "step"
            ) -> str:
    """``step(S)`` (or `entry`): one function for each group of statements, each loading from
    ``S`` what earlier ones computed and storing what later ones read. It returns the output
    and, if `results` has them, the gradients."""
    part = "_part" if entry == "step" else f"_{entry}_part"
    loads: list[list[str]] = []
    writes: list[set[str]] = []
    for group in groups:
        written: set[str] = set()
        load: list[str] = []
        seen_load: set[str] = set()
        for _, w, r in group:
            for n in r:
                if n not in written and n not in seen_load:
                    seen_load.add(n)
                    load.append(n)
            written.update(w)
        loads.append(load)
        writes.append(written)
    later: set[str] = set(results)
    stores: list[list[str]] = [[] for _ in groups]
    for k in range(len(groups) - 1, -1, -1):
        stores[k] = sorted(writes[k] & later)
        later -= writes[k]  # in place: a new set each time would copy all of it (quadratic)
        later.update(loads[k])
    next_slot = max(slots.values(), default=-1) + 1
    for k in range(len(groups)):
        for n in stores[k]:
            if n not in slots:
                slots[n] = next_slot
                next_slot += 1
    lines: list[str] = []
    for k, group in enumerate(groups):
        loads[k].sort(key=slots.__getitem__)
        stores[k].sort(key=slots.__getitem__)
        lines.append(f"def {part}{k}(S):")
        for run, where in _runs(loads[k], slots):
            lines.append(f"    {', '.join(run)} = S[{where}]")
        for code, _, _ in group:
            lines.append(f"    {code}")
        for run, where in _runs(stores[k], slots):
            lines.append(f"    S[{where}] = {', '.join(run)}")
        lines.append("")
    lines.append(f"def {entry}(S):")
    if next_slot > initial:
        lines.append(f"    S.extend([0.0] * {next_slot - initial})")
    for k in range(len(groups)):
        lines.append(f"    if {part}{k}(S): return None")
    if entry != "step":  # the forward pass: the output only
        lines.append(f"    return S[{slots[results[0]]}]")
        return "\n".join(lines) + "\n"
    grads = list(_runs(results[1:], slots))
    grads_code = (f"S[{grads[0][1]}]" if len(grads) == 1 and len(grads[0][0]) > 1 else
                  f"[{', '.join(f'S[{slots[n]}]' for n in results[1:])}]")
    lines.append(f"    return S[{slots[results[0]]}], {grads_code}")
    return "\n".join(lines) + "\n"


def _runs(names: list[str], slots: dict[str, int]) -> Iterator[tuple[list[str], str]]:
    """`names` (in the order of their slots) in runs of consecutive slots, each with its
    subscript of ``S``: a slice (``3:7``) moves a run faster than one subscript per name."""
    run: list[str] = []
    for n in names:
        if run and slots[n] != slots[run[-1]] + 1:
            yield run, _subscript(run, slots)
            run = []
        run.append(n)
    if run:
        yield run, _subscript(run, slots)


def _subscript(run: list[str], slots: dict[str, int]) -> str:
    first = slots[run[0]]
    return str(first) if len(run) == 1 else f"{first}:{first + len(run)}"
