"""Compile rule expressions (a CEL dialect, see docs/rules.md) into Python functions.

    compiled = compile_expression("doc.finance.total <= params.limit", variables)
    compiled({"doc": document, "params": parameters})   # -> True / False / a value

Compilation parses with cel-python's grammar, converts the parse tree to a small AST, checks
names, arities and field paths against the variables' JSON Schemas, and generates the source of
two Python functions which `compile()` turns into code once:

* the *fast* function does member access with plain subscripts (`doc["finance"]["total"]`) and
  arithmetic and comparison with plain operators behind cheap type guards;
* the *checked* function does every step through a helper in `runtime` that explains what
  went wrong. The fast function falls back to it when anything raises, so a missing key is
  reported as "no such key 'total' in doc.finance", never as a bare KeyError. Evaluation has no
  side effects, so running the expression again is safe.

Because evaluation is pure, the fast code may also skip work whose answer it already has:

* a sub-expression that costs a loop or a run-time call and would be computed again for the
  same values (it occurs twice up to the names of its macro variables, or sits in a macro's
  body without reading its variable) is memoized for the evaluation (`memo_plan`): the
  payback rule's cumulative sums, written for every year `k` and again inside `exists(j, j <
  k && ...)`, are each computed once per year;
* `sum(xs.map(...))` and `sum(xs.filter(...).map(...))` add up in one loop with no list between;
* an absent-tolerant path (`has`, `filled`, `get`) reuses the steps an earlier one walked in
  the same block (`doc.conflicts_of_interest` is looked up once, not once per `get`);
* literal lists a macro runs over are tuples made once; `x in ["a", "b"]`, `contains`,
  `lowerAscii`, `trim`, `/` and number comparisons run inline behind type guards.

`compile_rule_function` writes a whole rule (`when`, `each` with `where` and `check`, and on
failure its message's placeholders, memoized together with the check) as one fast function of
the document and the parameters; anything out of the ordinary hands the rule over to the
careful per-expression evaluator (bcapi.engine.evaluate), so the outcome is always that one's.

Only literals (through `repr`), names generated here and helper names are ever written into the
generated source: no text from the expression is executed as code.

Choices made where docs/rules.md leaves room (all tested in tests/engine/test_cel.py):

* `has(a.b.c)`, `filled(...)` and `get(..., fallback)` walk their path without failing: a link
  that is absent, null, or not a map (or a list index out of range) makes `has` false, `filled`
  false and `get` give its fallback. Errors inside the path's own sub-expressions still count.
* `&&`, `||`, `?:` and the macros evaluate left to right and stop early; the first error wins
  (CEL would absorb an error that a later `true`/`false` makes irrelevant).
* Integers are Python ints (no 64-bit overflow); there is no uint, bytes, double, type(),
  timestamp or message type. Map keys may be strings, ints or bools (`true` is not the key 1).
* `matches` uses Python's `re.search`, not RE2.

Modules: `parser` (cel-python's parse tree to the AST of `nodes`), `schema_types` (static types
from the variables' JSON Schemas), `functions` (the functions, methods and macros, and the names
generated code may use), `generator` with `gen_operators`, `gen_calls` and `gen_macros` (checks an
AST and writes Python source), `memo` (which sub-expressions to compute once), `expression`
(`compile_expression`), `rule` (`compile_rule_function`), `runtime` (the helpers the
generated code calls) and `keys` (map keys and list positions as CEL reads them).
"""
from __future__ import annotations

from .expression import Compiled, compile_expression
from .rule import compile_rule_function
from .runtime import CelError, CelEvalError, CelSyntaxError, CelTypeError

__all__ = ["CelError", "CelEvalError", "CelSyntaxError", "CelTypeError", "Compiled", "compile_expression",
           "compile_rule_function"]
