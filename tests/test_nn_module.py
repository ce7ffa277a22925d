"""nn core: Module bookkeeping, state dicts, hooks, repr, containers, Linear, activations,
summary, and a small MLP that learns. PyTorch (when importable) is the oracle for keys,
reprs and numbers; otherwise hand-written expectations and NumPy formulas are."""
import copy
import math
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn

FAST = settings(max_examples=15, deadline=None)


class Block(nn.Module):
    """A parameter, a persistent and a non-persistent buffer, two children, a plain list."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(mc.ones(3))
        self.register_buffer("count", mc.zeros(1, dtype="int64"))
        self.register_buffer("scratch", mc.zeros(2), persistent=False)
        self.fc = nn.Linear(3, 3)
        self.act = nn.ReLU()
        self.plain = [nn.Linear(3, 3)]  # hidden from the module: not registered

    def forward(self, x):
        return self.act(self.fc(x * self.scale))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(2, 3)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1, bias=False))

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


NET_STATE_KEYS = ["stem.weight", "stem.bias",
                  "blocks.0.scale", "blocks.0.count", "blocks.0.fc.weight", "blocks.0.fc.bias",
                  "blocks.1.scale", "blocks.1.count", "blocks.1.fc.weight", "blocks.1.fc.bias",
                  "head.0.weight", "head.0.bias", "head.2.weight"]


# ----- Parameter and registration --------------------------------------------------------------
def test_parameter_is_a_tensor_that_requires_grad():
    p = nn.Parameter(mc.tensor([1.0, 2.0]))
    assert isinstance(p, mc.Tensor) and p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:\ntensor(") and "requires_grad=True" in repr(p)
    assert not nn.Parameter(mc.ones(2), requires_grad=False).requires_grad
    assert type(p * 2) is mc.Tensor  # results of ops are plain tensors


def test_registration_names_order_and_kinds():
    net = Net()
    assert list(net.state_dict()) == NET_STATE_KEYS
    assert [name for name, _ in net.named_parameters()] == [k for k in NET_STATE_KEYS if not k.endswith("count")]
    assert [name for name, _ in net.named_buffers()] == ["blocks.0.count", "blocks.0.scratch",
                                                           "blocks.1.count", "blocks.1.scratch"]
    assert [name for name, _ in net.named_children()] == ["stem", "blocks", "head"]
    assert [name for name, _ in net.named_modules()] == [
        "", "stem", "blocks", "blocks.0", "blocks.0.fc", "blocks.0.act", "blocks.1", "blocks.1.fc",
        "blocks.1.act", "head", "head.0", "head.1", "head.2"]
    assert [name for name, _ in net.named_parameters(prefix="model", recurse=False)] == []
    assert [name for name, _ in net.stem.named_parameters(prefix="stem")] == ["stem.weight", "stem.bias"]
    assert net.head[2].bias is None and "bias" in net.head[2]._parameters
    assert net.get_submodule("blocks.1.fc") is net.blocks[1].fc
    assert net.get_parameter("blocks.0.scale") is net.blocks[0].scale
    with pytest.raises(AttributeError, match="no submodule `nope`"):
        net.get_submodule("blocks.nope")


def test_state_dict_keys_match_torch():
    torch = pytest.importorskip("torch")

    class TorchBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(3))
            self.register_buffer("count", torch.zeros(1, dtype=torch.int64))
            self.register_buffer("scratch", torch.zeros(2), persistent=False)
            self.fc = torch.nn.Linear(3, 3)
            self.act = torch.nn.ReLU()

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Linear(2, 3)
            self.blocks = torch.nn.ModuleList([TorchBlock(), TorchBlock()])
            self.head = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1, bias=False))

    theirs = TorchNet()
    assert list(Net().state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in Net().named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in Net().named_buffers()] == [n for n, _ in theirs.named_buffers()]


def test_attribute_assignment_rules():
    block = Block()
    block.scale = None  # a parameter can be set to None ...
    assert block.scale is None and "scale" not in block.state_dict()
    with pytest.raises(TypeError, match="parameter 'scale'"):
        block.scale = mc.ones(3)  # ... but not to a plain tensor
    block.count = mc.tensor([5])  # a buffer takes a new tensor
    assert block.state_dict()["count"].item() == 5
    with pytest.raises(TypeError, match="buffer 'count'"):
        block.count = 3
    block.fc = nn.Identity()  # a child can be replaced
    assert [n for n, _ in block.named_children()] == ["fc", "act"]
    del block.act
    assert "act" not in dict(block.named_children())
    with pytest.raises(AttributeError, match="'Block' object has no attribute 'act'"):
        block.act

    class Forgetful(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(mc.ones(1))  # before super().__init__()

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Forgetful()
    with pytest.raises(KeyError, match="attribute 'fc' already exists"):
        Block().register_buffer("fc", mc.zeros(1))
    with pytest.raises(KeyError, match="contain"):
        Block().register_parameter("a.b", nn.Parameter(mc.ones(1)))


def test_shared_parameters_and_modules_are_listed_once():
    shared = nn.Linear(2, 2)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(model.parameters())) == 2
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(model.modules())) == 3
    tied = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    tied[1].weight = tied[0].weight
    assert [n for n, _ in tied.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    assert list(tied.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]  # as PyTorch


# ----- state dicts -------------------------------------------------------------------------------
def test_state_dict_round_trip_keeps_parameter_objects():
    mc.manual_seed(1)
    source, target = Net(), Net()
    x = mc.randn(5, 2)
    assert not np.allclose(source(x).detach().numpy(), target(x).detach().numpy())
    params_before = [id(p) for p in target.parameters()]
    versions_before = [p._version for p in target.parameters()]
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(source(x).detach().numpy(), target(x).detach().numpy())
    assert [id(p) for p in target.parameters()] == params_before  # an optimizer's references stay valid
    assert all(p._version > v for p, v in zip(target.parameters(), versions_before))
    state = source.state_dict()
    assert not any(t.requires_grad for t in state.values())
    state["stem.bias"].data[0] = 42.0  # detached values share memory, as PyTorch
    assert source.stem.bias.data[0] == 42.0


def test_load_state_dict_from_arrays_casts_dtype():
    model = nn.Linear(3, 2)
    arrays = {"weight": np.arange(6, dtype=np.float64).reshape(2, 3), "bias": np.array([1.0, -1.0])}
    model.load_state_dict(arrays)
    assert model.weight.dtype == np.float32
    np.testing.assert_array_equal(model.weight.data, arrays["weight"].astype(np.float32))


def test_load_state_dict_lists_every_problem():
    model = Net()
    state = model.state_dict()
    del state["stem.bias"], state["head.2.weight"]
    state["extra.weight"] = mc.zeros(1)
    state["ghost"] = mc.zeros(1)
    state["blocks.0.fc.weight"] = mc.zeros(4, 3)
    state["head.0.bias"] = mc.zeros(5)
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert message.startswith("Error(s) in loading state_dict for Net:")
    assert 'Missing key(s) in state_dict: "stem.bias", "head.2.weight".' in message
    assert 'Unexpected key(s) in state_dict: "extra.weight", "ghost".' in message
    assert "size mismatch for blocks.0.fc.weight: copying a param with shape (4, 3) from checkpoint, " \
           "the shape in current model is (3, 3)." in message
    assert "size mismatch for head.0.bias" in message and "(5,)" in message and "(4,)" in message
    assert isinstance(info.value, ValueError)
    # nothing was copied: the error came before any write
    assert model.blocks[0].fc.weight.shape == (3, 3)
    del state["blocks.0.fc.weight"], state["head.0.bias"]
    before = model.stem.weight.data.copy()
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["stem.bias", "blocks.0.fc.weight", "head.0.bias", "head.2.weight"]
    assert result.unexpected_keys == ["extra.weight", "ghost"]
    np.testing.assert_array_equal(model.stem.weight.data, before)
    with pytest.raises(RuntimeError, match="size mismatch for stem.weight"):  # shapes checked even when not strict
        model.load_state_dict({"stem.weight": mc.zeros(1, 1)}, strict=False)


def test_load_torch_weights_gives_torch_outputs():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    ours = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    np.testing.assert_allclose(ours(mc.tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


# ----- modes, grads, dtypes ------------------------------------------------------------------------
def test_train_eval_propagate_to_every_module():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.blocks.train()
    assert net.blocks[1].act.training and not net.stem.training
    with pytest.raises(ValueError, match="bool"):
        net.train("yes")


def test_zero_grad_and_requires_grad_freezing():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    model(mc.randn(4, 3)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.data.any() for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    for name, param in model.named_parameters():  # freeze the first layer by name
        if name.startswith("0."):
            param.requires_grad_(False)
    model(mc.randn(4, 3)).sum().backward()
    assert model[0].weight.grad is None and model[2].weight.grad is not None
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())


def test_to_dtype_in_place_and_integer_buffers_stay():
    block = Block()
    block(mc.randn(2, 3)).sum().backward()
    scale = block.scale
    assert block.to("float64") is block
    assert block.scale is scale and scale.dtype == np.float64 and scale.grad.dtype == np.float64
    assert block.fc.weight.dtype == np.float64 and block.scratch.dtype == np.float64
    assert block.count.dtype == np.int64
    assert block(mc.randn(2, 3, dtype="float64")).dtype == np.float64
    assert block.float().fc.bias.dtype == np.float32
    assert block.to("cpu") is block and block.to(mc.float64).scale.dtype == np.float64
    with pytest.raises(TypeError, match="floating point"):
        block.to("int64")


def test_apply_and_deepcopy():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 3))
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "Sequential"]  # children first, as PyTorch
    model.apply(lambda m: nn.init.zeros_(m.weight) if isinstance(m, nn.Linear) else None)
    assert not any(m.weight.data.any() for m in model if isinstance(m, nn.Linear))
    clone = copy.deepcopy(model)
    clone[0].bias.data[...] = 7.0
    assert not np.any(model[0].bias.data == 7.0)
    assert list(clone.state_dict()) == list(model.state_dict())


# ----- hooks -----------------------------------------------------------------------------------------
def test_forward_hooks_run_modify_and_remove():
    layer = nn.Linear(2, 2)
    calls = []
    pre = layer.register_forward_pre_hook(lambda m, inputs: calls.append(("pre", inputs[0].shape)))
    post = layer.register_forward_hook(lambda m, inputs, output: calls.append(("post", output.shape)))
    layer(mc.randn(5, 2))
    assert calls == [("pre", (5, 2)), ("post", (5, 2))]
    pre.remove()
    post.remove()
    layer(mc.randn(1, 2))
    assert len(calls) == 2
    doubler = layer.register_forward_hook(lambda m, inputs, output: output * 2)
    zeroed = layer.register_forward_pre_hook(lambda m, inputs: (mc.zeros(1, 2),))
    np.testing.assert_allclose(layer(mc.randn(1, 2)).detach().numpy(), 2 * layer.bias.data[None, :], rtol=1e-6)
    doubler.remove()
    with zeroed:
        pass  # a handle is also a context manager that removes its hook
    x = mc.randn(1, 2)
    np.testing.assert_allclose(layer(x).detach().numpy(), F.linear(x, layer.weight, layer.bias).detach().numpy())


# ----- repr ------------------------------------------------------------------------------------------
def _zoo(nn_module):
    """The same architecture from minicnn.nn or torch.nn."""
    return nn_module.Sequential(
        nn_module.Linear(4, 3), nn_module.ReLU(), nn_module.LeakyReLU(0.2), nn_module.ReLU(inplace=True),
        nn_module.Sequential(nn_module.Flatten(), nn_module.Identity(), nn_module.Sigmoid(), nn_module.Tanh()),
        nn_module.ModuleList([nn_module.Linear(3, 2, bias=False), nn_module.ReLU(), nn_module.ReLU(),
                              nn_module.Sequential(nn_module.Tanh()), nn_module.Sequential(nn_module.Tanh())]),
        nn_module.ModuleDict({"soft": nn_module.Softmax(dim=1), "log": nn_module.LogSoftmax(dim=-1)}),
        nn_module.CrossEntropyLoss(), nn_module.MSELoss())


EXPECTED_REPR = """Sequential(
  (0): Linear(in_features=4, out_features=3, bias=True)
  (1): ReLU()
  (2): LeakyReLU(negative_slope=0.2)
  (3): ReLU(inplace=True)
  (4): Sequential(
    (0): Flatten(start_dim=1, end_dim=-1)
    (1): Identity()
    (2): Sigmoid()
    (3): Tanh()
  )
  (5): ModuleList(
    (0): Linear(in_features=3, out_features=2, bias=False)
    (1-2): 2 x ReLU()
    (3-4): 2 x Sequential(
      (0): Tanh()
    )
  )
  (6): ModuleDict(
    (soft): Softmax(dim=1)
    (log): LogSoftmax(dim=-1)
  )
  (7): CrossEntropyLoss()
  (8): MSELoss()
)"""


def test_repr_layout():
    assert repr(_zoo(nn)) == EXPECTED_REPR


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    assert repr(_zoo(nn)) == repr(_zoo(torch.nn))


# ----- containers ------------------------------------------------------------------------------------
def test_sequential_indexing_slicing_and_append():
    layers = [nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers
    assert seq[-1] is layers[2] and seq[0] is layers[0]
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == layers[1:]
    assert [name for name, _ in tail.named_children()] == ["1", "2"]  # names kept, as PyTorch
    with pytest.raises(IndexError, match="index 3 is out of range for length 3"):
        seq[3]
    seq.append(nn.Tanh())
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"] and len(seq) == 4
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"] and named.fc is named[0]
    x = mc.randn(4, 2)
    expected = np.maximum(x.numpy() @ named.fc.weight.data.T + named.fc.bias.data, 0)
    np.testing.assert_allclose(named(x).detach().numpy(), expected, rtol=1e-6)
    del seq[1]
    assert [name for name, _ in seq.named_children()] == ["0", "1", "2"]


def test_module_list_and_dict():
    blocks = nn.ModuleList([nn.Linear(1, 1) for _ in range(2)])
    blocks.append(nn.ReLU()).extend([nn.Tanh()])
    blocks.insert(0, nn.Sigmoid())
    assert [type(m).__name__ for m in blocks] == ["Sigmoid", "Linear", "Linear", "ReLU", "Tanh"]
    assert list(blocks.state_dict()) == ["1.weight", "1.bias", "2.weight", "2.bias"]
    assert isinstance(blocks[1:3], nn.ModuleList) and len(blocks[1:3]) == 2
    del blocks[0]
    assert list(blocks.state_dict())[0] == "0.weight"
    last = blocks[-1]
    assert blocks.pop(-1) is last and len(blocks) == 3
    heads = nn.ModuleDict({"a": nn.Linear(1, 2)})
    heads["b"] = nn.Linear(2, 1)
    assert list(heads) == ["a", "b"] and "b" in heads and len(heads) == 2
    assert list(heads.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]


def test_identity_and_flatten():
    x = mc.randn(2, 3, 4, 5)
    assert nn.Identity(54, unused=True)(x) is x
    np.testing.assert_array_equal(nn.Flatten()(x).numpy(), x.numpy().reshape(2, 60))
    np.testing.assert_array_equal(nn.Flatten(0, 1)(x).numpy(), x.numpy().reshape(6, 4, 5))
    np.testing.assert_array_equal(nn.Flatten(2)(x).numpy(), x.numpy().reshape(2, 3, 20))


# ----- Linear ------------------------------------------------------------------------------------------
@FAST
@given(st.lists(st.integers(1, 3), max_size=2), st.integers(1, 4), st.integers(1, 4), st.booleans(),
       st.integers(0, 2 ** 31))
def test_linear_matches_formula_and_gradcheck(lead, in_features, out_features, bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(tuple(lead) + (in_features,))
    w = rng.standard_normal((out_features, in_features))
    b = rng.standard_normal(out_features) if bias else None
    expected = np.einsum("...i,oi->...o", x, w) + (b if bias else 0)
    got = F.linear(mc.tensor(x), mc.tensor(w), None if b is None else mc.tensor(b))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)
    inputs = [mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)]
    inputs.append(mc.tensor(b, requires_grad=True) if bias else None)
    assert mc.gradcheck(F.linear, inputs)


def test_linear_module_matches_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.Linear(5, 3), torch.nn.Linear(5, 3)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 4, 5)).astype(np.float32)
    ours_x, theirs_x = mc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours(ours_x).sum().backward()
    theirs(theirs_x).sum().backward()
    np.testing.assert_allclose(ours_x.grad.numpy(), theirs_x.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(ours.bias.grad.numpy(), theirs.bias.grad.numpy(), rtol=1e-5)


def test_linear_init_bounds_spread_and_seed():
    mc.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = layer.weight.data, layer.bias.data
    assert w.dtype == np.float32 and layer.weight.requires_grad
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-bound, bound) has std bound / sqrt(3); 120k draws pin it within 1%
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound and abs(w.mean()) < 0.01 * bound
    assert np.abs(w).max() > 0.99 * bound  # the whole interval is used, not a narrower one
    mc.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight.data, w)
    assert nn.Linear(2, 3, dtype="float64").weight.dtype == np.float64
    assert repr(nn.Linear(2, 3, bias=False)) == "Linear(in_features=2, out_features=3, bias=False)"


def test_linear_errors_name_op_and_shapes():
    with pytest.raises(ValueError, match=r"linear: input of shape \(8, 5\) does not match weight of shape \(3, 4\)"):
        nn.Linear(4, 3)(mc.randn(8, 5))
    with pytest.raises(TypeError, match="linear: input dtype float64 does not match weight dtype float32"):
        nn.Linear(4, 3)(mc.randn(2, 4, dtype="float64"))
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        F.linear(mc.randn(2, 4), mc.randn(3, 4), mc.randn(4))


# ----- activations --------------------------------------------------------------------------------
def test_activation_modules_match_formulas():
    x = mc.tensor(np.array([[-2.0, -0.5, 0.5, 3.0], [1.0, -1.0, 0.25, -4.0]]))
    a = x.numpy()
    softmax = np.exp(a - a.max(1, keepdims=True)) / np.exp(a - a.max(1, keepdims=True)).sum(1, keepdims=True)
    cases = [(nn.ReLU(), np.maximum(a, 0)), (nn.LeakyReLU(0.1), np.where(a > 0, a, 0.1 * a)),
             (nn.LeakyReLU(), np.where(a > 0, a, 0.01 * a)), (nn.Sigmoid(), 1 / (1 + np.exp(-a))),
             (nn.Tanh(), np.tanh(a)), (nn.Softmax(dim=1), softmax), (nn.LogSoftmax(dim=1), np.log(softmax))]
    for module, expected in cases:
        np.testing.assert_allclose(module(x).numpy(), expected, rtol=1e-12, err_msg=repr(module))
    with pytest.warns(UserWarning, match="Implicit dimension"):
        implicit = nn.Softmax()(x)  # 2-D input: dim 1, as PyTorch
    np.testing.assert_allclose(implicit.numpy(), softmax, rtol=1e-12)


# ----- summary ---------------------------------------------------------------------------------------
def test_summary_rows_totals_and_modes():
    model = nn.Sequential(OrderedDict([("flat", nn.Flatten()), ("fc1", nn.Linear(12, 8)),
                                       ("act", nn.ReLU()), ("fc2", nn.Linear(8, 3))]))
    model.fc1.requires_grad_(False)
    model.train()
    table = nn.summary(model, (2, 3, 4))
    assert isinstance(table, str)
    assert table.total_params == 12 * 8 + 8 + 8 * 3 + 3
    assert table.trainable_params == 8 * 3 + 3 and table.non_trainable_params == 12 * 8 + 8
    rows = {row["name"]: row for row in table.rows}
    assert rows["flat"]["output_shape"] == "(2, 12)" and rows["fc2"]["output_shape"] == "(2, 3)"
    assert rows["fc1"]["params"] == 104 and rows[""]["params"] == 131
    assert "fc1 (Linear)" in table and "Total params: 131" in table and "Non-trainable params: 104" in table
    assert all(m.training for m in model.modules())  # modes restored
    shallow = nn.summary(nn.Sequential(model), input_data=mc.zeros(1, 12), depth=1)
    assert "fc1" not in shallow and "0 (Sequential)" in shallow


# ----- end to end: a small MLP learns --------------------------------------------------------------
def test_mlp_trained_with_handwritten_sgd_beats_chance():
    mc.manual_seed(0)
    rng = np.random.default_rng(0)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    labels = rng.integers(0, 3, 300)
    points = centers[labels] + 0.5 * rng.standard_normal((300, 2))
    x, y = mc.tensor(points.astype(np.float32)), mc.tensor(labels)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(150):
        loss = loss_fn(model(x), y)
        model.zero_grad()
        loss.backward()
        with mc.no_grad():
            for param in model.parameters():
                param -= 0.5 * param.grad
    chance = math.log(3)
    assert loss.item() < 0.25 * chance
    accuracy = (model(x).argmax(dim=1).numpy() == labels).mean()
    assert accuracy > 0.95
