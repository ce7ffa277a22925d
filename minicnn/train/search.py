"""Random hyper-parameter search, coarse to fine (CS231n's recipe).

Random search beats a grid: with the same number of trials every trial tries a new value of
every hyper-parameter, so the one that matters gets many distinct values. Rates and weight
decays are drawn log-uniformly (1e-4 is as far from 1e-3 as 1e-3 from 1e-2)::

    space = {"lr": LogUniform(1e-4, 1e-1), "weight_decay": LogUniform(1e-6, 1e-2)}

    def train_fn(params, epochs):                 # -> validation accuracy (or a dict)
        model = lenet5(); opt = AdamW(model.parameters(), **params)
        history = fit(model, train_loader, val_loader, opt, epochs=epochs, progress=False)
        return {"val_acc": history.val_acc[-1], "val_loss": history.val_loss[-1]}

    result = random_search(train_fn, space, trials=8, seed=0)
    print(result.table())                         # sorted by validation accuracy
    result.best                                   # the best row: {"lr": ..., "val_acc": ...}

Stage 1 (coarse): ``trials`` short runs (``coarse_epochs``) over the whole ranges.
Stage 2 (fine): ``fine_trials`` longer runs (``fine_epochs``) in ranges narrowed around the
best coarse values (``narrow_fraction`` of the original width, in log space for LogUniform).
A best value within the outer 10% of its original range triggers a ``RangeEdgeWarning``:
the optimum may lie outside the range searched, so widen it.
A trial whose training diverges (``TrainingDiverged``) is kept with status "diverged".
"""
import math
import warnings

import numpy as np

from .divergence import TrainingDiverged

EDGE_FRACTION = 0.1


class RangeEdgeWarning(UserWarning):
    """The best value of a hyper-parameter lies at the edge of the range searched."""


class Uniform:
    """Values drawn uniformly from [low, high]."""

    def __init__(self, low, high):
        if not low < high:
            raise ValueError(f"{type(self).__name__}: need low < high, got {low} and {high}")
        self.low, self.high = float(low), float(high)

    def _to_unit(self, value):  # the coordinate in which sampling is uniform
        return value

    def _from_unit(self, coordinate):
        return coordinate

    def sample(self, rng):
        low, high = self._to_unit(self.low), self._to_unit(self.high)
        return float(self._from_unit(rng.uniform(low, high)))

    def position(self, value):
        """Where ``value`` sits in the range: 0 at ``low``, 1 at ``high``."""
        low, high = self._to_unit(self.low), self._to_unit(self.high)
        return (self._to_unit(value) - low) / (high - low)

    def narrowed(self, center, fraction):
        """The same kind of range, ``fraction`` as wide, centred on ``center``, kept inside this one."""
        low, high = self._to_unit(self.low), self._to_unit(self.high)
        half_width = (high - low) * fraction / 2
        middle = min(max(self._to_unit(center), low + half_width), high - half_width)
        return type(self)(self._from_unit(middle - half_width), self._from_unit(middle + half_width))

    def __repr__(self):
        return f"{type(self).__name__}({self.low:g}, {self.high:g})"


class LogUniform(Uniform):
    """Values whose logarithm is uniform on [log low, log high] (low > 0)."""

    def __init__(self, low, high):
        if low <= 0:
            raise ValueError(f"LogUniform: low must be > 0, got {low}")
        super().__init__(low, high)

    def _to_unit(self, value):
        return math.log(value)

    def _from_unit(self, coordinate):
        return math.exp(coordinate)


class Choice:
    """One of a list of values, each equally likely (no edges, not narrowed)."""

    def __init__(self, values):
        self.values = list(values)
        if not self.values:
            raise ValueError("Choice: needs at least one value")

    def sample(self, rng):
        return self.values[int(rng.integers(len(self.values)))]

    def narrowed(self, center, fraction):
        return Choice([center])

    def __repr__(self):
        return f"Choice({self.values})"


def _score(row, metric):
    """Sort key: finite values first, larger first."""
    value = row.get(metric, math.nan)
    finite = value is not None and math.isfinite(value)
    return (0 if finite else 1, -value if finite else 0.0)


def _run_trial(train_fn, params, epochs, stage, index, metric):
    row = {"stage": stage, "trial": index, **params, "epochs": epochs}
    try:
        outcome = train_fn(dict(params), epochs)
    except TrainingDiverged:
        row.update({metric: math.nan, "status": "diverged"})
        return row
    if isinstance(outcome, dict):
        if metric not in outcome:
            raise ValueError(f"random_search: train_fn returned {sorted(outcome)}, without {metric!r}")
        row.update({key: float(value) for key, value in outcome.items()})
    else:
        row[metric] = float(outcome)
    row["status"] = "ok"
    return row


