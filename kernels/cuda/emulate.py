"""Run the CUDA sources on the CPU, for tests on machines without a GPU.

This is a test harness, not a backend. ``fake_cupy()`` returns a small stand-in for the
``cupy`` module whose arrays are NumPy arrays and whose ``RawModule`` compiles the ``.cu``
source as ordinary C++ with ``g++`` plus a shim (below) that defines what CUDA provides:
``threadIdx``/``blockIdx``/``blockDim``/``gridDim``, ``__syncthreads``, ``atomicAdd``, the
bit-cast intrinsics. Put it in ``sys.modules["cupy"]`` and the real launchers
(``conv.py``, ``pool.py``, ``norm.py``) run unchanged, so a test can compare every kernel's
index arithmetic with ``kernels.reference``.

How a launch ``kernel(grid, block, args)`` runs:
* blocks one after the other;
* inside a block, threads one after the other -- unless the source calls
  ``__syncthreads``, then the block's threads are real OS threads meeting at a barrier,
  and ``__shared__`` arrays (``static`` here) are shared by them.
Each argument is checked against the kernel's C signature first: a float32 array for
``float*``, float64 for ``double*``, int64 for ``long long*`` (all C-contiguous), a
``numpy.int64`` for ``long long``. A wrong launcher fails here rather than on a GPU.

What this does not test: NVRTC code generation, real GPU concurrency (races between
blocks), CuPy's own API. docs/gpu.md lists what remains to run on a GPU.
"""
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import types

import numpy as np

_SIGNATURE = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')

SHIM = r"""
#include <cmath>
#include <cstring>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

struct emu_dim3 { unsigned int x, y, z; };
thread_local emu_dim3 threadIdx = {0, 0, 0};
thread_local emu_dim3 blockIdx = {0, 0, 0};
static emu_dim3 blockDim = {1, 1, 1};
static emu_dim3 gridDim = {1, 1, 1};

#define __global__
#define __device__
#define __shared__ static

using std::isnan;
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float __int_as_float(int bits) { float f; std::memcpy(&f, &bits, 4); return f; }
inline double __longlong_as_double(long long bits) { double d; std::memcpy(&d, &bits, 8); return d; }

static std::mutex emu_atomic_lock;
template <typename T> T atomicAdd(T* address, T value)
{ std::lock_guard<std::mutex> guard(emu_atomic_lock); T old = *address; *address = old + value; return old; }

// a reusable barrier for the threads of one block
static std::mutex emu_barrier_lock;
static std::condition_variable emu_barrier_wake;
static unsigned emu_barrier_waiting = 0, emu_barrier_generation = 0;
inline void __syncthreads()
{
    std::unique_lock<std::mutex> lock(emu_barrier_lock);
    unsigned generation = emu_barrier_generation;
    if (++emu_barrier_waiting == blockDim.x) {
        emu_barrier_waiting = 0;
        ++emu_barrier_generation;
        emu_barrier_wake.notify_all();
    } else {
        emu_barrier_wake.wait(lock, [&] { return generation != emu_barrier_generation; });
    }
}

static void emu_run(unsigned grid, unsigned block, int concurrent, const std::function<void()>& body)
{
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
    for (unsigned b = 0; b < grid; ++b) {
        if (!concurrent) {
            for (unsigned t = 0; t < block; ++t) {
                blockIdx = {b, 0, 0};
                threadIdx = {t, 0, 0};
                body();
            }
            continue;
        }
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < block; ++t) {
            threads.emplace_back([b, t, &body] {
                blockIdx = {b, 0, 0};
                threadIdx = {t, 0, 0};
                body();
            });
        }
        for (auto& thread : threads) thread.join();
    }
}
"""


def parse_signatures(code):
    """``[(kernel name, [(C type, parameter name), ...]), ...]`` of the extern "C" kernels."""
    kernels = []
    for name, params in _SIGNATURE.findall(code):
        parsed = []
        for param in params.split(","):
            words = param.replace("*", " * ").split()
            parsed.append((" ".join(words[:-1]).replace(" *", "*"), words[-1]))
        kernels.append((name, parsed))
    return kernels


def _launcher_code(code):
    """One ``emu_launch_<name>(grid, block, concurrent, params...)`` per kernel."""
    lines = []
    for name, params in parse_signatures(code):
        declared = ", ".join(f"{ctype} {pname}" for ctype, pname in params)
        passed = ", ".join(pname for _, pname in params)
        lines.append(f'extern "C" void emu_launch_{name}(unsigned grid, unsigned block, '
                     f'int concurrent, {declared})\n'
                     f'{{ emu_run(grid, block, concurrent, [=] {{ {name}({passed}); }}); }}')
    return "\n".join(lines)


