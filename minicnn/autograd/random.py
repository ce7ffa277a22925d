"""minicnn's random generator: one seeded ``numpy.random.Generator`` behind every random
choice (initialisation, dropout, shuffling, augmentation), so ``manual_seed`` makes a CPU
run reproducible."""
import numpy as np

_state = {"generator": np.random.default_rng(0), "seed": 0}


def manual_seed(seed):
    """Reseed minicnn's generator (like ``torch.manual_seed``); returns the generator."""
    _state["seed"] = int(seed)
    _state["generator"] = np.random.default_rng(int(seed))
    return _state["generator"]


def initial_seed():
    return _state["seed"]


def default_generator():
    """The generator every random op draws from (unless given its own)."""
    return _state["generator"]


def get_rng_state():
    """A JSON-able snapshot of the generator (for checkpoints)."""
    return _state["generator"].bit_generator.state


def set_rng_state(state):
    """Restore a snapshot taken by ``get_rng_state``."""
    generator = np.random.default_rng()
    generator.bit_generator.state = state
    _state["generator"] = generator