def random_search(train_fn, space, trials=8, seed=0, fine_trials=None, coarse_epochs=1,
                  fine_epochs=3, narrow_fraction=0.25, metric="val_acc", log=None):
    """Coarse-to-fine random search; see the module docstring.

    Args:
        train_fn: ``train_fn(params: dict, epochs: int)`` -> the metric (float, higher is
            better) or a dict containing it (other entries are kept in the table).
        space: ``{name: LogUniform | Uniform | Choice}``.
        trials (int): coarse trials; fine_trials (int): fine trials (default trials // 2;
            0 skips the fine stage).
        seed (int): seeds the sampling (its own generator: minicnn's is left alone).
        log: a function called with a line after every trial (e.g. ``print``).

    Returns:
        SearchResult (``rows`` sorted best first, ``best``, ``table()``, ``warnings``).
    """
    if trials < 1:
        raise ValueError(f"random_search: trials must be >= 1, got {trials}")
    if not space:
        raise ValueError("random_search: the search space is empty")
    fine_trials = trials // 2 if fine_trials is None else int(fine_trials)
    rng = np.random.default_rng(seed)
    rows = []

    def run(stage_space, count, epochs, stage):
        for index in range(count):
            params = {name: dist.sample(rng) for name, dist in stage_space.items()}
            row = _run_trial(train_fn, params, epochs, stage, index, metric)
            rows.append(row)
            if log is not None:
                log(f"{stage} trial {index + 1}/{count}: " + _format_params(params)
                    + f" -> {metric} {row[metric]:.4f} ({row['status']})")

    run(space, trials, coarse_epochs, "coarse")
    best_coarse = sorted(rows, key=lambda row: _score(row, metric))[0]
    if fine_trials > 0 and best_coarse["status"] == "ok":
        fine_space = {name: dist.narrowed(best_coarse[name], narrow_fraction)
                      for name, dist in space.items()}
        run(fine_space, fine_trials, fine_epochs, "fine")
    rows.sort(key=lambda row: _score(row, metric))
    messages = edge_warnings(rows[0], space)
    for message in messages:
        warnings.warn(message, RangeEdgeWarning, stacklevel=2)
    return SearchResult(rows, list(space), metric, messages)


def edge_warnings(best_row, space, edge=EDGE_FRACTION):
    """Messages for each numeric hyper-parameter whose best value lies within ``edge`` of
    either end of its range (measured in log space for LogUniform)."""
    messages = []
    if best_row.get("status") != "ok":
        return messages
    for name, dist in space.items():
        if not isinstance(dist, Uniform):
            continue
        position = dist.position(best_row[name])
        if position < edge or position > 1 - edge:
            side = "lower" if position < edge else "upper"
            messages.append(f"the best {name}={best_row[name]:.3g} lies at the {side} edge of its "
                            f"range [{dist.low:g}, {dist.high:g}] (position {position:.2f}); "
                            f"the optimum may be outside: widen the range")
    return messages


def _format_params(params):
    return ", ".join(f"{name}={_format_value(value)}" for name, value in params.items())


def _format_value(value):
    if isinstance(value, float):
        return f"{value:.3g}" if math.isfinite(value) else str(value)
    return str(value)


class SearchResult:
    """The trials of a search, best first (``rows``: list of dicts)."""

    def __init__(self, rows, param_names, metric, warnings_):
        self.rows = rows
        self.param_names = param_names
        self.metric = metric
        self.warnings = warnings_

    @property
    def best(self):
        return self.rows[0]

    def table(self):
        """A printable table: rank, stage, each hyper-parameter, epochs, metrics, status."""
        extra = [key for key in self.rows[0] if key not in ("stage", "trial", "epochs", "status")
                 and key not in self.param_names and key != self.metric]
        columns = ["rank", "stage", *self.param_names, "epochs", self.metric, *extra, "status"]
        lines = [[str(i + 1)] + [_format_value(row.get(c, "")) for c in columns[1:]]
                 for i, row in enumerate(self.rows)]
        widths = [max(len(c), *(len(line[j]) for line in lines)) for j, c in enumerate(columns)]
        header = "  ".join(c.rjust(w) for c, w in zip(columns, widths))
        body = ["  ".join(v.rjust(w) for v, w in zip(line, widths)) for line in lines]
        return "\n".join([header, "-" * len(header), *body])

    def __str__(self):
        return self.table()

    def __repr__(self):
        return f"SearchResult({len(self.rows)} trials, best {self.metric}={self.best[self.metric]:.4f})"
