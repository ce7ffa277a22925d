"""The backward pass: walk the graph from the output in reverse topological order.

The walk is iterative (an explicit stack), so a graph thousands of ops deep does not hit
Python's recursion limit. Each node (a ``Context``) receives the sum of the gradients of
every path to it before its ``backward`` runs; leaves accumulate into ``.grad``.
"""
import numpy as np

from kernels.cpu import memory

from .grad_mode import no_grad


def topological_order(root):
    """Nodes reachable from ``root`` (a Context), each after every node that consumes it."""
    post_order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            post_order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for tensor in node.inputs:
            if tensor is not None and tensor.grad_fn is not None and id(tensor.grad_fn) not in visited:
                stack.append((tensor.grad_fn, False))
    return post_order[::-1]  # root first, leaves' producers last


def run_backward(tensor, grad, retain_graph=False):
    """Backpropagate ``grad`` (an array shaped like ``tensor``) through ``tensor``'s graph."""
    if tensor.grad_fn is None:  # a leaf: its gradient is the seed itself
        _accumulate_leaf(tensor, grad)
        return
    pending = {id(tensor.grad_fn): grad}
    leaf_grads = {}  # id(leaf) -> [leaf, sum of its gradients]: hooks see the total, once
    with no_grad():
        for node in topological_order(tensor.grad_fn):
            grad_out = pending.pop(id(node), None)
            if grad_out is None:  # no path from the root carries a gradient here
                continue
            grad_out = _run_hooks(node, grad_out)
            if node._retained is not None:
                _accumulate(node._retained, grad_out)
            input_grads = node.function.backward(node, grad_out)
            if isinstance(input_grads, list):
                input_grads = tuple(input_grads)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if len(input_grads) > len(node.inputs):
                raise RuntimeError(f"{node.name}.backward returned {len(input_grads)} gradients "
                                   f"for {len(node.inputs)} inputs")
            if len(input_grads) < len(node.inputs):
                input_grads = input_grads + (None,) * (len(node.inputs) - len(input_grads))
            for inp, g, needed in zip(node.inputs, input_grads, node.needs_input_grad):
                if not needed or g is None:
                    continue
                g = _checked(node, inp, g)
                if inp.grad_fn is None:
                    if id(inp) in leaf_grads:
                        leaf_grads[id(inp)][1] = leaf_grads[id(inp)][1] + g
                    else:
                        leaf_grads[id(inp)] = [inp, g]
                else:
                    key = id(inp.grad_fn)
                    pending[key] = g if key not in pending else memory.binary(np.add, pending[key], g)
            if not retain_graph:
                node.free()
        for leaf, leaf_grad in leaf_grads.values():
            _accumulate_leaf(leaf, leaf_grad)


def _checked(node, inp, g):
    """Make a gradient match its input's shape and dtype, or say which backward is wrong.

    Only size-1 axes may differ (e.g. (3,) for (1, 3)); a gradient with the right size but
    the wrong layout, such as (3, 2) for a (2, 3) input, is a bug in that backward.
    """
    if not hasattr(g, "shape") or isinstance(g, np.generic):  # a Python or NumPy number
        g = np.asarray(g, dtype=inp.data.dtype)
    if g.shape != inp.data.shape:
        if _without_ones(g.shape) == _without_ones(inp.data.shape):
            g = g.reshape(inp.data.shape)
        else:
            raise RuntimeError(
                f"{node.name}.backward returned a gradient of shape {tuple(g.shape)} for an "
                f"input of shape {tuple(inp.data.shape)}")
    if g.dtype != inp.data.dtype:
        g = g.astype(inp.data.dtype)
    return g


def _without_ones(shape):
    return tuple(size for size in shape if size != 1)


def _run_hooks(node, grad):
    for hook in node._hooks:
        result = hook(grad)
        if result is not None:
            grad = result
    return grad


def _accumulate_leaf(leaf, grad):
    """Run the leaf's hooks on its total gradient, then ``leaf.grad += grad``."""
    for hook in leaf._hooks:
        result = hook(grad)
        if result is not None:
            grad = result
    _accumulate(leaf, grad)


def _accumulate(tensor, grad):
    """``tensor.grad += grad`` (a fresh array the first time, so no two tensors share one)."""
    if tensor.grad is None:
        tensor._set_grad(grad.copy())
    else:
        tensor.grad.data = tensor.grad.data + grad
