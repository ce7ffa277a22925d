"""Transfer learning: freeze a pretrained backbone, replace the head, per-layer learning rates.

    frozen = freeze(model, ["features"])          # every parameter under model.features
    replace_head(model, "classifier.6", nn.Linear(84, 5))
    opt = SGD(param_groups(model, {"features": 1e-4, "classifier": 1e-2}), lr=1e-2)

A name or prefix selects a parameter when it equals the parameter's dotted name or a
module path above it: "features" selects "features.0.weight" but not "features2.weight".
Freezing sets ``requires_grad = False`` and drops the stored gradient, so backward leaves
the parameter alone and every optimizer skips it (optimizers update only parameters whose
``.grad`` is not None): its values stay bit-identical, weight decay and momentum included.
"""


def _matches(name, prefix):
    return prefix == "" or name == prefix or name.startswith(prefix + ".")


def _select(model, names_or_prefixes, function_name):
    """[(name, parameter)] selected by the prefixes (all parameters for None)."""
    named = list(model.named_parameters())
    if names_or_prefixes is None:
        return named
    if isinstance(names_or_prefixes, str):
        names_or_prefixes = [names_or_prefixes]
    selected = []
    for prefix in names_or_prefixes:
        hits = [(name, p) for name, p in named if _matches(name, prefix)]
        if not hits:
            top_level = sorted({name.split(".")[0] for name, _ in named})
            raise ValueError(f"{function_name}: {prefix!r} matches no parameter of "
                             f"{type(model).__name__}; top-level names are {top_level}")
        selected.extend(hit for hit in hits if all(hit[1] is not p for _, p in selected))
    return selected


def freeze(model, names_or_prefixes=None):
    """Stop training the selected parameters (all when None); returns their names."""
    selected = _select(model, names_or_prefixes, "freeze")
    for _, param in selected:
        param.requires_grad = False
        param.grad = None  # an old gradient would otherwise still be applied by step()
    return [name for name, _ in selected]


def unfreeze(model, names_or_prefixes=None):
    """Train the selected parameters again (all when None); returns their names."""
    selected = _select(model, names_or_prefixes, "unfreeze")
    for _, param in selected:
        param.requires_grad = True
    return [name for name, _ in selected]


def trainable_parameters(model):
    """The parameters that still require grad (give these to the optimizer)."""
    return [p for p in model.parameters() if p.requires_grad]


def replace_head(model, attr, new_module):
    """Put ``new_module`` at the dotted path ``attr`` (e.g. "fc" or "classifier.6"); returns
    the module that was there. Use it to give a pretrained network a new number of classes."""
    from ..nn import Module

    if not isinstance(new_module, Module):
        raise TypeError(f"replace_head: new_module must be an nn.Module, got {type(new_module).__name__}")
    parent_path, _, child_name = attr.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    if child_name not in parent._modules:
        raise ValueError(f"replace_head: {type(parent).__name__} at {parent_path or '<model>'!r} "
                         f"has no child {child_name!r}; children: {list(parent._modules)}")
    old = parent._modules[child_name]
    setattr(parent, child_name, new_module)  # keeps the child's place (and state-dict order)
    return old


def param_groups(model, lrs, default_lr=None, trainable_only=True):
    """Optimizer parameter groups with a learning rate per name prefix.

    Each parameter goes to the longest prefix in ``lrs`` it matches; the others form a
    last group with ``default_lr`` (or with the optimizer's own lr when None). Frozen
    parameters are left out when ``trainable_only``. Returns a list of dicts
    ``{"params": [...], "lr": ..., "prefix": ...}`` for ``SGD(groups, lr=...)``.
    """
    prefixes = sorted(lrs, key=len, reverse=True)  # longest (most specific) first
    groups = {prefix: [] for prefix in prefixes}
    rest = []
    for name, param in model.named_parameters():
        if trainable_only and not param.requires_grad:
            continue
        prefix = next((p for p in prefixes if _matches(name, p)), None)
        (rest if prefix is None else groups[prefix]).append(param)
    empty = [prefix for prefix in prefixes if not groups[prefix]]
    if empty:
        raise ValueError(f"param_groups: prefix(es) {empty} match no trainable parameter")
    result = [{"params": groups[prefix], "lr": lrs[prefix], "prefix": prefix} for prefix in lrs]
    if rest:
        group = {"params": rest, "prefix": ""}
        if default_lr is not None:
            group["lr"] = default_lr
        result.append(group)
    return result
