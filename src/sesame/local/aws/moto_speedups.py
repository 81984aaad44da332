"""Speed-ups to moto's DynamoDB in local mode's moto child, none of which changes an answer.

Profiled under local mode's load (``bench/bench_local.py``, 4 SMTP clients), the DynamoDB child
was the costliest process a message goes through, and UpdateItem was 70% of it: the forwarder's
ledger claims and completes every send with one conditional UpdateItem each. moto spends that
time re-deriving, on every call, things that depend only on an expression's text or on a
class:

- it parses each UpdateExpression twice a call (the request handler, then the backend), and
  each ConditionExpression twice (tokenizing it with regular expressions compiled per token);
- for an item that does not exist yet (every claim) it validates the parsed tree twice, each
  time on a fresh ``copy.deepcopy`` of it (a 35-node tree with parent links: ~0.23 ms);
- each of the nine validation passes asks its class for the node types it handles once per
  node visited, building a dict of bound methods to answer, and tells nodes from values with
  ``isinstance`` on abstract classes (a Python-level ``ABCMeta.__instancecheck__`` per test);
- the clause-count check walks the tree three times, once per clause kind;
- every request lists the handler's methods with ``inspect.getmembers``.

Each speed-up below keeps moto's own code path and only answers the same question from a
cache, or in one pass instead of three. Each is applied only when moto's internals have the
shape it was written against (moto 5.x); on any other shape that step is skipped and moto runs
as it is. Parse errors are never cached: a bad expression is refused on every call.
"""

from __future__ import annotations

import pickle
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

# Bounds on what is kept by text. The forwarder sends a handful of distinct expressions; a
# client sending endless distinct ones (say, values spliced into the text) fills the cache up to
# here and is then parsed every time, as moto would, with no growth.
MAX_KEPT = 1024


def apply() -> list[str]:
    """Apply every speed-up moto's shape allows; the names of those applied."""
    steps: list[Callable[[], bool]] = [
        _keep_parsed_update_expressions,
        _keep_lexed_condition_expressions,
        _processed_node_types_per_class,
        _node_tests_per_class,
        _one_pass_clause_counts,
        _handler_methods_per_class,
    ]
    return [step.__name__.lstrip("_") for step in steps if step()]


