"""``Tensor``: an array plus the record of how it was made, for reverse-mode autograd.

``t.data`` is a ``numpy.ndarray`` (CPU) or ``cupy.ndarray`` (GPU). ``t.grad_fn`` is the
``Context`` of the op that produced it (``None`` for leaves). ``t.backward()`` fills
``.grad`` of every leaf with ``requires_grad=True`` that ``t`` depends on.
"""
import numpy as np

from . import ops
from .device import device_of, move_array, normalize_device
from .dtypes import is_floating, resolve_dtype
from .engine import run_backward
from .inplace import InPlaceMethods


class Tensor(InPlaceMethods):
    """An n-dimensional array that records the operations applied to it.

    Build one with ``mc.tensor(data)``, ``mc.randn(*shape)`` etc.; ``Tensor(array)`` wraps
    an existing array without copying.
    """

    __array_priority__ = 1000  # NumPy defers to our reflected operators: np_array * tensor -> Tensor

    def __init__(self, data, requires_grad=False):
        if isinstance(data, Tensor):
            data = data.data
        self.data = _as_array(data)
        self.grad = None
        self.grad_fn = None
        self._version_box = [0]
        self._hooks = []
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _from_op(cls, array, ctx):
        """The output of an op: requires grad exactly when the op was recorded."""
        array = _as_array(array)
        if not is_floating(array.dtype):  # integer/bool results (casts, masks) have no gradient
            ctx = None
        out = cls.__new__(cls)
        out.data = array
        out.grad = None
        out.grad_fn = ctx
        out._version_box = [0]
        out._hooks = []
        out._requires_grad = ctx is not None
        if ctx is not None:
            ctx._hooks = []
            ctx._retained = None
        return out

    # ----- properties -------------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        flag = bool(flag)
        if flag and not is_floating(self.data.dtype):
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.data.dtype}")
        if self.grad_fn is not None and not flag:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; use .detach()")
        self._requires_grad = flag

    def requires_grad_(self, flag=True):
        self.requires_grad = flag
        return self

    @property
    def _version(self):
        """How many in-place changes this memory has seen (shared with ``detach()``)."""
        return self._version_box[0]

    @_version.setter
    def _version(self, value):
        self._version_box[0] = value

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return device_of(self.data)

    @property
    def ndim(self):
        return self.data.ndim

    def dim(self):
        return self.data.ndim

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self):
        return int(self.data.size)

    @property
    def T(self):
        return ops.permute(self, tuple(reversed(range(self.ndim))))

    # ----- autograd ---------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``gradient`` is needed when ``self`` has more than one element (the vector in the
        vector-Jacobian product); a scalar uses 1.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no grad_fn "
                               "(was it computed under no_grad, or from tensors without requires_grad=True?)")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward: gradient can be implicit only for a scalar output, "
                                   f"got shape {self.shape}; pass gradient= of that shape")
            grad = self._xp().ones_like(self.data)
        else:
            grad = gradient.data if isinstance(gradient, Tensor) else self._xp().asarray(gradient)
            if grad.shape != self.data.shape:
                raise ValueError(f"backward: gradient shape {tuple(grad.shape)} does not match "
                                 f"tensor shape {self.shape}")
            grad = grad.astype(self.data.dtype, copy=False)
        run_backward(self, grad, retain_graph=retain_graph)

    def _set_grad(self, array):
        self.grad = Tensor(array)

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        if self.grad_fn is not None:
            self.grad_fn._retained = self
        return self

    def register_hook(self, hook):
        """Call ``hook(grad: Tensor)`` when this tensor's gradient is computed; a Tensor it
        returns replaces the gradient."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that does not require grad")

        def on_array(grad):
            result = hook(Tensor(grad))
            return None if result is None else (result.data if isinstance(result, Tensor) else result)
        (self.grad_fn._hooks if self.grad_fn is not None else self._hooks).append(on_array)
        return hook

    def detach(self):
        """The same data, cut from the graph (shares memory, like PyTorch).

        The two also share the in-place version counter, so changing the detached tensor in
        place is still caught when a backward needs the original values.
        """
        out = Tensor(self.data)
        out._version_box = self._version_box
        return out

    def zero_grad_(self):
        self.grad = None

    # ----- conversion -------------------------------------------------------------------
    def _xp(self):
        from kernels.backend import get_array_module
        return get_array_module(self.data)

    def numpy(self):
        """The data as a NumPy array (shares memory on the CPU; refuses when grad is tracked)."""
        if self.requires_grad:
            raise RuntimeError("numpy(): call .detach().numpy() on a tensor that requires grad")
        if self.device != "cpu":
            raise TypeError(f"numpy(): tensor is on {self.device}; call .cpu() first")
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return move_array(self.data, "cpu").tolist()

    def __array__(self, dtype=None, copy=None):
        array = move_array(self.data, "cpu")
        return array if dtype is None else array.astype(dtype)

    def to(self, *args, **kwargs):
        """``t.to("cuda")``, ``t.to("float64")``, ``t.to(device, dtype)``: differentiable copy."""
        device, dtype = _parse_to_args(args, kwargs)
        out = self
        if dtype is not None and dtype != self.dtype:
            out = ops.astype(out, dtype)
        if device is not None and normalize_device(device) != out.device:
            out = ops.to_device(out, normalize_device(device))
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, index=0):
        return self.to(f"cuda:{index}")

    def float(self):
        return self.to(dtype="float32")

    def double(self):
        return self.to(dtype="float64")

    def long(self):
        return self.to(dtype="int64")

    def astype(self, dtype):
        return self.to(dtype=dtype)

    # ----- operators ----------------------------------------------------------------------
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.sub(self, other)
    def __rsub__(self, other): return ops.sub(other, self)
    def __mul__(self, other): return ops.mul(self, other)
    def __rmul__(self, other): return ops.mul(other, self)
    def __truediv__(self, other): return ops.div(self, other)
    def __rtruediv__(self, other): return ops.div(other, self)
    def __pow__(self, other): return ops.pow(self, other)
    def __rpow__(self, other): return ops.pow(other, self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __neg__(self): return ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return ops.abs(self)
    def __getitem__(self, index): return ops.getitem(self, index)

    # comparisons give boolean tensors outside the graph
    def __eq__(self, other): return ops.compare(self, other, "eq")
    def __ne__(self, other): return ops.compare(self, other, "ne")
    def __lt__(self, other): return ops.compare(self, other, "lt")
    def __le__(self, other): return ops.compare(self, other, "le")
    def __gt__(self, other): return ops.compare(self, other, "gt")
    def __ge__(self, other): return ops.compare(self, other, "ge")
    __hash__ = object.__hash__

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.data.size} elements is ambiguous")
        return bool(self.data.reshape(()).item())

    def __float__(self): return float(self.item())
    def __int__(self): return int(self.item())
    def __index__(self): return int(self.item())

    def __repr__(self):
        body = np.array2string(move_array(self.data, "cpu"), precision=4, separator=", ",
                               prefix="tensor(", threshold=200)
        extras = []
        if self.dtype not in (np.float32, np.int64, np.bool_):  # PyTorch shows only non-default dtypes
            extras.append(f"dtype={self.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    # ----- math methods -------------------------------------------------------------------
    def sum(self, dim=None, keepdims=False, *, axis=None, keepdim=None): return ops.sum(self, _axis(dim, axis), _keep(keepdims, keepdim))
    def mean(self, dim=None, keepdims=False, *, axis=None, keepdim=None): return ops.mean(self, _axis(dim, axis), _keep(keepdims, keepdim))
    def max(self, dim=None, keepdims=False, *, axis=None, keepdim=None):
        """The maximum; with ``dim=`` an int, PyTorch's ``(values, indices)`` pair
        (``axis=`` or a tuple of dims gives the values alone, as NumPy)."""
        return _extreme(self, ops.max, "argmax", dim, axis, _keep(keepdims, keepdim))

    def min(self, dim=None, keepdims=False, *, axis=None, keepdim=None):
        """The minimum; with ``dim=`` an int, ``(values, indices)`` as PyTorch."""
        return _extreme(self, ops.min, "argmin", dim, axis, _keep(keepdims, keepdim))

    def var(self, dim=None, keepdims=False, *, axis=None, keepdim=None, unbiased=True, correction=None):
        return ops.var(self, _axis(dim, axis), _keep(keepdims, keepdim), _correction(unbiased, correction))

    def std(self, dim=None, keepdims=False, *, axis=None, keepdim=None, unbiased=True, correction=None):
        return ops.std(self, _axis(dim, axis), _keep(keepdims, keepdim), _correction(unbiased, correction))

    def argmax(self, dim=None, keepdims=False, *, axis=None, keepdim=None):
        return ops.argmax(self, _axis(dim, axis), _keep(keepdims, keepdim))

    def argmin(self, dim=None, keepdims=False, *, axis=None, keepdim=None):
        return ops.argmin(self, _axis(dim, axis), _keep(keepdims, keepdim))

    def reshape(self, *shape): return ops.reshape(self, _shape_args(shape))
    def view(self, *shape): return ops.reshape(self, _shape_args(shape))
    def flatten(self, start_dim=0, end_dim=-1): return ops.flatten(self, start_dim, end_dim)
    def permute(self, *dims): return ops.permute(self, _shape_args(dims))
    def transpose(self, dim0=None, dim1=None):
        if dim0 is None:  # NumPy's t.transpose(): reverse all axes
            return self.T
        return ops.transpose(self, dim0, dim1)
    def squeeze(self, dim=None): return ops.squeeze(self, dim)
    def unsqueeze(self, dim): return ops.unsqueeze(self, dim)
    def expand(self, *shape): return ops.expand(self, _shape_args(shape))
    def contiguous(self): return self

    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def abs(self): return ops.abs(self)
    def relu(self): return ops.relu(self)
    def sigmoid(self): return ops.sigmoid(self)
    def tanh(self): return ops.tanh(self)
    def pow(self, exponent): return ops.pow(self, exponent)
    def matmul(self, other): return ops.matmul(self, other)
    def clip(self, min=None, max=None): return ops.clip(self, min, max)
    clamp = clip
    def maximum(self, other): return ops.maximum(self, other)
    def minimum(self, other): return ops.minimum(self, other)
    def softmax(self, dim=-1): return ops.softmax(self, dim)
    def log_softmax(self, dim=-1): return ops.log_softmax(self, dim)


def _as_array(data):
    """A NumPy/CuPy array for ``data``: NumPy scalars and Python numbers become 0-d arrays
    (so ``.data`` always supports in-place writes and views)."""
    if isinstance(data, np.ndarray) or (hasattr(data, "__array_namespace__") and not isinstance(data, np.generic)):
        return data
    return np.asarray(data)


class ValuesIndices(tuple):
    """``(values, indices)`` returned by ``max``/``min`` over one ``dim``, as PyTorch's."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])


