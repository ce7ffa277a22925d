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


SEGMENTATION = [
    """md:
# 4. Segmentation and boxes

Segmentation gives every pixel a class; detection draws a box around every object. This
notebook trains a small U-Net on procedurally drawn shapes, compares the two ways of
upsampling in a decoder, then works through the box arithmetic of a detector: IoU, NMS,
anchors, box coding, RoI pooling and average precision. Everything is seeded, and the data
is generated offline.""",
    """import time
import numpy as np
import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap
from matplotlib.patches import Rectangle
import minicnn as mc
import minicnn.functional as F
import minicnn.vision as V
from minicnn.models.fcn import bilinear_kernel
from minicnn.train.run import compute_threads
mc.manual_seed(0)

MASK_COLOURS = ListedColormap(["black", "tab:red", "tab:blue", "tab:orange"])  # bg, rect, circle, tri
def show_mask(ax, mask, title=""):
    ax.imshow(mask, cmap=MASK_COLOURS, vmin=0, vmax=3, interpolation="nearest")
    ax.set_title(title); ax.axis("off")
def show_image(ax, image, title=""):      # (C, H, W) -> matplotlib's (H, W, C); pixel edges at integers
    ax.imshow(image.transpose(1, 2, 0), extent=(0, image.shape[2], image.shape[1], 0))
    ax.set_title(title); ax.axis("off")
def draw_boxes(ax, boxes, colour, style="-"):
    for x1, y1, x2, y2 in np.asarray(boxes):
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linestyle=style))""",
    """md:
## Segmentation data

`ShapesSegmentation(n, size, seed)` draws sample `i` from the seed `(seed, i)`: 1-3 noisy
rectangles, circles and triangles. The mask holds one class per pixel:
0 background, 1 rectangle, 2 circle, 3 triangle.""",
    """shapes = mc.data.ShapesSegmentation(4, size=32, seed=0)
images, masks = shapes.arrays()
print(shapes.classes, images.shape, images.dtype, masks.shape, masks.dtype)
fig, axes = plt.subplots(2, 4, figsize=(8, 4))
for k in range(4):
    show_image(axes[0, k], images[k])
    show_mask(axes[1, k], masks[k], "classes %s" % np.unique(masks[k]).tolist())""",
    """md:
## Two ways back up: unpooling and transposed convolution

A segmentation decoder must undo the encoder's downsampling. **SegNet** remembers where each
max came from (`return_indices=True`) and `max_unpool2d` puts every value back there, zeros
elsewhere: a "bed of nails", with sharp edges and nothing learned.""",
    """x = mc.tensor(np.random.default_rng(0).permutation(16).reshape(1, 1, 4, 4).astype("float32"))
pooled, indices = F.max_pool2d(x, 2, return_indices=True)
unpooled = F.max_unpool2d(pooled, indices, 2)
print("x\\n", x.data[0, 0]); print("pooled\\n", pooled.data[0, 0])
print("indices (h * W + w)\\n", indices.data[0, 0]); print("unpooled\\n", unpooled.data[0, 0])""",
    """md:
**FCN** upsamples with a transposed convolution whose kernel starts as bilinear
interpolation: a tent $w(i) = 1 - |i - c| / s$. With kernel $2s$, stride $s$, padding $s/2$
the output size is $(H - 1)s - 2 \\cdot s/2 + 2s = sH$. Every input spreads smoothly over its
neighbours; training may then change the kernel.""",
    """w = mc.tensor(bilinear_kernel(1, 4))                       # (C_in, C_out, 4, 4) for s = 2
print("kernel\\n", w.data[0, 0])
smooth = F.conv_transpose2d(pooled, w, stride=2, padding=1)
print("transposed conv\\n", smooth.data[0, 0])
bilinear = F.interpolate(pooled, scale_factor=2, mode="bilinear")
print("same as bilinear interpolation away from the border:",
      np.allclose(smooth.data[0, 0, 1:-1, 1:-1], bilinear.data[0, 0, 1:-1, 1:-1]))
fig, axes = plt.subplots(1, 4, figsize=(10, 2.6))
for ax, (title, img) in zip(axes, [("x", x), ("max-pooled", pooled), ("unpooled (SegNet)", unpooled),
                                   ("bilinear conv^T (FCN)", smooth)]):
    ax.imshow(img.data[0, 0], cmap="viridis", vmin=0, vmax=15); ax.set_title(title); ax.axis("off")""",
    """md:
## Training a small U-Net

U-Net's decoder upsamples with a learned 2x2 transposed convolution and concatenates the
encoder's map of the same size (the skip connection), so fine detail comes back. The loss is
cross-entropy averaged over every pixel: scores (N, C, H, W), targets (N, H, W),
$L = -\\frac{1}{NHW} \\sum_{n,h,w} \\log \\mathrm{softmax}(s_{n,:,h,w})_{y_{n,h,w}}$.""",
    """train_x, train_y = mc.data.ShapesSegmentation(512, size=32, seed=0).arrays()
test_x, test_y = mc.data.ShapesSegmentation(64, size=32, seed=1).arrays()   # other seed: unseen scenes
model = mc.models.unet(in_channels=3, num_classes=4, base=8, depth=2)
print(sum(p.data.size for p in model.parameters()), "parameters")
loader = mc.data.DataLoader(mc.data.TensorDataset(train_x, train_y), batch_size=16, shuffle=True, seed=0)
epochs = 12
opt = mc.optim.Adam(model.parameters(), lr=1e-2)
schedule = mc.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(loader))   # per step""",
    """start = time.perf_counter()
with compute_threads(1):        # one BLAS thread: on a small shared machine two spinning ones cost 5x
    for epoch in range(epochs):
        model.train()
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)   # (N, 4, 32, 32) scores vs (N, 32, 32) classes
            opt.zero_grad(); loss.backward(); opt.step(); schedule.step()
        if epoch % 4 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch}  last batch loss {loss.item():.3f}")
print(f"{time.perf_counter() - start:.1f} s")""",
    """md:
## Pixel accuracy and mean IoU

Pixel accuracy is the fraction of pixels classified right, but background covers most of the
image, so a net that only paints background already scores high. Mean IoU weighs every class
equally: from the confusion matrix cm (rows truth, columns prediction),
$\\mathrm{IoU}_c = cm_{cc} / (\\sum_p cm_{cp} + \\sum_t cm_{tc} - cm_{cc})$.""",
    """model.eval()
with mc.no_grad():
    scores = model(mc.tensor(test_x)).data              # (64, 4, 32, 32)
predicted = scores.argmax(axis=1)
print("background only would score %.3f pixel accuracy" % (test_y == 0).mean())
print("pixel accuracy %.3f" % V.pixel_accuracy(predicted, test_y))
miou, per_class = V.mean_iou(predicted, test_y, num_classes=4, return_per_class=True)
print("mean IoU %.3f" % miou, {name: round(float(iou), 3) for name, iou in zip(shapes.classes, per_class)})
print(V.confusion_matrix(predicted, test_y, num_classes=4))""",
    """fig, axes = plt.subplots(3, 4, figsize=(8, 6))
for k in range(4):
    show_image(axes[0, k], test_x[k], "image")
    show_mask(axes[1, k], test_y[k], "true mask")
    show_mask(axes[2, k], predicted[k], "predicted")""",
    """md:
# Boxes

A box is (x1, y1, x2, y2) in pixels. How much two boxes agree is their intersection over union:
$\\mathrm{IoU}(A, B) = |A \\cap B| / (|A| + |B| - |A \\cap B|)$.""",
    """a = np.array([[0., 0., 4., 4.]])
b = np.array([[2., 1., 6., 5.]])
overlap = (4 - 2) * (4 - 1)                 # x from 2 to 4, y from 1 to 4
by_hand = overlap / (16 + 16 - overlap)      # 6 / 26
print(by_hand, V.box_iou(a, b))""",
    """md:
## Non-maximum suppression

A detector fires many overlapping boxes on one object. Greedy NMS keeps the highest-scoring
box, drops every other box with IoU > threshold with it, and repeats with the best box left.""",
    """boxes = np.array([[10, 10, 40, 40], [12, 8, 42, 38], [8, 14, 38, 44], [50, 20, 80, 55],
                  [54, 24, 82, 58], [30, 30, 60, 60]], dtype=float)
scores = np.array([0.9, 0.8, 0.7, 0.85, 0.6, 0.5])
keep = V.nms(boxes, scores, iou_threshold=0.5)
print("kept", keep, "scores", scores[keep])
fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
for ax, title, chosen in [(axes[0], "before NMS", np.arange(len(boxes))), (axes[1], "after NMS", keep)]:
    draw_boxes(ax, boxes[chosen], "tab:blue")
    for i in chosen:
        ax.text(boxes[i, 0], boxes[i, 1], f"{scores[i]:.2f}", color="tab:blue", fontsize=8)
    ax.set_xlim(0, 90); ax.set_ylim(70, 0); ax.set_aspect("equal"); ax.set_title(title)""",
    """md:
## Anchors and which ones are foreground

A region proposal network puts A anchors (sizes x aspect ratios) at every cell of its
feature map. For training, an anchor whose best IoU with a ground-truth box is >= 0.7 is
foreground, < 0.3 background, in between ignored; and each ground truth also claims its
best anchor, so no object goes without one. Here: an 8x8 map of stride 8 on a 64x64
`ShapesDetection` image, 2 sizes x 3 ratios = 6 anchors per cell.""",
    """detection = mc.data.ShapesDetection(8, size=64, seed=0)
image, target = detection[2]
gt = target["boxes"]
print("ground truth", gt.tolist(), "labels", [shapes.classes[c] for c in target["labels"]])
anchors = V.make_anchors(8, 8, sizes=(16, 32), aspect_ratios=(0.5, 1.0, 2.0))
labels, matched = V.assign_anchors(anchors, gt, fg_iou=0.7, bg_iou=0.3)
fg = np.flatnonzero(labels == 1)
print(anchors.shape[0], "anchors:", (labels == 1).sum(), "foreground,", (labels == 0).sum(),
      "background,", (labels == -1).sum(), "ignored")
print("foreground IoUs", V.box_iou(anchors[fg], gt).max(axis=1).round(2), "(< 0.7: the best anchor of its box)")
fig, ax = plt.subplots(figsize=(4, 4))
show_image(ax, image, "green: ground truth, orange: foreground\\nwhite: the 6 anchors of one cell")
draw_boxes(ax, anchors[6 * 27: 6 * 28], "white", ":")          # all 6 anchors of cell (3, 3)
draw_boxes(ax, gt, "lime")
draw_boxes(ax, anchors[fg], "orange", "--")""",
    """md:
## Box coding: what the network regresses

Instead of raw corners the network predicts offsets from its anchor, in anchor units:
$d_x = (g_x - a_x)/a_w,\\ d_y = (g_y - a_y)/a_h,\\ d_w = \\log(g_w/a_w),\\ d_h = \\log(g_h/a_h)$
(centres and sizes). `decode_boxes` inverts it.""",
    """deltas = V.encode_boxes(anchors[fg], gt[matched[fg]])
print(deltas.round(3))
decoded = V.decode_boxes(anchors[fg], deltas)
print("round trip error", np.abs(decoded - gt[matched[fg]]).max())""",
    """md:
## RoI pooling

Fast R-CNN cuts every box out of the feature map and max-pools it to a fixed grid, so boxes
of any size feed the same head. `spatial_scale` maps image pixels to feature cells (1/4 for
a stride-4 backbone).""",
    """backbone = mc.nn.Conv2d(3, 8, kernel_size=4, stride=4)             # 64x64 image -> 16x16 map
features = backbone(mc.tensor(image[None]))
pooled_boxes = V.roi_pool(features, [mc.tensor(gt)], output_size=(3, 3), spatial_scale=1 / 4)
print("features", features.shape, " boxes", gt.shape, "of sizes", (gt[:, 2:] - gt[:, :2]).tolist())
print("pooled", pooled_boxes.shape)                                  # (K, C, 3, 3)
pooled_boxes.sum().backward()                                        # differentiable
print("weight gradient", backbone.weight.grad.shape)""",
    """md:
## Average precision

Sort one class's detections by score and call each a true positive if it matched an unused
ground truth (IoU >= 0.5). After the first k detections, precision$_k$ = TP$_k$ / k and
recall$_k$ = TP$_k$ / (number of ground truths). Precision is made monotone by taking, at each
recall, the best precision at that recall or beyond; AP is the area under that curve:
$\\mathrm{AP} = \\sum_k (r_k - r_{k-1})\\, \\max_{k' \\ge k} p_{k'}$ (PASCAL VOC). A ground truth
that no detection finds caps recall below 1.""",
    """scores = np.array([0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4])
hits = np.array([1, 1, 0, 1, 0, 0, 1, 0], dtype=bool)       # already sorted by score
num_gt = 5                                                   # one object is never found
precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
recall = np.cumsum(hits) / num_gt
interpolated = np.maximum.accumulate(precision[::-1])[::-1]
by_hand = np.sum(np.diff(np.concatenate([[0], recall])) * interpolated)
ap = V.average_precision(scores, hits, num_gt)
print("precision", precision.round(2)); print("recall   ", recall.round(2))
print(f"AP by hand {by_hand:.4f}, V.average_precision {ap:.4f}")
fig, ax = plt.subplots(figsize=(4, 3.5))
ax.plot(recall, precision, "o-", label="precision")
ax.step(np.concatenate([[0], recall]), np.concatenate([[interpolated[0]], interpolated]), where="pre",
        label=f"interpolated (AP = {ap:.3f})")
ax.set_xlabel("recall"); ax.set_ylabel("precision"); ax.set_xlim(0, 1); ax.set_ylim(0, 1.05)
ax.legend(loc="lower left");""",
]


def main():
    ROOT.mkdir(exist_ok=True)
    for name, cells in [("01_autograd_and_gradcheck", AUTOGRAD), ("02_convolution_and_pooling", CONV),
                        ("03_training_and_diagnostics", TRAINING),
                        ("04_segmentation_and_boxes", SEGMENTATION)]:
        nbformat.write(notebook(cells), str(ROOT / f"{name}.ipynb"))
        print("wrote", ROOT / f"{name}.ipynb")


if __name__ == "__main__":
    main()
