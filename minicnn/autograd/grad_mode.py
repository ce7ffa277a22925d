"""Switching graph recording on and off: ``no_grad`` and ``enable_grad``."""
import contextlib
import functools

_enabled = [True]


def is_grad_enabled():
    """True while operations are recorded for backward."""
    return _enabled[0]


def set_grad_enabled(mode):
    """Turn recording on or off globally (prefer the context managers)."""
    _enabled[0] = bool(mode)


class _GradMode(contextlib.ContextDecorator):
    """Context manager (and decorator) that sets recording to ``self.mode`` inside it."""

    mode = True

    def __new__(cls, function=None):
        """``@no_grad`` (bare) and ``@no_grad()`` both decorate a function."""
        instance = super().__new__(cls)
        return instance(function) if callable(function) else instance

    def __init__(self, function=None):
        pass

    def __enter__(self):
        self._previous = is_grad_enabled()
        set_grad_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        set_grad_enabled(self._previous)
        return False


class no_grad(_GradMode):
    """``with mc.no_grad():`` -- nothing inside is recorded; results have no grad_fn."""

    mode = False


class enable_grad(_GradMode):
    """``with mc.enable_grad():`` -- recording on again, e.g. inside a ``no_grad`` block."""

    mode = True


def no_grad_function(fn):
    """Decorator form for functions: run ``fn`` with recording off."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with no_grad():
            return fn(*args, **kwargs)
    return wrapper