def _extreme(tensor, reduce, arg_name, dim, axis, keepdims):
    """max/min: values alone, or (values, indices) when one int ``dim`` was named."""
    values = reduce(tensor, _axis(dim, axis), keepdims)
    if isinstance(dim, (int, np.integer)) and not isinstance(dim, bool):
        return ValuesIndices(values, getattr(ops, arg_name)(tensor, int(dim), keepdims))
    return values


def _axis(dim, axis):
    """Every reduction takes PyTorch's ``dim=`` and NumPy's ``axis=``."""
    if dim is not None and axis is not None and dim != axis:
        raise TypeError("give either dim= or axis=, not both")
    return dim if dim is not None else axis


def _keep(keepdims, keepdim):
    return bool(keepdim) if keepdim is not None else bool(keepdims)


def _correction(unbiased, correction):
    return int(correction) if correction is not None else (1 if unbiased else 0)


def _shape_args(shape):
    """Accept both ``t.reshape(2, 3)`` and ``t.reshape((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _unwrap_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _parse_to_args(args, kwargs):
    device, dtype = kwargs.get("device"), kwargs.get("dtype")
    for arg in args:
        if isinstance(arg, str) and (arg.startswith("cuda") or arg == "cpu"):
            device = arg
        else:
            dtype = arg
    return device, resolve_dtype(dtype)
