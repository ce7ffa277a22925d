"""Compile-check the CUDA sources without a GPU: with ``nvcc`` or with NVRTC.

CuPy compiles ``kernels/cuda/*.cu`` at run time with NVRTC (see ``launch.py``). These
helpers let the tests (and a curious student) check that every source compiles, and that
it defines the ``extern "C"`` kernels the launchers call, on a machine with no GPU:

* ``nvcc_compile(path)``  -- ``nvcc -cubin`` (nvcc adds host headers NVRTC lacks, so this
  alone does not prove NVRTC is happy);
* ``nvrtc_compile(path)`` -- the real NVRTC library through ``ctypes`` (no GPU needed),
  found next to CuPy's CUDA, in the ``nvidia-cuda-nvrtc`` wheel, or in ``$CUDA_PATH``;
* ``compile_check()``     -- whichever of the two is available, for every source.

Nothing here imports CuPy.
"""
import ctypes
import ctypes.util
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

SOURCE_DIR = os.path.dirname(os.path.abspath(__file__))

# extern "C" __global__ void name(params)  -- how every kernel in our sources is declared
_KERNEL_PATTERN = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)')


def source_paths():
    """Absolute paths of every ``kernels/cuda/*.cu`` file, sorted."""
    return sorted(glob.glob(os.path.join(SOURCE_DIR, "*.cu")))


def read_source(name_or_path):
    """Text of one source, given ``"im2col.cu"`` or a full path."""
    path = name_or_path if os.path.isabs(name_or_path) else os.path.join(SOURCE_DIR, name_or_path)
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def kernel_signatures(name_or_path):
    """``{kernel name: [parameter type, ...]}`` for the extern "C" kernels of one source.

    A type is the declaration without its name, e.g. ``"const float*"`` or ``"long long"``.
    """
    signatures = {}
    for name, params in _KERNEL_PATTERN.findall(read_source(name_or_path)):
        types = []
        for param in params.split(","):
            words = param.replace("*", " * ").split()
            types.append(" ".join(words[:-1]).replace(" *", "*"))   # drop the parameter name
        signatures[name] = types
    return signatures


# ----------------------------------------------------------------------------- nvcc

def nvcc_path():
    """Full path of ``nvcc``, or None."""
    return shutil.which("nvcc")


def nvcc_compile(path, arch="sm_80"):
    """Compile one source to a cubin with nvcc. Returns ``(ok, log, cubin bytes or b"")``.

    sm_80 (A100) is the default because double-precision atomicAdd needs sm_60 or newer.
    """
    nvcc = nvcc_path()
    if nvcc is None:
        raise RuntimeError("nvcc_compile: nvcc is not on PATH")
    with tempfile.TemporaryDirectory() as scratch:
        cubin = os.path.join(scratch, "out.cubin")
        command = [nvcc, "-cubin", "-o", cubin, "--std=c++17", f"-arch={arch}",
                   "-Werror", "all-warnings", path]
        result = subprocess.run(command, capture_output=True, text=True)
        log = (result.stdout + result.stderr).strip()
        if result.returncode != 0:
            return False, log, b""
        with open(cubin, "rb") as handle:
            return True, log, handle.read()


# ----------------------------------------------------------------------------- NVRTC

def _nvrtc_candidates():
    """Places a libnvrtc shared library may live, most likely first."""
    found = ctypes.util.find_library("nvrtc")
    if found:
        yield found
    roots = [os.environ.get("CUDA_PATH", ""), "/usr/local/cuda"]
    roots += [os.path.join(p, "nvidia") for p in sys.path if p]
    for root in roots:
        if not root or not os.path.isdir(root):
            continue
        for pattern in ("lib64/libnvrtc.so*", "lib/libnvrtc.so*", "*/lib/libnvrtc.so*"):
            for candidate in sorted(glob.glob(os.path.join(root, pattern)), reverse=True):
                if "builtins" not in candidate and ".alt." not in candidate:
                    yield candidate


def load_nvrtc():
    """The NVRTC library through ctypes, or None when none can be found."""
    for candidate in _nvrtc_candidates():
        try:
            # NVRTC dlopens libnvrtc-builtins by name: load it first from the same folder
            folder = os.path.dirname(candidate)
            for builtins in glob.glob(os.path.join(folder, "libnvrtc-builtins.so*")):
                if ".alt." not in builtins:
                    ctypes.CDLL(builtins, mode=ctypes.RTLD_GLOBAL)
            return ctypes.CDLL(candidate)
        except OSError:
            continue
    return None


def nvrtc_compile(path, arch="compute_80"):
    """Compile one source with NVRTC, as CuPy does. Returns ``(ok, log, ptx text or "")``."""
    nvrtc = load_nvrtc()
    if nvrtc is None:
        raise RuntimeError("nvrtc_compile: no libnvrtc found (pip install nvidia-cuda-nvrtc)")
    source = read_source(path).encode()
    program = ctypes.c_void_p()
    status = nvrtc.nvrtcCreateProgram(ctypes.byref(program), source,
                                      os.path.basename(path).encode(), 0, None, None)
    if status != 0:
        raise RuntimeError(f"nvrtc_compile: nvrtcCreateProgram failed with status {status}")
    try:
        # the options CuPy adds to a RawModule: the device's architecture, flush-to-zero
        options = (ctypes.c_char_p * 2)(f"--gpu-architecture={arch}".encode(), b"-ftz=true")
        status = nvrtc.nvrtcCompileProgram(program, 2, options)
        log_size = ctypes.c_size_t()
        nvrtc.nvrtcGetProgramLogSize(program, ctypes.byref(log_size))
        log = ctypes.create_string_buffer(log_size.value)
        nvrtc.nvrtcGetProgramLog(program, log)
        log_text = log.value.decode(errors="replace").strip()
        if status != 0:
            return False, log_text, ""
        ptx_size = ctypes.c_size_t()
        nvrtc.nvrtcGetPTXSize(program, ctypes.byref(ptx_size))
        ptx = ctypes.create_string_buffer(ptx_size.value)
        nvrtc.nvrtcGetPTX(program, ptx)
        return True, log_text, ptx.value.decode(errors="replace")
    finally:
        nvrtc.nvrtcDestroyProgram(ctypes.byref(program))


def compile_check(compiler="auto"):
    """Compile every source; return ``{file name: compiler used}`` or raise RuntimeError.

    ``compiler`` is ``"nvrtc"``, ``"nvcc"`` or ``"auto"`` (NVRTC when the library is found,
    since that is what CuPy uses, else nvcc). The error message carries the compiler log.
    """
    if compiler == "auto":
        compiler = "nvrtc" if load_nvrtc() is not None else "nvcc"
    if compiler not in ("nvrtc", "nvcc"):
        raise ValueError(f"compile_check: compiler must be 'auto', 'nvrtc' or 'nvcc', got {compiler!r}")
    compile_one = nvrtc_compile if compiler == "nvrtc" else nvcc_compile
    used = {}
    for path in source_paths():
        ok, log, _ = compile_one(path)
        if not ok:
            raise RuntimeError(f"compile_check: {os.path.basename(path)} fails with {compiler}:\n{log}")
        used[os.path.basename(path)] = compiler
    return used
