"""``minicnn.train``: the training loop and the techniques of a CNN course around it.

    from minicnn.train import fit, evaluate, Checkpoint, EarlyStopping
    history = fit(model, train_loader, val_loader, optimizer, epochs=8,
                  callbacks=[Checkpoint("runs/lenet"), EarlyStopping("val_loss", patience=3)])

    history.py         History: per-step and per-epoch measurements, JSON
    fit.py             fit, evaluate, predict
    divergence.py      the divergence guard and TrainingDiverged
    callbacks.py       Callback, FitState, EarlyStopping, LambdaCallback
    checkpoint.py      save_checkpoint / load_checkpoint (exact resume), Checkpoint callback
    ema.py             ModelEMA: moving average of the weights
    schedules.py       scale_lr (linear scaling rule), warmup_cosine
    search.py          random hyper-parameter search (coarse, then fine)
    ensemble.py        prediction averaging, majority vote, snapshot ensembles, weight averaging
    transfer.py        freeze / unfreeze, replace_head, per-prefix learning rates
    monitor.py         activation statistics, update/weight ratios
    gradcheck_suite.py run_gradchecks: a finite-difference check of every differentiable op
    experiment.py      a config dict -> data loaders, model, optimizer, schedule (the CLI's defaults)
    run.py             whole runs for the `minicnn` command: train/resume into a folder, evaluate,
                       search; compute_threads (one thread per pool on small machines)
"""
from .history import History  # noqa: F401
from .divergence import TrainingDiverged, DivergenceGuard  # noqa: F401
from .callbacks import Callback, FitState, EarlyStopping, LambdaCallback  # noqa: F401
from .fit import fit, evaluate, predict, count_correct  # noqa: F401
from .checkpoint import (save_checkpoint, load_checkpoint, read_checkpoint,  # noqa: F401
                         Checkpoint, CheckpointError)
from .ema import ModelEMA  # noqa: F401
from .schedules import scale_lr, warmup_cosine  # noqa: F401
from .transfer import freeze, unfreeze, trainable_parameters, replace_head, param_groups  # noqa: F401
from .monitor import ActivationMonitor, UpdateRatioMonitor, activation_stats, tensor_stats  # noqa: F401
from .ensemble import (ensemble_probabilities, majority_vote, average_parameters,  # noqa: F401
                       SnapshotEnsemble, cyclic_cosine)
from .search import (random_search, LogUniform, Uniform, Choice, SearchResult,  # noqa: F401
                     RangeEdgeWarning)
from .gradcheck_suite import run_gradchecks, format_gradcheck_table  # noqa: F401
from .run import compute_threads  # noqa: F401
