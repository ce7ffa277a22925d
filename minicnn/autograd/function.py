"""``Function``: one differentiable operation, forward and backward on raw arrays.

A subclass writes two static methods, as in ``torch.autograd.Function``::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):                 # x: raw array
            y = np.exp(x)
            ctx.save_for_backward(y)
            return y
        @staticmethod
        def backward(ctx, grad_y):           # d exp(x)/dx = exp(x)
            (y,) = ctx.saved_tensors
            return grad_y * y

and is called with ``Exp.apply(tensor)``. ``apply`` unwraps Tensors to arrays, runs
``forward`` without recording, and -- when grad mode is on and an input requires grad --
links the output to a ``Context`` (the node of the graph) that backward walks.
"""
from .grad_mode import is_grad_enabled, no_grad


class Context:
    """What one call of a Function remembers for its backward (the graph node).

    Attributes: ``function`` (the Function class), ``inputs`` (the input Tensors, in order,
    ``None`` for non-Tensor arguments), ``needs_input_grad`` (tuple of bools).
    """

    def __init__(self, function, inputs):
        self.function = function
        self.inputs = inputs
        self.needs_input_grad = tuple(t is not None and t.requires_grad for t in inputs)
        self._saved = None
        # (version box, version, shape) of each tensor whose array was saved: the tensor's
        # version counter, not the tensor, so that a saved output does not link back to its
        # own node (a reference cycle that kept each step's graph alive until the garbage
        # collector ran: 325 MB per ResNet-20 step at batch 128)
        self._saved_versions = ()
        self._freed = False

    @property
    def name(self):
        return self.function.__name__

    def save_for_backward(self, *arrays):
        """Keep arrays (inputs, outputs or intermediates) for ``backward``."""
        self._saved = arrays

    @property
    def saved_tensors(self):
        """The arrays given to ``save_for_backward``, after checking none was modified in place."""
        if self._freed:
            raise RuntimeError(
                f"backward through {self.name} a second time: its saved arrays were freed "
                "after the first backward. Call .backward(retain_graph=True) the first time "
                "if you need to backpropagate twice.")
        for box, version, shape in self._saved_versions:
            if box[0] != version:
                raise RuntimeError(
                    f"{self.name}.backward: a tensor of shape {shape} that "
                    f"{self.name} saved for backward was modified in place (version "
                    f"{version} -> {box[0]}); its gradient would be wrong. Use an "
                    "out-of-place operation (e.g. x = x + 1 instead of x += 1).")
        return self._saved if self._saved is not None else ()

    def _record_versions(self, tensors):
        """Remember the version of every tensor whose array (or a view of it) was saved."""
        if not self._saved:
            return
        found = []
        for tensor in tensors:
            if tensor is None:
                continue
            for arr in self._saved:
                if arr is tensor.data or (getattr(arr, "base", None) is not None
                                          and arr.base is tensor.data):
                    found.append((tensor._version_box, tensor._version, tuple(tensor.shape)))
                    break
        self._saved_versions = tuple(found)

    def free(self):
        """Drop saved arrays (called by backward unless ``retain_graph``)."""
        self._saved = None
        self._saved_versions = ()
        self._freed = True

    def __repr__(self):
        return f"<{self.name}Backward>"


class Function:
    """Base class of differentiable operations; see the module docstring."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run the op on Tensors (or arrays / Python numbers) and record it for backward."""
        from .tensor import Tensor  # tensor.py imports this module: import at call time

        inputs = tuple(a if isinstance(a, Tensor) else None for a in args)
        raw = tuple(a.data if isinstance(a, Tensor) else a for a in args)
        _check_same_device(cls.__name__, inputs)
        ctx = Context(cls, inputs)
        with no_grad():
            out = cls.forward(ctx, *raw, **kwargs)
        record = is_grad_enabled() and any(ctx.needs_input_grad)
        if isinstance(out, tuple):  # several outputs: only the first is differentiable
            first = Tensor._from_op(out[0], ctx if record else None)
            rest = tuple(Tensor._from_op(o, None) for o in out[1:])
            outputs = (first,) + rest
            ctx._record_versions(inputs + (first,))
            return outputs
        result = Tensor._from_op(out, ctx if record else None)
        _share_version_with_viewed_input(result, inputs)  # first: the box recorded is the shared one
        ctx._record_versions(inputs + (result,))
        return result


def _memory_owner(array):
    """The array that owns the memory ``array`` looks at (itself unless it is a view)."""
    base = getattr(array, "base", None)
    return array if base is None else base


def _share_version_with_viewed_input(result, inputs):
    """A view (a slice, reshape, transpose, expand) shares its input's in-place version
    counter, so writing through the view is caught by every backward that saved the input."""
    owner = _memory_owner(result.data)
    for tensor in inputs:
        if tensor is not None and _memory_owner(tensor.data) is owner:
            result._version_box = tensor._version_box
            return


def _check_same_device(op_name, tensors):
    """All Tensor inputs of one op must live on one device."""
    devices = {t.device for t in tensors if t is not None}
    if len(devices) > 1:
        raise RuntimeError(
            f"{op_name}: expected all tensors on the same device, got "
            f"{' and '.join(sorted(devices))}. Move them with .to(device) first.")


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the backward of NumPy broadcasting.

    Leading axes that broadcasting added are summed away; axes where ``shape`` has 1 are
    summed with keepdims.
    """
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)
