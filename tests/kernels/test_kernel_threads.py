"""The CPU kernels on more than one thread (``kernels/cpu/threads.py``).

The other tests run at the default of one thread, where everything runs inline. Here the
convolutions' batch chunks, and the batch-norm and ReLU kernels' ranges, go to two threads:
the results must equal the one-thread ones, and BLAS's thread count must be restored
afterwards.
"""
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import kernels.cpu as cpu
import minicnn as mc
import minicnn.functional as F


@pytest.fixture
def two_threads():
    cpu.set_num_threads(2)
    try:
        yield
    finally:
        cpu.set_num_threads(1)


def blas_threads():
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_thread_count_is_validated():
    with pytest.raises(ValueError, match="positive"):
        cpu.set_num_threads(0)
    assert cpu.get_num_threads() == 1


def test_map_chunks_runs_on_the_pool_with_blas_on_one_thread(two_threads):
    before = blas_threads()
    seen = []

    def work(part):
        seen.append((threading.current_thread().name, blas_threads()))
        return part * 10

    assert cpu.map_chunks(work, [1, 2, 3, 4]) == [10, 20, 30, 40]  # in the parts' order
    caller = threading.current_thread().name
    assert all(name.startswith("minicnn") or name == caller for name, _ in seen)
    assert all(all(count == 1 for count in counts) for _, counts in seen)
    assert blas_threads() == before  # the user's BLAS setting is back


@pytest.mark.parametrize("transposed", [False, True])
def test_convolutions_match_one_thread(transposed, monkeypatch):
    """conv2d / conv_transpose2d with the batch chunks on two threads = on one thread."""
    import minicnn.functional.conv as conv_module
    monkeypatch.setattr(conv_module, "CHUNK_BYTES", 1)  # one image per chunk: many chunks
    monkeypatch.setattr(conv_module, "POOL_FROM_CHUNKS", 2)  # and the pool takes them
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 4, 7, 7))
    w = rng.standard_normal((4, 3, 3, 3) if transposed else (6, 2, 3, 3))
    op = (lambda a, b: F.conv_transpose2d(a, b, stride=2, padding=1)) if transposed else \
        (lambda a, b: F.conv2d(a, b, padding=1, groups=2))
    results = []
    for threads in (1, 2):
        cpu.set_num_threads(threads)
        try:
            tx, tw = mc.tensor(x, requires_grad=True), mc.tensor(w, requires_grad=True)
            out = op(tx, tw)
            (out * out).sum().backward()
            results.append((out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy()))
        finally:
            cpu.set_num_threads(1)
    for one, two in zip(*results):
        np.testing.assert_allclose(two, one, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_pool_works_in_a_forked_child(two_threads):
    """A child process inherits the pool object but not its threads: it must make its own."""
    import os
    assert cpu.map_chunks(lambda part: part + 1, [1, 2]) == [2, 3]  # the parent's pool exists
    import signal
    import time
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the pool answers; never return into pytest
        ok = False
        try:
            ok = cpu.map_chunks(lambda part: part + 1, [1, 2, 3]) == [2, 3, 4]
        finally:
            os._exit(0 if ok else 1)
    deadline = time.monotonic() + 30
    while True:  # a deadlocked child would never exit: give it 30 s, then kill it
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("map_chunks hung in a forked child")
        time.sleep(0.05)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_map_chunks_shares_the_parts_between_the_caller_and_the_pool(two_threads):
    """Each part runs once; while one thread is held in part 0, the other runs the rest."""
    ran = []
    holder = {}
    part_0_started, released = threading.Event(), threading.Event()

    def work(part):
        name = threading.current_thread().name
        ran.append((part, name))
        if part == 0:  # the first part taken: hold its thread until the other one has worked
            holder["name"] = name
            part_0_started.set()
            released.wait(timeout=10)
        elif part_0_started.wait(timeout=10) and holder["name"] != name:
            released.set()
        return part

    assert cpu.map_chunks(work, list(range(8))) == list(range(8))
    assert sorted(part for part, _ in ran) == list(range(8))
    assert len({name for _, name in ran}) == 2  # the caller and one helper both worked


def test_map_chunks_raises_a_part_error_after_every_part_has_stopped(two_threads):
    """An exception in one part reaches the caller, and no part is still running then."""
    running = []

    def work(part):
        running.append(part)
        try:
            if part == 1:
                raise ValueError("part 1 failed")
            import time
            time.sleep(0.02)
            return part
        finally:
            running.remove(part)

    with pytest.raises(ValueError, match="part 1 failed"):
        cpu.map_chunks(work, list(range(6)))
    assert running == []
    assert cpu.map_chunks(lambda part: part * 2, [1, 2, 3]) == [2, 4, 6]  # the pool still works


def test_few_parts_run_inline(two_threads):
    """Below ``min_parts`` the work stays on the calling thread (too little to hand out)."""
    names = cpu.map_chunks(lambda part: threading.current_thread().name, [1, 2, 3], min_parts=4)
    assert names == [threading.current_thread().name] * 3


def test_split_range_covers_the_range_in_equal_pieces(two_threads, monkeypatch):
    from kernels.cpu import threads
    assert threads.split_range(10, threads.SPLIT_FROM_BYTES) == [(0, 5), (5, 10)]
    assert threads.split_range(3, threads.SPLIT_FROM_BYTES) == [(0, 1), (1, 3)]
    assert threads.split_range(1, threads.SPLIT_FROM_BYTES) == [(0, 1)]    # no empty piece
    assert threads.split_range(10, threads.SPLIT_FROM_BYTES - 1) == [(0, 10)]  # too little work
    cpu.set_num_threads(1)
    assert threads.split_range(10, 1 << 40) == [(0, 10)]


def test_memory_bound_kernels_match_one_thread_bit_for_bit(monkeypatch):
    """Batch norm and ReLU split between two threads give exactly the one-thread numbers
    (each channel's sums, each element, are computed by one thread in the same order)."""
    from kernels.cpu import threads
    monkeypatch.setattr(threads, "SPLIT_FROM_BYTES", 0)  # split even these small arrays
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((3, 5, 7)) * 2 + 1).astype(np.float32)
    grad = rng.standard_normal(x.shape).astype(np.float32)
    weight, bias = rng.uniform(0.5, 2, 5).astype(np.float32), rng.standard_normal(5).astype(np.float32)

    def run():
        mean, var = cpu.batchnorm_stats(x)
        invstd = (1 / np.sqrt(var + 1e-5)).astype(np.float32)
        y = cpu.relu_forward(cpu.batchnorm_forward(x, mean, invstd, weight, bias))
        grads = cpu.batchnorm_backward(cpu.relu_backward(grad, y), x, mean, invstd, weight)
        return (mean, var, y) + tuple(grads)

    results = []
    for count in (1, 2):
        cpu.set_num_threads(count)
        try:
            results.append(run())
        finally:
            cpu.set_num_threads(1)
    for one, two in zip(*results):
        np.testing.assert_array_equal(two, one)


