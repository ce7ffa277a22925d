"""``summary(model, input_size)``: a table of layers, output shapes and parameter counts, like
torchinfo's ``summary`` or Keras's ``model.summary()``.

It runs one forward pass on a zero input with hooks on every module (in eval mode and under
``no_grad``, so batchnorm statistics and the random generator are untouched; the modes are
restored afterwards) and records what each module returned.
"""
from ..autograd.factories import zeros
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor

__all__ = ["summary", "ModelSummary"]


class ModelSummary(str):
    """The table as a string (``print`` it), with the numbers as attributes:
    ``total_params``, ``trainable_params``, ``non_trainable_params``, ``rows`` (a list of
    dicts with keys name, type, depth, output_shape, params)."""

    def __repr__(self):  # Jupyter shows the table, not an escaped string
        return str(self)


def _shape_text(output):
    """(N, C, H, W) for a Tensor; a list of shapes for a tuple/list; the type name otherwise."""
    if isinstance(output, Tensor):
        return str(tuple(output.shape))
    if isinstance(output, (tuple, list)):
        return "[" + ", ".join(_shape_text(item) for item in output) + "]"
    if isinstance(output, dict):
        return "{" + ", ".join(f"{key}: {_shape_text(value)}" for key, value in output.items()) + "}"
    return type(output).__name__


def _example_inputs(model, input_size, input_data, dtype, device):
    """The positional inputs of the forward pass: given data, or zeros of ``input_size``."""
    if input_data is not None:
        return tuple(input_data) if isinstance(input_data, (tuple, list)) else (input_data,)
    if input_size is None:
        raise ValueError("summary: give input_size (the full input shape, batch dim included, "
                         "e.g. (1, 3, 32, 32)) or input_data")
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else "cpu"
    sizes = input_size if isinstance(input_size[0], (tuple, list)) else [input_size]
    return tuple(zeros(*size, dtype=dtype, device=device) for size in sizes)


def summary(model, input_size=None, input_data=None, dtype="float32", depth=None, device=None):
    """Describe ``model`` layer by layer.

    Args:
        model: an ``nn.Module``.
        input_size: the input shape including the batch dim, e.g. (1, 1, 28, 28); a list of
            shapes for a model with several inputs.
        input_data: actual input Tensor(s) instead of ``input_size``.
        dtype: dtype of the zero input (default float32).
        depth: show modules nested at most this deep (None: all).
    Returns:
        a ``ModelSummary`` (a str) with rows "name (Type) | output shape | params", where
        params counts the module's parameters including its submodules', and totals.

    Example::

        >>> print(nn.summary(nn.Sequential(nn.Linear(4, 8), nn.ReLU()), (2, 4)))
    """
    inputs = _example_inputs(model, input_size, input_data, dtype, device)
    names = {id(module): name for name, module in model.named_modules()}
    rows, open_rows, handles = [], [], []

    def before(module, args):
        name = names.get(id(module), "?")
        row = {"name": name, "type": type(module).__name__, "depth": name.count(".") + 1 if name else 0,
               "output_shape": "?", "params": sum(p.numel() for p in module.parameters())}
        rows.append(row)
        open_rows.append(row)

    def after(module, args, output):
        open_rows.pop()["output_shape"] = _shape_text(output)

    modes = {id(module): module.training for module in model.modules()}
    try:
        for module in model.modules():
            handles.append(module.register_forward_pre_hook(before))
            handles.append(module.register_forward_hook(after))
        model.eval()
        with no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
        for module in model.modules():
            object.__setattr__(module, "training", modes[id(module)])
    return _format(model, rows, inputs, depth)


def _format(model, rows, inputs, depth):
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    size_mb = sum(p.numel() * p.dtype.itemsize for p in params) / 1024 ** 2
    shown = [row for row in rows if depth is None or row["depth"] <= depth]
    labels = ["  " * row["depth"] + (f"{row['name']} ({row['type']})" if row["name"] else row["type"])
              for row in shown]
    name_width = max([len("Layer (type)")] + [len(label) for label in labels]) + 2
    shape_width = max([len("Output Shape")] + [len(row["output_shape"]) for row in shown]) + 2
    width = name_width + shape_width + 14
    lines = ["=" * width,
             f"{'Layer (type)':<{name_width}}{'Output Shape':<{shape_width}}{'Param #':>14}",
             "=" * width]
    for label, row in zip(labels, shown):
        lines.append(f"{label:<{name_width}}{row['output_shape']:<{shape_width}}{row['params']:>14,}")
    lines += ["=" * width,
              f"Input shape: {', '.join(str(tuple(x.shape)) for x in inputs if isinstance(x, Tensor))}",
              f"Total params: {total:,}",
              f"Trainable params: {trainable:,}",
              f"Non-trainable params: {total - trainable:,}",
              f"Params size (MB): {size_mb:.2f}",
              "=" * width]
    result = ModelSummary("\n".join(lines))
    result.total_params = total
    result.trainable_params = trainable
    result.non_trainable_params = total - trainable
    result.rows = rows
    return result
