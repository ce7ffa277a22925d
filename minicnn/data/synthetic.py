"""Procedurally generated shapes for segmentation and detection, offline and seeded.

Each image shows 1..``max_shapes`` filled shapes on a flat background, plus Gaussian noise:

    class 0 = background, 1 = rectangle, 2 = circle, 3 = triangle

(``num_classes`` shape classes are used, 1 <= num_classes <= 3, so masks hold values
0..num_classes and a segmentation model needs ``len(ds.classes) == num_classes + 1`` outputs;
detection labels are 1..num_classes, as torchvision's detectors expect, 0 meaning background.)

The generator, for sample ``i`` (``rng = numpy.random.default_rng((seed, i))``, so a sample
never depends on which other samples were drawn, or in what order):

1. background colour ~ U(0, 0.35) per channel; the number of shapes k ~ U{1..max_shapes}.
2. for each shape: a class ~ U{1..num_classes}, a side ~ U{min_side..max_side} with
   min_side = max(3, size//8), max_side = max(min_side, size//2), and a top-left corner so the
   square (side x side) lies inside the image; a square that comes within 1 pixel of an
   earlier one is re-drawn (up to 100 tries, then the shape is skipped), so shapes never
   touch: every shape is fully visible and its mask pixels are one connected blob.
3. the shape is rasterised inside its square at pixel centres (x + 0.5, y + 0.5):
   rectangle -- a random sub-rectangle of the square (each side >= side/2);
   circle    -- (x - cx)^2 + (y - cy)^2 <= r^2, the disc inscribed in the square;
   triangle  -- an apex on one edge of the square (which edge and where, random) and the
                opposite edge as base, a point is inside when it lies on the inner side of
                all three edges.
   Its colour ~ U(0.55, 1) per channel (always brighter than the background).
4. image = colours + N(0, noise^2), clipped to [0, 1], float32 (C, H, W); the class mask is
   int64 (H, W); each box is [x0, y0, x1, y1] in pixel-edge coordinates, tight around the
   shape's pixels: columns x0..x1-1 and rows y0..y1-1, so (x1-x0)*(y1-y0) counts pixels.
"""
import numpy as np

from minicnn.autograd.tensor import Tensor

from .dataset import Dataset

__all__ = ["ShapesSegmentation", "ShapesDetection", "SHAPE_CLASSES", "generate_shapes_scene",
           "detection_collate"]

SHAPE_CLASSES = ("background", "rectangle", "circle", "triangle")
_GAP = 1          # pixels kept free between two shapes' squares
_TRIES = 100      # placement attempts per shape


def _check_int(name, key, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: {key} must be an integer, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name}: {key} must be {allowed}, got {value}")


