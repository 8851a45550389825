"""moto's DynamoDB answers the same, with less work per call: what it recomputes from the
same input on every request is computed once.

A keyed pledge on the local stack is three DynamoDB calls, and moto spent ~2.6 ms of
interpreter time on each (`python -m bench.local_profile`): parsing the same few expression
strings again, deep-copying their syntax trees, listing its handler's methods with
`inspect.getmembers`. Each cache below is keyed by everything its result depends on, and
holds a result moto never mutates (or hands out a fresh copy of it), so the answers, the
errors and the stored items are exactly moto's. The functional suite runs with them on.
"""

from __future__ import annotations

import copy
import functools
import importlib
import json
import os
from collections import deque
from typing import Any

_APPLIED = False
CACHE_SIZE = 1024  # distinct expressions: crowdact writes a few dozen


def apply() -> None:
    """Install the caches (CROWDACT_MOTO_SPEEDUPS=0 leaves moto as it is: to compare)."""
    global _APPLIED
    if _APPLIED or os.environ.get("CROWDACT_MOTO_SPEEDUPS") == "0":
        return
    _cache_handler_method_names()
    _cache_update_expression_trees()
    _copy_trees_without_deepcopy()
    _traverse_with_handlers_looked_up_once()
    _cache_condition_expressions()
    _APPLIED = True


def _cache_handler_method_names() -> None:
    """`BaseResponse.call_action` lists its class's functions (`inspect.getmembers`, ~0.4 ms)
    on every request to look its action up: a class's functions do not change."""
    responses = _module("moto.core.responses")
    responses.method_names_from_class = functools.cache(responses.method_names_from_class)


def _cache_update_expression_trees() -> None:
    """An UpdateExpression's syntax tree depends only on its text, and moto parses it twice
    per UpdateItem. Every use of the tree either only reads it (the check of the names and
    values it uses) or works on a copy (the validator copies it first), so one parsed tree
    per text serves them all. An expression that fails to parse raises each time, as before
    (nothing is cached for it)."""
    parser = _module("moto.dynamodb.parsing.expressions").UpdateExpressionParser
    make = parser.make.__func__

    @functools.lru_cache(maxsize=CACHE_SIZE)
    def parsed(expression: str) -> Any:
        return make(parser, expression)

    parser.make = classmethod(lambda _cls, expression: parsed(expression))


def _copy_trees_without_deepcopy() -> None:
    """The validator copies the syntax tree it rewrites with `copy.deepcopy`, whose memo and
    dispatch cost more than the rest of the validation. The tree is nodes holding a list of
    children and a parent link; `_copy_node` copies exactly that, and anything else a node
    holds (strings, numbers; a value moto put there) with deepcopy as before."""
    validators = _module("moto.dynamodb.parsing.validators")
    validators.deepcopy = lambda tree, memo=None: _copy_node(tree, None)


_IMMUTABLE = (str, int, float, bool, type(None))


def _copy_node(node: Any, parent: Any) -> Any:
    if not isinstance(node, _module("moto.dynamodb.parsing.ast_nodes").Node):
        return node if isinstance(node, _IMMUTABLE) else copy.deepcopy(node)
    copied = object.__new__(type(node))
    state = {}
    for name, value in node.__dict__.items():
        if name == "parent":
            state[name] = parent
        elif name == "children" and isinstance(value, list):
            state[name] = [_copy_node(child, copied) for child in value]
        else:
            state[name] = value if isinstance(value, _IMMUTABLE) else copy.deepcopy(value)
    copied.__dict__.update(state)
    return copied


def _traverse_with_handlers_looked_up_once() -> None:
    """The validator runs ten passes over an UpdateExpression's tree, and each pass rebuilt
    its map of node types to handlers twice per node visited (a dict of bound methods, then
    a tuple of its keys) and checked each node against them with ABC `isinstance`. The maps
    are built from the pass alone, so `_Walk` builds them once per pass and remembers each
    node type's handler; the order of visits, the hooks called and the nodes put in place are
    the same. A pass that overrides how it walks or dispatches keeps its own walk."""
    nodes = _module("moto.dynamodb.parsing.ast_nodes")
    traverser = nodes.DepthFirstTraverser
    original = traverser.traverse
    own = (traverser.traverse_node_recursively, traverser.process)

    @functools.wraps(original)
    def traverse(self: Any, root: Any) -> Any:
        kind = type(self)
        if (kind.traverse_node_recursively, kind.process) != own:
            return original(self, root)
        return _Walk(self, nodes.Node).walk(root, -1)

    traverser.traverse = traverse


