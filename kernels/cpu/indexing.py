"""``_u``: an array index as an unsigned integer, for the compiled (Numba) loops.

Numba accepts negative indices as NumPy does (``a[-1]`` is the last element), so for a
signed index it compiles ``a[i]`` as ``a[i + len(a) if i < 0 else i]``. Two costs follow,
both gone when the index is unsigned (all of our indices are >= 0):

* the test inside the loop keeps LLVM from vectorising many loops (im2col/col2im ran 3-7x
  faster once their indices were unsigned, see ``conv.py``);
* where LLVM still vectorises, its run-time check that the output does not overlap an
  input also covers the wrapped-around addresses, i.e. the arrays' *ends*: an output that
  starts less than 32 bytes after an input ends is taken for an overlap and the loop runs
  one element at a time. That is exactly where glibc puts an array allocated right after
  another one of a whole number of pages (LeNet-5's (64, 6, 28, 28) float32 activations):
  the ReLU backward ran 10x slower (2.1 ms instead of 0.21 for 1.2 MB) in such steps,
  depending on where the heap happened to place its output. With unsigned indices it takes
  0.12 ms wherever the arrays lie.
"""
from numba import njit, uint64


@njit(cache=True)
def _u(value):
    """An index as an unsigned integer (all our indices are >= 0): no wrap-around test."""
    return uint64(value)
