"""The divergence guard: stop a run whose loss has become NaN/inf or has blown up.

A learning rate that is too high shows itself quickly: the loss grows instead of falling,
then overflows to inf/NaN, and every later step is wasted (and NaN weights are useless).
``fit`` asks the guard after each forward pass, *before* the backward pass and the update,
so the weights of a stopped run are those of the last healthy step.

Rule (documented in ``fit``):

    diverged  if  loss is NaN or +-inf
              or  mean(last `window` step losses) > factor * mean(first `window` step losses)

Both means smooth out the noise of single mini-batches: one unlucky batch does not stop a
run, a loss that has tripled on average does. The first losses of the run (kept in
``History.step_loss``, so a resumed run keeps its reference) are the starting value.

``fit`` then raises ``TrainingDiverged``; its ``history`` attribute holds the measurements
up to the failing step (``history.stop_reason`` says what happened).
"""
import math


class TrainingDiverged(RuntimeError):
    """Raised by ``fit`` when the divergence guard fires; ``.history`` is the run so far."""

    def __init__(self, message, history=None):
        super().__init__(message)
        self.history = history


class DivergenceGuard:
    """Decides from the list of step losses whether a run has diverged.

    Args:
        factor (float or None): the smoothed loss may grow to at most ``factor`` times its
            starting value; None turns the growth test off (NaN/inf still stop the run).
        window (int): how many steps are averaged for the start and the current value.
    """

    def __init__(self, factor=3.0, window=5):
        if factor is not None and factor <= 1:
            raise ValueError(f"DivergenceGuard: factor must be > 1 (or None), got {factor}")
        if window < 1:
            raise ValueError(f"DivergenceGuard: window must be >= 1, got {window}")
        self.factor = factor
        self.window = int(window)

    def check(self, step_losses):
        """A message saying why the run diverged, or None while it is healthy.

        ``step_losses``: every step loss of the run so far, the newest last.
        """
        if not step_losses:
            return None
        newest = step_losses[-1]
        if not math.isfinite(newest):
            return (f"training diverged: the loss became {newest} at step {len(step_losses)}; "
                    "lower the learning rate (or clip gradients)")
        if self.factor is None or len(step_losses) < self.window:
            return None
        start = sum(step_losses[:self.window]) / self.window
        current = sum(step_losses[-self.window:]) / self.window
        if start > 0 and current > self.factor * start:
            return (f"training diverged: the loss averaged over the last {self.window} steps "
                    f"({current:.4g}) is more than {self.factor:g}x its starting value "
                    f"({start:.4g}) at step {len(step_losses)}; lower the learning rate")
        return None