class _Walk:
    """One pass of a `DepthFirstTraverser` over a tree, as its `traverse_node_recursively`."""

    def __init__(self, traverser: Any, node_class: type) -> None:
        self._traverser = traverser
        self._node_class = node_class
        self._processed = traverser.nodes_to_be_processed()
        self._handlers = tuple(traverser._processing_map().items())
        self._handler_of: dict[type, Any] = {}

    def _handler(self, node_type: type) -> Any:
        if node_type not in self._handler_of:
            self._handler_of[node_type] = (
                next((h for cls, h in self._handlers if issubclass(node_type, cls)), None)
                if issubclass(node_type, self._processed)
                else None
            )
        return self._handler_of[node_type]

    def walk(self, node: Any, child_id: int) -> Any:
        if not _is_subclass(type(node), self._node_class):
            return node
        parent = node.parent
        if node.children is not None:
            for index, child in enumerate(node.children):
                self._traverser.pre_processing_of_child(node, index)
                self.walk(child, index)
        handle = self._handler(type(node))
        if handle is not None:
            node = handle(node)
            node.parent = parent
            if parent:
                parent.children[child_id] = node
        return node


_SUBCLASSES: dict[tuple[type, type], bool] = {}


def _is_subclass(kind: type, of: type) -> bool:
    """`issubclass`, remembered: moto's nodes are ABCs, whose checks cost a Python call."""
    known = _SUBCLASSES.get((kind, of))
    if known is None:
        known = _SUBCLASSES[(kind, of)] = issubclass(kind, of)
    return known


def _cache_condition_expressions() -> None:
    """A condition (or filter) expression's operator tree depends on its text, its names and
    its values, and its evaluation against an item reads the tree without changing it: the
    same three give the same tree. Its tokens depend on the text alone (the values change
    with each request, e.g. Powertools' `:now`). Inputs that are not plain JSON (binary
    values) are parsed as before."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    original_parse = ConditionExpressionParser.parse
    original_lex = ConditionExpressionParser._lex_condition_expression
    parsed: dict[tuple[str, str, str], tuple[Any, list[str], list[str]]] = {}
    lexed: dict[str, tuple[Any, ...]] = {}

    @functools.wraps(original_lex)
    def lex(self: Any) -> deque[Any]:
        expression = self.condition_expression
        tokens = _recall(lexed, expression)
        if tokens is None:
            tokens = tuple(original_lex(self))  # its nodes are tuples: shared safely
            _remember(lexed, expression, tokens)
        return deque(tokens)

    @functools.wraps(original_parse)
    def parse(self: Any) -> Any:
        try:
            key = (
                self.condition_expression or "",
                json.dumps(self.expression_attribute_names, sort_keys=True),
                json.dumps(self.expression_attribute_values, sort_keys=True),
            )
        except TypeError:
            return original_parse(self)
        found = _recall(parsed, key)
        if found is None:
            op = original_parse(self)  # raises for an invalid expression: nothing cached
            found = (op, list(self.expr_attr_names_found), list(self.expr_attr_values_found))
            _remember(parsed, key, found)
            return op
        op, names, values = found
        self.expr_attr_names_found.extend(names)
        self.expr_attr_values_found.extend(values)
        return op

    ConditionExpressionParser._lex_condition_expression = lex  # type: ignore[method-assign]
    ConditionExpressionParser.parse = parse  # type: ignore[method-assign]


def _recall(cache: dict[Any, Any], key: Any) -> Any:
    """The cached value, now the most recently used (a dict keeps insertion order), or None."""
    value = cache.pop(key, None)
    if value is not None:
        cache[key] = value
    return value


def _module(name: str) -> Any:
    """moto's module `name`, untyped: these patches reach into its internals."""
    return importlib.import_module(name)


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= CACHE_SIZE:
        del cache[next(iter(cache))]  # the least recently used
    cache[key] = value
