"""Write the teaching notebooks in notebooks/ from the cell sources below (no outputs stored).

Run ``python scripts/make_notebooks.py`` after editing; the test suite executes every notebook.
"""
import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = pathlib.Path(__file__).resolve().parents[1] / "notebooks"


def notebook(cells):
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [new_markdown_cell(src[3:].strip()) if src.startswith("md:") else new_code_cell(src.strip())
                for src in cells]
    for index, cell in enumerate(nb.cells):
        cell.id = f"cell-{index}"  # stable ids: regenerating gives the same files
    return nb


AUTOGRAD = [
    """md:
# 1. Autograd from the inside

minicnn records every operation on a `Tensor` in a graph of `Function` nodes and walks it
backwards to compute gradients. This notebook builds a few graphs, checks their gradients
against finite differences, and writes a new differentiable op from scratch.""",
    """import numpy as np
import minicnn as mc
mc.manual_seed(0)""",
    """md:
## A tiny graph

$y = \\sum \\tanh(a a^T)$. `y.grad_fn` is the last node; `backward()` fills `a.grad`.""",
    """a = mc.randn(3, 4, dtype="float64", requires_grad=True)
y = (a @ a.T).tanh().sum()
y.backward()
print(y.grad_fn, a.grad.shape)""",
    """md:
The gradient by hand: with $S = a a^T$ and $G = 1 - \\tanh^2 S$, $\\partial y / \\partial a = (G + G^T) a$.""",
    """S = a.data @ a.data.T
G = 1 - np.tanh(S) ** 2
by_hand = (G + G.T) @ a.data
print("max difference:", np.abs(by_hand - a.grad.data).max())
assert np.allclose(by_hand, a.grad.data)""",
    """md:
## Gradient checking

`mc.gradcheck` compares backward with central differences
$(f(x + \\epsilon) - f(x - \\epsilon)) / 2\\epsilon$ element by element, in float64.""",
    """x = mc.randn(4, 5, dtype="float64", requires_grad=True)
print(mc.gradcheck(lambda x: x.softmax(dim=1).log().mean(), [x]))""",
    """md:
## Writing your own op

A `Function` has a `forward` and a `backward` on raw arrays. Here is $\\mathrm{softplus}(x) = \\log(1 + e^x)$,
whose derivative is the sigmoid. The second version has a deliberate bug, and gradcheck says
exactly where.""",
    """class Softplus(mc.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0, x)          # log(1 + e^x) without overflow

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + np.exp(-x))     # d softplus / dx = sigmoid(x)


class BuggySoftplus(Softplus):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (1 + np.exp(x))      # wrong sign in the exponent


x = mc.randn(6, dtype="float64", requires_grad=True)
print("correct:", mc.gradcheck(Softplus, [x]))
try:
    mc.gradcheck(BuggySoftplus, [x])
except mc.GradcheckError as err:
    print(err)""",
    """md:
## In-place edits are caught

Changing a tensor that backward still needs would give a wrong gradient silently; minicnn
refuses at backward instead.""",
    """w = mc.randn(3, requires_grad=True)
v = mc.randn(3)
z = (w * v).sum()
v.add_(1.0)                  # v was saved by the multiplication
try:
    z.backward()
except RuntimeError as err:
    print(err)""",
]

CONV = [
    """md:
# 2. Convolution, pooling and unpooling

A convolution is one matrix product after `im2col` lays every receptive field out as a
column; its gradient uses the adjoint, `col2im`. Max-pooling remembers where each maximum was,
and max-unpooling puts values back there (SegNet's decoder).""",
    """import numpy as np
import minicnn as mc
import minicnn.functional as F
from kernels import reference
mc.manual_seed(0)""",
    """md:
## im2col

For `x` of shape (N, C, H, W) and a k x k kernel, `im2col` gives (N, C*k*k, OH*OW):
one column per output position. The convolution is then `W.reshape(C_out, -1) @ cols`.""",
    """x = mc.randn(1, 1, 4, 4)
cols = reference.im2col(x.data, (3, 3), (1, 1), (0, 0), (1, 1))
print(x.data[0, 0])
print(cols[0].shape)
print(cols[0][:, 0].reshape(3, 3))       # the first receptive field: the top-left 3x3""",
    """w = mc.randn(2, 1, 3, 3)
out = F.conv2d(x, w)
by_gemm = (w.data.reshape(2, -1) @ cols[0]).reshape(2, 2, 2)
print(np.abs(out.data[0] - by_gemm).max())""",
    """md:
## Transposed convolution is the adjoint

For every x and y: $\\langle \\mathrm{conv}(x, w), y \\rangle = \\langle x, \\mathrm{conv}^T(y, w) \\rangle$.
That is why the transposed convolution "upsamples": it spreads each input over a kernel window.""",
    """x = mc.randn(2, 3, 8, 8, dtype="float64")
w = mc.randn(4, 3, 3, 3, dtype="float64")
y = mc.randn(2, 4, 4, 4, dtype="float64")
left = (F.conv2d(x, w, stride=2, padding=1) * y).sum().item()
right = (x * F.conv_transpose2d(y, w, stride=2, padding=1, output_padding=1)).sum().item()
print(left, right)
assert abs(left - right) < 1e-9 * abs(left)""",
    """md:
## Gradient checks with strides, dilation and groups""",
    """x = mc.randn(2, 4, 7, 7, dtype="float64", requires_grad=True)
w = mc.randn(6, 2, 3, 3, dtype="float64", requires_grad=True)
print(mc.gradcheck(lambda x, w: F.conv2d(x, w, stride=2, padding=2, dilation=2, groups=2), [x, w]))""",
    """md:
## Max-pooling with indices, and unpooling ("bed of nails")""",
    """x = mc.tensor(np.random.default_rng(0).permutation(16).reshape(1, 1, 4, 4).astype("float32"))
pooled, indices = F.max_pool2d(x, 2, return_indices=True)
print(x.data[0, 0]); print(pooled.data[0, 0]); print(indices.data[0, 0])
restored = F.max_unpool2d(pooled, indices, 2)
print(restored.data[0, 0])""",
    """md:
## Batch normalisation

In training mode it normalises with the batch's statistics and updates the running ones
(with the unbiased variance); in eval mode it uses the running statistics.""",
    """bn = mc.nn.BatchNorm2d(3)
x = mc.randn(8, 3, 5, 5) * 4 + 2
y = bn(x)
print("batch mean ~0:", np.round(y.data.mean(axis=(0, 2, 3)), 4))
print("running mean after one step:", bn.running_mean.data)
bn.eval()
print("eval output differs:", np.abs(bn(x).data - y.data).max() > 0.1)""",
]


