"""Draw the autograd graph of a Tensor: the ops that made it, back to the leaves.

Each op box is a ``Context`` (``tensor.grad_fn``) labelled with its Function's name; its
inputs are ``Context.inputs``. Leaves are the tensors no op made: parameters and inputs.
Arrows run in the forward direction (leaves on the left, the output on the right).
"""
from collections import deque
from itertools import groupby

from matplotlib.figure import Figure

from ..autograd.tensor import Tensor
from .figure import finish

__all__ = ["plot_graph"]

_COLOURS = {"op": "#cfe2ff", "leaf": "#d1f0d1", "constant": "#e6e6e6", "output": "#ffe0b3"}


def _shape_text(tensor):
    return str(tuple(tensor.shape))  # Python's spelling: (), (3,), (2, 3)


class _GraphBuilder:
    """Walks from the output back through ``grad_fn.inputs``, collecting boxes and arrows."""

    def __init__(self, param_names):
        self.param_names = param_names
        self.nodes = {}      # key -> (label, kind); insertion order is discovery order
        self.edges = {}      # (producer key, consumer key) -> None, an ordered set
        self.to_visit = []   # op nodes whose inputs are not walked yet

    def source(self, tensor):
        """The box that produced ``tensor``: its op, or a leaf box; added if new."""
        if tensor.grad_fn is not None:
            ctx = tensor.grad_fn
            key = ("op", id(ctx))
            if key not in self.nodes:
                self.nodes[key] = (ctx.name, "op")
                self.to_visit.append(ctx)
            return key
        key = ("leaf", id(tensor))
        if key not in self.nodes:
            name = self.param_names.get(id(tensor), "tensor")
            kind = "leaf" if tensor.requires_grad else "constant"
            self.nodes[key] = (f"{name}\n{_shape_text(tensor)}", kind)
        return key

    def build(self, output):
        out_key = ("output", id(output))
        self.nodes[out_key] = (f"output\n{_shape_text(output)}", "output")
        self.edges[(self.source(output), out_key)] = None
        while self.to_visit:
            ctx = self.to_visit.pop()
            for tensor in ctx.inputs:
                if tensor is not None:  # None marks a non-Tensor argument
                    self.edges[(self.source(tensor), ("op", id(ctx)))] = None
        return out_key


def _depths(nodes, edges, out_key):
    """Longest distance of every box from the output, so an arrow always points right."""
    producers = {key: [] for key in nodes}
    consumers_left = {key: 0 for key in nodes}
    for producer, consumer in edges:
        producers[consumer].append(producer)
        consumers_left[producer] += 1
    depth = {key: 0 for key in nodes}
    ready = deque([out_key])
    while ready:  # a box is placed once all of its consumers are placed (Kahn's algorithm)
        key = ready.popleft()
        for producer in producers[key]:
            depth[producer] = max(depth[producer], depth[key] + 1)
            consumers_left[producer] -= 1
            if consumers_left[producer] == 0:
                ready.append(producer)
    return depth


def _order_column(keys, consumers, position, nodes):
    """Top-to-bottom order of one column: each box near the boxes it feeds (fewer crossing
    arrows); among boxes feeding the same place, ops in the middle and leaves around them,
    so a chain of layers is drawn as a straight line."""
    def height_of_consumers(key):
        return sum(position[c][1] for c in consumers[key]) / len(consumers[key])

    ordered = []
    for _, group in groupby(sorted(keys, key=lambda k: -height_of_consumers(k)), key=height_of_consumers):
        group = list(group)
        leaves = [k for k in group if nodes[k][1] != "op"]
        ops = [k for k in group if nodes[k][1] == "op"]
        half = len(leaves) // 2
        ordered += leaves[:half] + ops + leaves[half:]
    return ordered


def plot_graph(tensor, params=None, path=None):
    """Boxes and arrows for the graph that computed ``tensor``.

    ``params``: optional ``dict(model.named_parameters())`` (name -> Parameter) to label
    the leaves with their names, as torchviz does. Leaves that require grad are green,
    constants grey, ops blue, the output orange.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"plot_graph: expected a minicnn Tensor, got {type(tensor).__name__}")
    param_names = {id(p): name for name, p in (params or {}).items()}
    builder = _GraphBuilder(param_names)
    out_key = builder.build(tensor)
    depth = _depths(builder.nodes, builder.edges, out_key)

    columns = {}  # depth -> keys in discovery order
    for key in builder.nodes:
        columns.setdefault(depth[key], []).append(key)
    max_depth = max(columns)
    tallest = max(len(keys) for keys in columns.values())
    consumers = {key: [] for key in builder.nodes}
    for producer, consumer in builder.edges:
        consumers[producer].append(consumer)
    position = {}
    for level in sorted(columns):  # right to left: the output first, then its inputs
        keys = columns[level]
        if level > 0:
            keys = _order_column(keys, consumers, position, builder.nodes)
        for row, key in enumerate(keys):
            position[key] = (max_depth - level, (len(keys) - 1) / 2 - row)

    width = min(250.0, 1.8 * (max_depth + 1) + 1)  # matplotlib allows at most 2**16 pixels a side
    height = min(250.0, 0.9 * tallest + 1.5)
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot(1, 1, 1)
    for producer, consumer in builder.edges:
        ax.annotate("", xy=position[consumer], xytext=position[producer],
                    arrowprops=dict(arrowstyle="->", color="0.4", shrinkA=18, shrinkB=18))
    for key, (label, kind) in builder.nodes.items():
        x, y = position[key]
        ax.text(x, y, label, ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round,pad=0.4", facecolor=_COLOURS[kind], edgecolor="0.3"))
    ax.set_xlim(-0.7, max_depth + 0.7)
    ax.set_ylim(-tallest / 2 - 0.2, tallest / 2 + 0.2)
    ax.axis("off")
    ax.set_title(f"autograd graph: {sum(kind == 'op' for _, kind in builder.nodes.values())} ops")
    return finish(fig, path)