def _keep_parsed_update_expressions() -> bool:
    """``UpdateExpressionParser.make`` kept by text, and copies of a kept tree made from its
    pickle instead of ``deepcopy``. Every consumer of a parsed tree copies it before changing
    anything (moto's ``Validator`` deep-copies the tree it is given), so one tree per text is
    safe to share; a tree is never dropped once kept, so the address its pickle is filed under
    always names it."""
    try:
        from moto.dynamodb.parsing import validators
        from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    except ImportError:
        return False
    parse = getattr(UpdateExpressionParser, "make", None)  # a classmethod: bound to the class already
    deepcopy = getattr(validators, "deepcopy", None)
    if parse is None or deepcopy is None:
        return False
    trees: dict[str, Any] = {}
    pickled: dict[int, bytes] = {}
    lock = threading.Lock()

    def make(expression: str) -> Any:
        tree = trees.get(expression)
        if tree is not None:
            return tree
        tree = parse(expression)  # raises on a bad expression: nothing kept
        try:
            data = pickle.dumps(tree, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - a tree that does not pickle is used as parsed, uncached
            return tree
        with lock:
            if expression not in trees and len(trees) < MAX_KEPT:
                trees[expression] = tree
                pickled[id(tree)] = data
            return trees.get(expression, tree)

    def copy(value: Any, memo: Any = None) -> Any:
        data = pickled.get(id(value)) if memo is None else None
        return pickle.loads(data) if data is not None else deepcopy(value, memo)

    UpdateExpressionParser.make = staticmethod(make)  # type: ignore[method-assign,assignment]
    validators.deepcopy = copy  # type: ignore[attr-defined]
    return True


def _keep_lexed_condition_expressions() -> bool:
    """``ConditionExpressionParser``'s tokens kept by the expression's text. The tokenizer reads
    only the text; each call gets tokens of its own (with their own empty child lists), so the
    later stages, which consume and rebuild them, never see another call's."""
    try:
        from moto.dynamodb.comparisons import ConditionExpressionParser
    except ImportError:
        return False
    lex = getattr(ConditionExpressionParser, "_lex_condition_expression", None)
    node = getattr(ConditionExpressionParser, "Node", None)
    if lex is None or node is None or getattr(node, "_fields", None) != ("nonterminal", "kind", "text", "value", "children"):
        return False
    kept: dict[str, tuple[tuple[Any, Any, Any, Any], ...]] = {}

    def lexed(self: Any) -> deque[Any]:
        text = self.condition_expression
        tokens = kept.get(text)
        if tokens is None:
            found = lex(self)  # raises on a bad expression: nothing kept
            if any(token.children for token in found):  # not the shape this was written for
                return found
            tokens = tuple((t.nonterminal, t.kind, t.text, t.value) for t in found)
            if len(kept) < MAX_KEPT:
                kept[text] = tokens
        return deque(node(nonterminal, kind, text_, value, []) for nonterminal, kind, text_, value in tokens)

    ConditionExpressionParser._lex_condition_expression = lexed  # type: ignore[method-assign]
    return True


def _processed_node_types_per_class() -> bool:
    """``DepthFirstTraverser.nodes_to_be_processed`` answered once per class. Every traverser in
    moto maps a fixed set of node classes to its handlers (``_processing_map`` returns a literal
    dict), so the types a class handles never change; moto rebuilt that dict for every node."""
    try:
        from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser
    except ImportError:
        return False
    types_of = getattr(DepthFirstTraverser, "nodes_to_be_processed", None)
    if types_of is None:
        return False
    known: dict[type, tuple[type, ...]] = {}

    def nodes_to_be_processed(self: Any) -> tuple[type, ...]:
        found = known.get(type(self))
        if found is None:
            found = known[type(self)] = types_of(self)
        return found

    DepthFirstTraverser.nodes_to_be_processed = nodes_to_be_processed  # type: ignore[method-assign]
    return True


def _node_tests_per_class() -> bool:
    """``DepthFirstTraverser.traverse_node_recursively`` as moto writes it, with its two
    ``isinstance`` tests (is this a node; is it one this traverser handles) answered once per
    class of value. The tree's values are instances of ordinary classes (no ``__class__``
    overrides, no ABC registrations after import), for which ``isinstance(x, C)`` is
    ``issubclass(type(x), C)``."""
    try:
        from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node
    except ImportError:
        return False
    if not hasattr(DepthFirstTraverser, "traverse_node_recursively"):
        return False
    is_node: dict[type, bool] = {}
    handles: dict[tuple[type, type], bool] = {}

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        kind = type(node)
        known = is_node.get(kind)
        if known is None:
            known = is_node[kind] = isinstance(node, Node)
        if known:
            parent_node = node.parent
            if node.children is not None:
                for i, child_node in enumerate(node.children):
                    self.pre_processing_of_child(node, i)
                    self.traverse_node_recursively(child_node, i)
            pair = (type(self), kind)
            handled = handles.get(pair)
            if handled is None:
                handled = handles[pair] = isinstance(node, self.nodes_to_be_processed())
            if handled:
                node = self.process(node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively  # type: ignore[method-assign]
    return True


def _one_pass_clause_counts() -> bool:
    """``ActionCountValidator.verify_action_counts`` in one walk of the tree instead of one per
    clause kind, with the same checks in the same order. Clauses are children of the update
    expression itself, never of one another, so collecting the three kinds together finds the
    same clauses."""
    try:
        from moto.dynamodb.exceptions import TooManyClauses
        from moto.dynamodb.parsing.ast_nodes import (
            UpdateExpressionAddClause,
            UpdateExpressionRemoveClause,
            UpdateExpressionSetClause,
        )
        from moto.dynamodb.parsing.validators import ActionCountValidator
    except ImportError:
        return False
    if not hasattr(ActionCountValidator, "verify_action_counts"):
        return False
    kinds = ((UpdateExpressionAddClause, "ADD"), (UpdateExpressionRemoveClause, "REMOVE"), (UpdateExpressionSetClause, "SET"))

    def verify_action_counts(self: Any, node: Any) -> Any:
        clauses = [type(clause) for clause in node.find_clauses([kind for kind, _ in kinds])]
        for kind, name in kinds:
            if clauses.count(kind) > 1:
                raise TooManyClauses(name)
        return node

    ActionCountValidator.verify_action_counts = verify_action_counts  # type: ignore[method-assign]
    return True


def _handler_methods_per_class() -> bool:
    """The handler methods of a response class (``method_names_from_class``, which moto calls
    with ``inspect.getmembers`` on every request) listed once per class."""
    try:
        from moto.core import responses
    except ImportError:
        return False
    names_of = getattr(responses, "method_names_from_class", None)
    if names_of is None:
        return False
    known: dict[Any, list[str]] = {}

    def method_names_from_class(clazz: Any) -> list[str]:
        found = known.get(clazz)
        if found is None:
            found = known[clazz] = names_of(clazz)
        return found

    responses.method_names_from_class = method_names_from_class  # type: ignore[attr-defined]
    return True
