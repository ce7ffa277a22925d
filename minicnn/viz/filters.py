"""What a CNN learned: first-layer filters and the feature maps of any layer."""
import numpy as np

from ..autograd.device import move_array
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from .figure import finish, image_grid, show_chw, to_numpy

__all__ = ["plot_filters", "plot_feature_maps"]


def plot_filters(weight, max_filters=64, path=None):
    """Convolution filters as an image grid, one panel per output channel.

    ``weight``: (C_out, C_in, kH, kW), a Tensor/Parameter or a NumPy array (e.g.
    ``model.conv1.weight``). C_in = 1 is drawn grey, C_in = 3 as RGB after per-filter
    min-max normalisation, any other C_in shows the first input channel. At most
    ``max_filters`` filters are drawn.
    """
    weight = to_numpy(weight)
    if weight.ndim != 4:
        raise ValueError("plot_filters: expected a weight of shape (C_out, C_in, kH, kW), "
                         f"got shape {weight.shape}")
    if int(max_filters) < 1:
        raise ValueError(f"plot_filters: max_filters must be >= 1, got {max_filters}")
    c_out, c_in, kh, kw = weight.shape
    count = min(c_out, int(max_filters))
    title = f"{count} of {c_out} filters, {c_in}x{kh}x{kw}"
    if c_in not in (1, 3):
        title += " (first input channel)"
    fig, axes = image_grid(count, title=title)
    for ax, filt in zip(axes, weight[:count]):
        show_chw(ax, filt.astype(np.float64))
    return finish(fig, path)


def _find_module(model, layer_name):
    modules = dict(model.named_modules())
    if layer_name not in modules:
        names = [name for name in modules if name]
        raise ValueError(f"plot_feature_maps: model has no module named {layer_name!r}; "
                         f"available names: {names}")
    return modules[layer_name]


def _as_batch_of_one(model, x):
    """(C, H, W) or (1, C, H, W), NumPy or Tensor -> a (1, C, H, W) Tensor on the model's
    device, of the model's dtype."""
    array = x.data if isinstance(x, Tensor) else np.asarray(x)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[0] != 1:
        raise ValueError(f"plot_feature_maps: expected one input of shape (C, H, W) or (1, C, H, W), "
                         f"got shape {tuple(array.shape)}")
    first_param = next(iter(model.parameters()), None)
    if first_param is not None:
        array = move_array(array, first_param.device)
        if array.dtype != first_param.dtype:
            array = array.astype(first_param.dtype)  # conv refuses mixed float32/float64
    return Tensor(array)


def plot_feature_maps(model, x, layer_name, max_maps=32, path=None):
    """The output channels of module ``layer_name`` when ``model`` sees one input ``x``.

    ``x``: (C, H, W) or (1, C, H, W). The model runs in eval mode under ``no_grad`` with a
    forward hook on the module (a name from ``model.named_modules()``); the hook is removed
    and each module's train/eval mode restored afterwards, even if the forward fails. The
    layer's output must be (1, C', H', W'); at most ``max_maps`` channels are drawn.
    """
    module = _find_module(model, layer_name)
    batch = _as_batch_of_one(model, x)
    captured = []

    def keep_output(mod, inputs, output):
        captured.append(output[0] if isinstance(output, tuple) else output)

    modes = [(mod, mod.training) for mod in model.modules()]
    handle = module.register_forward_hook(keep_output)
    try:
        model.eval()
        with no_grad():
            model(batch)
    finally:
        handle.remove()
        for mod, was_training in modes:
            object.__setattr__(mod, "training", was_training)
    if not captured:
        raise RuntimeError(f"plot_feature_maps: module {layer_name!r} was not called during the forward pass")
    maps = to_numpy(captured[0])
    if maps.ndim != 4:
        raise ValueError(f"plot_feature_maps: the output of {layer_name!r} has shape {maps.shape}; "
                         "feature maps need a (1, C, H, W) output (pick a conv/pool/activation layer)")
    channels = maps.shape[1]
    count = min(channels, int(max_maps))
    title = f"{layer_name}: {count} of {channels} maps, {maps.shape[2]}x{maps.shape[3]}"
    fig, axes = image_grid(count, title=title)
    for ax, feature_map in zip(axes, maps[0, :count]):
        ax.imshow(feature_map.astype(np.float64), cmap="viridis")
    return finish(fig, path)