def _rasterise(kind, top, left, side, rng, size):
    """Boolean (size, size) mask of one shape drawn inside the square at (top, left)."""
    ys, xs = np.mgrid[0:size, 0:size] + 0.5          # pixel centres
    if kind == 1:  # rectangle: a sub-rectangle with sides in [side/2, side]
        height = int(rng.integers((side + 1) // 2, side + 1))
        width = int(rng.integers((side + 1) // 2, side + 1))
        y0 = top + int(rng.integers(0, side - height + 1))
        x0 = left + int(rng.integers(0, side - width + 1))
        return (ys > y0) & (ys < y0 + height) & (xs > x0) & (xs < x0 + width)
    if kind == 2:  # circle inscribed in the square
        radius = side / 2
        return (ys - top - radius) ** 2 + (xs - left - radius) ** 2 <= radius ** 2
    # triangle: apex on one edge of the square, base = the opposite edge
    edge = int(rng.integers(4))                      # 0 top, 1 bottom, 2 left, 3 right
    along = rng.uniform(0, side)
    u, v = (xs - left, ys - top) if edge < 2 else (ys - top, xs - left)   # u along the base
    if edge in (1, 3):
        v = side - v                                 # measure v from the apex's edge
    apex, base_left, base_right = (along, 0.0), (0.0, side), (side, side)
    inside = np.ones((size, size), dtype=bool)
    corners = [apex, base_left, base_right]
    for k in range(3):                               # same side of each edge as the 3rd vertex
        (ua, va), (ub, vb), (uc, vc) = corners[k], corners[(k + 1) % 3], corners[(k + 2) % 3]
        sign = np.sign((ub - ua) * (vc - va) - (vb - va) * (uc - ua))
        inside &= sign * ((ub - ua) * (v - va) - (vb - va) * (u - ua)) >= 0
    return inside


def _overlaps(square, squares):
    top, left, side = square
    for other_top, other_left, other_side in squares:
        if (top < other_top + other_side + _GAP and other_top < top + side + _GAP
                and left < other_left + other_side + _GAP and other_left < left + side + _GAP):
            return True
    return False


def generate_shapes_scene(rng, size, num_classes=3, max_shapes=3, channels=3, noise=0.05):
    """One scene from ``rng`` (a numpy Generator); the steps are in the module docstring.

    Returns a dict: ``image`` float32 (C, size, size) in [0, 1]; ``mask`` int64 (size, size);
    ``masks`` bool (K, size, size), one per shape; ``boxes`` float32 (K, 4) xyxy;
    ``labels`` int64 (K,).
    """
    min_side = max(3, size // 8)
    max_side = max(min_side, size // 2)
    background = rng.uniform(0.0, 0.35, size=channels)
    image = np.broadcast_to(background[:, None, None], (channels, size, size)).copy()
    mask = np.zeros((size, size), dtype=np.int64)
    squares, shape_masks, labels = [], [], []
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        kind = int(rng.integers(1, num_classes + 1))
        for _ in range(_TRIES):
            side = int(rng.integers(min_side, max_side + 1))
            square = (int(rng.integers(0, size - side + 1)), int(rng.integers(0, size - side + 1)), side)
            if not _overlaps(square, squares):
                break
        else:
            continue                                 # no room left: skip this shape
        shape = _rasterise(kind, square[0], square[1], side, rng, size)
        if not shape.any():
            continue
        squares.append(square)
        image[:, shape] = rng.uniform(0.55, 1.0, size=channels)[:, None]
        mask[shape] = kind
        shape_masks.append(shape)
        labels.append(kind)
    boxes = np.zeros((len(shape_masks), 4), dtype=np.float32)
    for k, shape in enumerate(shape_masks):
        rows, cols = np.nonzero(shape)
        boxes[k] = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    if noise > 0:
        image = image + rng.normal(0.0, noise, size=image.shape)
    return {"image": np.clip(image, 0.0, 1.0).astype(np.float32),
            "mask": mask,
            "masks": np.array(shape_masks, dtype=bool).reshape(-1, size, size),
            "boxes": boxes,
            "labels": np.array(labels, dtype=np.int64)}


class _ShapesBase(Dataset):
    """Argument checks and the per-index generator shared by both datasets."""

    def __init__(self, n, size, num_classes, seed, max_shapes, channels, noise):
        name = type(self).__name__
        _check_int(name, "n", n, 0)
        _check_int(name, "size", size, 8)
        _check_int(name, "num_classes", num_classes, 1, len(SHAPE_CLASSES) - 1)
        _check_int(name, "seed", seed, 0)
        _check_int(name, "max_shapes", max_shapes, 1)
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ValueError(f"{name}: channels must be 1 (grey) or 3 (colour), got {channels!r}")
        if not isinstance(noise, (int, float)) or not 0 <= noise <= 1:
            raise ValueError(f"{name}: noise (the standard deviation of the pixel noise) must be "
                             f"a number in [0, 1], got {noise!r}")
        self.n, self.size, self.num_classes, self.seed = int(n), int(size), int(num_classes), int(seed)
        self.max_shapes, self.channels, self.noise = int(max_shapes), channels, float(noise)
        self.classes = SHAPE_CLASSES[:num_classes + 1]

    def __len__(self):
        return self.n

    def scene(self, index):
        """Everything about sample ``index`` (see ``generate_shapes_scene``), made afresh."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"{type(self).__name__}: index must be an integer, got {type(index).__name__}")
        if index < 0:
            index += self.n
        if not 0 <= index < self.n:
            raise IndexError(f"{type(self).__name__}: index out of range for {self.n} samples")
        rng = np.random.default_rng((self.seed, int(index)))
        return generate_shapes_scene(rng, self.size, self.num_classes, self.max_shapes,
                                     self.channels, self.noise)

    def __repr__(self):
        return (f"{type(self).__name__}(n={self.n}, size={self.size}, num_classes={self.num_classes}, "
                f"channels={self.channels}, seed={self.seed})")


class ShapesSegmentation(_ShapesBase):
    """``ds[i] -> (image, mask)``: image float32 (channels, size, size) in [0, 1], mask int64
    (size, size) with 0 = background and 1..num_classes = rectangle, circle, triangle.

    Samples are generated on access (a few hundred microseconds each), deterministically from
    (seed, i). ``ds.arrays()`` stacks all of them: (n, C, size, size) and (n, size, size).

    >>> images, masks = ShapesSegmentation(8, size=32, seed=0).arrays()
    """

    def __init__(self, n, size=32, num_classes=3, seed=0, max_shapes=3, channels=3, noise=0.05):
        super().__init__(n, size, num_classes, seed, max_shapes, channels, noise)

    def __getitem__(self, index):
        scene = self.scene(index)
        return scene["image"], scene["mask"]

    def arrays(self):
        """All samples at once: images (n, C, size, size) float32, masks (n, size, size) int64."""
        samples = [self[i] for i in range(self.n)]
        images = np.stack([s[0] for s in samples]) if samples else \
            np.zeros((0, self.channels, self.size, self.size), np.float32)
        masks = np.stack([s[1] for s in samples]) if samples else \
            np.zeros((0, self.size, self.size), np.int64)
        return images, masks


class ShapesDetection(_ShapesBase):
    """``ds[i] -> (image, target)``: image float32 (channels, size, size) in [0, 1], target
    ``{"boxes": (K, 4) float32 xyxy, "labels": (K,) int64}`` with labels 1..num_classes.

    With the same arguments it draws exactly the scenes of ``ShapesSegmentation``, so
    ``ShapesSegmentation(...)[i][1]`` is the class mask of ``ShapesDetection(...)[i]``.
    K varies per image: batch with ``DataLoader(ds, collate_fn=detection_collate)``.
    """

    def __init__(self, n, size=64, num_classes=3, seed=0, max_shapes=3, channels=3, noise=0.05):
        super().__init__(n, size, num_classes, seed, max_shapes, channels, noise)

    def __getitem__(self, index):
        scene = self.scene(index)
        return scene["image"], {"boxes": scene["boxes"], "labels": scene["labels"]}


def detection_collate(batch):
    """[(image, target), ...] -> (images, [target, ...]): the images stack into one Tensor
    (B, C, H, W); the targets (different numbers of boxes) stay a list of dicts of arrays."""
    images = np.stack([image for image, _ in batch])
    return Tensor(images), [target for _, target in batch]