_libraries = {}     # sha256 of the code -> ctypes.CDLL


def build_library(code):
    """Compile ``code`` (a .cu source) with the shim as a C++ shared library; cached."""
    key = hashlib.sha256(code.encode()).hexdigest()
    if key in _libraries:
        return _libraries[key]
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        raise RuntimeError("emulate: no C++ compiler (g++) on PATH")
    folder = tempfile.mkdtemp(prefix="minicnn_cuda_emulate_")
    source = os.path.join(folder, "kernels.cpp")
    library = os.path.join(folder, "kernels.so")
    with open(source, "w", encoding="utf-8") as handle:
        handle.write(SHIM + "\n#line 1 \"source.cu\"\n" + code + "\n" + _launcher_code(code) + "\n")
    command = [compiler, "-std=c++17", "-O1", "-shared", "-fPIC", "-pthread",
               "-o", library, source]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"emulate: g++ failed on the CUDA source:\n{result.stderr}")
    _libraries[key] = ctypes.CDLL(library)
    return _libraries[key]


_POINTER_DTYPES = {"float*": np.float32, "double*": np.float64, "long long*": np.int64}


class EmulatedKernel:
    """One extern "C" kernel; called like ``cupy.RawKernel``: ``kernel(grid, block, args)``."""

    def __init__(self, library, name, params, concurrent):
        self.name = name
        self.params = params
        self.concurrent = concurrent
        self.function = getattr(library, f"emu_launch_{name}")
        argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_int]
        for ctype, _ in params:
            argtypes.append(ctypes.c_void_p if ctype.endswith("*") else ctypes.c_longlong)
        self.function.argtypes = argtypes
        self.function.restype = None

    def _check(self, grid, block, args):
        """Raise TypeError unless the launch matches the kernel's C signature."""
        if len(grid) != 1 or len(block) != 1 or int(grid[0]) < 1 or not 1 <= int(block[0]) <= 1024:
            raise TypeError(f"{self.name}: bad launch grid={grid} block={block}")
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}: expected {len(self.params)} arguments, got {len(args)}")
        for (ctype, pname), value in zip(self.params, args):
            base = ctype.replace("const ", "")
            if base in _POINTER_DTYPES:
                if not isinstance(value, np.ndarray) or value.dtype != _POINTER_DTYPES[base] \
                        or not value.flags.c_contiguous:
                    raise TypeError(f"{self.name}: {pname} ({ctype}) needs a C-contiguous "
                                    f"{np.dtype(_POINTER_DTYPES[base])} array, got "
                                    f"{getattr(value, 'dtype', type(value).__name__)}")
                if not ctype.startswith("const") and not value.flags.writeable:
                    raise TypeError(f"{self.name}: output {pname} is not writeable")
            elif base == "long long":
                if type(value) is not np.int64:
                    raise TypeError(f"{self.name}: {pname} (long long) needs numpy.int64, "
                                    f"got {type(value).__name__}")
            else:
                raise TypeError(f"{self.name}: the emulator does not know C type {ctype!r}")

    def __call__(self, grid, block, args, shared_mem=0):
        self._check(grid, block, args)
        values = [value.ctypes.data if isinstance(value, np.ndarray) else int(value)
                  for value in args]
        self.function(int(grid[0]), int(block[0]), int(self.concurrent), *values)


class EmulatedModule:
    """Stand-in for ``cupy.RawModule(code=...)``: compiles on construction."""

    def __init__(self, code, options=(), **unused):
        self.library = build_library(code)
        self.concurrent = "__syncthreads" in code
        self.signatures = dict(parse_signatures(code))

    def get_function(self, name):
        if name not in self.signatures:
            raise AttributeError(f"emulate: no extern \"C\" kernel named {name!r}")
        return EmulatedKernel(self.library, name, self.signatures[name], self.concurrent)


def fake_cupy():
    """A module that quacks like ``cupy`` for kernels/cuda: NumPy arrays, emulated kernels."""
    fake = types.ModuleType("cupy")
    fake.ndarray = np.ndarray
    for name in ("ascontiguousarray", "empty", "empty_like", "zeros", "float32", "float64",
                 "int64", "asarray", "maximum"):
        setattr(fake, name, getattr(np, name))
    fake.asnumpy = np.asarray
    fake.RawModule = EmulatedModule
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1)
    fake.cuda = types.SimpleNamespace(runtime=runtime)
    return fake
