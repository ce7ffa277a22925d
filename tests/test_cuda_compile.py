"""The CUDA sources compile, without a GPU: nvcc (cubin) and NVRTC (what CuPy uses).

Each check skips cleanly when its compiler is missing. They catch syntax errors, names
NVRTC does not know (nvcc's host headers hide those), and a kernel the launchers call
that a source no longer defines. Whether the kernels compute the right numbers is
tests/test_cuda_kernels.py's job (on a GPU, or on the CPU emulator).
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

from kernels.cuda import compile as cuda_compile
from kernels.cuda import launch

# Written out by hand (not read from the launchers): each source and the kernels it must
# define, every one instantiated as <name>_f32 and <name>_f64.
EXPECTED_KERNELS = {
    "im2col.cu": ["im2col", "col2im"],
    "maxpool.cu": ["maxpool2d_forward", "maxpool2d_backward", "maxunpool2d",
                   "maxunpool2d_backward"],
    "avgpool.cu": ["avgpool2d_forward", "avgpool2d_backward"],
    "batchnorm.cu": ["batchnorm_stats", "batchnorm_forward", "batchnorm_backward_reduce",
                     "batchnorm_backward_input"],
}
SOURCES = sorted(EXPECTED_KERNELS)
HAVE_NVCC = shutil.which("nvcc") is not None
HAVE_NVRTC = cuda_compile.load_nvrtc() is not None


def expected_names(source):
    return sorted(f"{kernel}_{suffix}" for kernel in EXPECTED_KERNELS[source]
                  for suffix in ("f32", "f64"))


def source_path(source):
    return os.path.join(cuda_compile.SOURCE_DIR, source)


# ----------------------------------------------------------------------------- the sources

def test_every_source_is_listed():
    found = sorted(os.path.basename(p) for p in cuda_compile.source_paths())
    assert found == SOURCES


@pytest.mark.parametrize("source", SOURCES)
def test_source_declares_float_and_double_kernels(source):
    signatures = cuda_compile.kernel_signatures(source)
    assert sorted(signatures) == expected_names(source)
    for kernel in EXPECTED_KERNELS[source]:
        f32 = signatures[f"{kernel}_f32"]
        f64 = signatures[f"{kernel}_f64"]
        # the double version is the float version with float -> double, nothing else
        assert [t.replace("float", "double") for t in f32] == f64
        assert any("float" in t for t in f32)


@pytest.mark.parametrize("source", SOURCES)
def test_source_is_nvrtc_safe(source):
    """NVRTC has no host headers: no includes, no libc macros, 64-bit ints as long long."""
    code = cuda_compile.read_source(source)
    without_comments = re.sub(r"//[^\n]*", "", code)
    for forbidden in ("#include", "INFINITY", "NAN", "printf", "std::", "size_t", "int64_t"):
        assert forbidden not in without_comments, f"{source} uses {forbidden}"


def test_batchnorm_block_size_agrees_with_launcher():
    from kernels.cuda import norm
    code = cuda_compile.read_source("batchnorm.cu")
    declared = re.search(r"#define\s+BN_THREADS\s+(\d+)", code)
    assert declared is not None
    assert int(declared.group(1)) == norm.BN_THREADS
    assert norm.BN_THREADS & (norm.BN_THREADS - 1) == 0      # the tree needs a power of 2


# ----------------------------------------------------------------------------- nvcc

@pytest.mark.skipif(not HAVE_NVCC, reason="nvcc is not on PATH")
@pytest.mark.parametrize("source", SOURCES)
def test_nvcc_compiles_source(source):
    ok, log, cubin = cuda_compile.nvcc_compile(source_path(source), arch="sm_80")
    assert ok, log
    for name in expected_names(source):       # extern "C": plain names in the symbol table
        assert name.encode() in cubin, f"{name} missing from the cubin of {source}"


@pytest.mark.skipif(not HAVE_NVCC, reason="nvcc is not on PATH")
def test_nvcc_check_fails_on_a_broken_source(tmp_path):
    broken = tmp_path / "broken.cu"
    broken.write_text(cuda_compile.read_source("im2col.cu").replace("T sum = (T)0;", "T sum = ;"))
    ok, log, _ = cuda_compile.nvcc_compile(str(broken))
    assert not ok and "error" in log


# ----------------------------------------------------------------------------- NVRTC

@pytest.mark.skipif(not HAVE_NVRTC, reason="no libnvrtc (pip install nvidia-cuda-nvrtc)")
@pytest.mark.parametrize("arch", ["compute_75", "compute_90"])
@pytest.mark.parametrize("source", SOURCES)
def test_nvrtc_compiles_source(source, arch):
    ok, log, ptx = cuda_compile.nvrtc_compile(source_path(source), arch=arch)
    assert ok, log
    entries = sorted(re.findall(r"\.entry\s+(\w+)", ptx))
    assert entries == expected_names(source)


@pytest.mark.skipif(not HAVE_NVRTC, reason="no libnvrtc (pip install nvidia-cuda-nvrtc)")
def test_nvrtc_check_rejects_what_nvcc_accepts(tmp_path):
    """INFINITY compiles under nvcc (host math.h) but not under NVRTC: the reason for this file."""
    bad = tmp_path / "bad.cu"
    bad.write_text('extern "C" __global__ void k(float* a) { a[0] = INFINITY; }\n')
    ok, log, _ = cuda_compile.nvrtc_compile(str(bad))
    assert not ok and "INFINITY" in log


@pytest.mark.skipif(HAVE_NVRTC, reason="NVRTC itself is checked above")
def test_nvrtc_through_cupy_when_a_gpu_is_there():
    cupy = pytest.importorskip("cupy")
    if not launch.is_available():
        pytest.skip("CuPy is installed but no GPU is usable")
    for source in SOURCES:
        cupy.RawModule(code=cuda_compile.read_source(source)).compile()


@pytest.mark.skipif(not (HAVE_NVCC or HAVE_NVRTC), reason="neither nvcc nor NVRTC available")
def test_compile_check_covers_every_source():
    used = cuda_compile.compile_check()
    assert sorted(used) == SOURCES


# ----------------------------------------------------------------------------- no CuPy

def test_import_without_cupy_and_clear_error():
    """kernels.cuda imports with CuPy blocked; a kernel call names itself in the error."""
    script = (
        "import sys\n"
        "sys.modules['cupy'] = None\n"            # makes `import cupy` raise ImportError
        "import numpy as np\n"
        "import kernels.cuda as kc\n"
        "assert kc.is_available() is False\n"
        "try:\n"
        "    kc.maxpool2d_forward(np.zeros((1, 1, 2, 2)), (2, 2), (2, 2), (0, 0), (1, 1), False)\n"
        "except RuntimeError as error:\n"
        "    assert 'maxpool2d_forward' in str(error) and 'CuPy' in str(error), error\n"
        "else:\n"
        "    raise AssertionError('no RuntimeError')\n"
        "print('ok')\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, cwd=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_grid_size_arithmetic():
    assert launch.grid_for(1) == 1
    assert launch.grid_for(launch.THREADS) == 1
    assert launch.grid_for(launch.THREADS + 1) == 2
    assert launch.grid_for(10 ** 12) == launch.MAX_BLOCKS   # the grid-stride loop covers the rest