# ----- matrix products split between the threads (kernels/cpu/linalg.py) -------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5, 7, 9), (1, 3, 2), (8, 16, 3)])
def test_matmul_split_by_columns_equals_one_product(two_threads, monkeypatch, dtype, shape):
    from kernels.cpu import linalg
    monkeypatch.setattr(linalg, "SPLIT_FROM_FLOPS", 0)  # split even these small ones
    blocks = []
    monkeypatch.setattr(linalg, "map_chunks",
                        lambda function, parts: blocks.append(len(parts)) or
                        cpu.map_chunks(function, parts))
    rows, inner, columns = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((rows, inner)).astype(dtype)
    b_t = rng.standard_normal((columns, inner)).astype(dtype)  # b as a transposed view, as Linear's W.T
    out = cpu.matmul(a, b_t.T)
    assert out.dtype == dtype and out.flags.c_contiguous
    np.testing.assert_allclose(out, a @ b_t.T, rtol=1e-6 if dtype == np.float32 else 1e-13)
    assert blocks == ([2] if columns >= 2 else [])  # one block of columns per thread


def test_matmul_keeps_small_products_and_other_ranks_one_call(two_threads, monkeypatch):
    from kernels.cpu import linalg
    monkeypatch.setattr(linalg, "map_chunks", lambda *args: pytest.fail("split"))
    a, b = np.ones((4, 3)), np.ones((3, 2))
    assert np.array_equal(cpu.matmul(a, b), a @ b)                     # under SPLIT_FROM_FLOPS
    monkeypatch.setattr(linalg, "SPLIT_FROM_FLOPS", 0)
    assert np.array_equal(cpu.matmul(np.ones((2, 4, 3)), b), np.ones((2, 4, 3)) @ b)  # 3-D
    assert np.array_equal(cpu.matmul(np.ones(3), b), np.ones(3) @ b)   # 1-D


def test_linear_on_two_threads_matches_one_thread(monkeypatch):
    from kernels.cpu import linalg
    monkeypatch.setattr(linalg, "SPLIT_FROM_FLOPS", 0)
    rng = np.random.default_rng(1)
    x, w, b = (rng.standard_normal(shape) for shape in ((6, 5), (4, 5), (4,)))
    grad_y = rng.standard_normal((6, 4))

    def run():
        tensors = [mc.tensor(v, requires_grad=True) for v in (x, w, b)]
        y = F.linear(*tensors)
        (y * mc.tensor(grad_y)).sum().backward()
        return [y.detach().numpy()] + [t.grad.numpy() for t in tensors]
    one = run()
    cpu.set_num_threads(2)
    try:
        two = run()
    finally:
        cpu.set_num_threads(1)
    for a, b2 in zip(one, two):
        np.testing.assert_allclose(a, b2, rtol=1e-12, atol=1e-12)