TRAINING = [
    """md:
# 3. Training a CNN and looking inside it

LeNet-5 on the real MNIST digits shipped with minicnn (a 2,000-image slice here, to keep
the notebook quick): a training loop with a progress bar, the curves, what the first layer
learned, activation statistics, the update/weight ratio, and a checkpoint that resumes.""",
    """import numpy as np
import minicnn as mc
import minicnn.functional as F
from minicnn import viz
from minicnn.train import fit, evaluate, ActivationMonitor, UpdateRatioMonitor
mc.manual_seed(0)

x_train, y_train, x_test, y_test = mc.data.load_offline_mnist()
def as_input(images):           # uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), normalised
    return ((images.astype("float32") / 255) - 0.1307)[:, None] / 0.3081
pick = np.random.default_rng(0).permutation(len(x_train))[:2000]
train = mc.data.DataLoader(mc.data.TensorDataset(as_input(x_train[pick]), y_train[pick]),
                           batch_size=64, shuffle=True, seed=0)
test = mc.data.DataLoader(mc.data.TensorDataset(as_input(x_test), y_test), batch_size=250)
print(len(train), "batches per epoch")""",
    """model = mc.models.lenet5()
print(mc.nn.summary(model, (1, 1, 28, 28)))""",
    """md:
## Train, watching the update/weight ratio

The ratio $\\|\\Delta w\\| / \\|w\\|$ per step should sit around $10^{-3}$: much smaller and the
layer barely learns, much larger and it thrashes.""",
    """opt = mc.optim.Adam(model.parameters(), lr=2e-3)
ratios = UpdateRatioMonitor(model)
history = fit(model, train, test, opt, epochs=3, callbacks=[ratios], progress=False)
print("test loss %.3f, accuracy %.3f" % evaluate(model, test))
assert history.val_acc[-1] > 0.9""",
    """viz.plot_history(history)""",
    """viz.plot_update_ratios(ratios.ratios)""",
    """md:
## What the network learned

The first convolution's filters, and what one digit looks like after them.""",
    """viz.plot_filters(model.features[0].weight)""",
    """viz.plot_feature_maps(model, mc.tensor(as_input(x_test[:1])), "features.1")""",
    """md:
## Activation statistics

A healthy network keeps the spread of activations similar from layer to layer; a ReLU whose
fraction of zeros approaches 1 is dying.""",
    """with ActivationMonitor(model) as monitor, mc.no_grad():
    model.eval()
    model(mc.tensor(as_input(x_test[:200])))
for name, stats in monitor.stats.items():
    print(f"{name:14s} mean {stats['mean']:+.3f}  std {stats['std']:.3f}  zeros {stats['frac_zero']:.2f}")
viz.plot_activation_histograms(monitor.stats)""",
    """md:
## Mistakes""",
    """logits, targets = mc.train.predict(model, test, return_targets=True)
predicted = np.asarray(logits).argmax(1)
viz.plot_confusion_matrix(targets, predicted)""",
    """wrong = np.flatnonzero(predicted != targets)
viz.plot_misclassified(x_test[wrong], targets[wrong], predicted[wrong], max_images=8)""",
    """md:
## Checkpoints resume exactly

Save model, optimizer, RNG and history; a fresh model loaded from the file computes the
same outputs.""",
    """import tempfile, os
path = os.path.join(tempfile.mkdtemp(), "lenet.npz")
mc.train.save_checkpoint(path, model, opt, epoch=3, history=history)
restored = mc.models.lenet5()
mc.train.load_checkpoint(path, restored)
restored.eval(); model.eval()
x = mc.tensor(as_input(x_test[:5]))
print(np.abs(restored(x).data - model(x).data).max())""",
]


def main():
    ROOT.mkdir(exist_ok=True)
    for name, cells in [("01_autograd_and_gradcheck", AUTOGRAD), ("02_convolution_and_pooling", CONV),
                        ("03_training_and_diagnostics", TRAINING)]:
        nbformat.write(notebook(cells), str(ROOT / f"{name}.ipynb"))
        print("wrote", ROOT / f"{name}.ipynb")


if __name__ == "__main__":
    main()
