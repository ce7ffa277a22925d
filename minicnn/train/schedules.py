"""Learning-rate recipes from the course: the linear scaling rule and warm-up + cosine.

    lr = scale_lr(0.1, batch_size=64)                       # 0.1 * 64 / 256 = 0.025
    sched = warmup_cosine(optimizer, warmup_epochs=1, total_epochs=8)
    sched = warmup_cosine(optimizer, 1, 8, steps_per_epoch=len(loader))  # smooth, per step
"""
from ..optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR


def scale_lr(base_lr, batch_size, base_batch=256):
    """The linear scaling rule (Goyal et al. 2017): lr = base_lr * batch_size / base_batch.

    A batch k times larger averages the gradient over k times more samples, so k times
    fewer steps are taken per epoch; a k times larger step keeps the distance travelled.
    """
    if batch_size <= 0 or base_batch <= 0:
        raise ValueError(f"scale_lr: batch sizes must be positive, got batch_size={batch_size}, "
                         f"base_batch={base_batch}")
    return base_lr * batch_size / base_batch


def warmup_cosine(optimizer, warmup_epochs, total_epochs, start_factor=0.1, eta_min=0.0,
                  steps_per_epoch=None):
    """Linear warm-up then cosine decay, built from LinearLR + CosineAnnealingLR + SequentialLR.

    lr(t) = base_lr * (start_factor + (1 - start_factor) * t / W)             for t < W
    lr(t) = eta_min + (base_lr - eta_min) * (1 + cos(pi * (t - W) / (T - W))) / 2   for t >= W

    with W = warmup_epochs and T = total_epochs, counted in epochs -- or, when
    ``steps_per_epoch`` is given, in optimizer steps (W and T are multiplied by it) and the
    returned scheduler has ``per_step = True`` so that ``fit`` steps it after every batch.
    ``warmup_epochs=0`` gives the plain cosine.
    """
    if not 0 <= warmup_epochs < total_epochs:
        raise ValueError(f"warmup_cosine: need 0 <= warmup_epochs < total_epochs, got "
                         f"{warmup_epochs} and {total_epochs}")
    scale = 1 if steps_per_epoch is None else int(steps_per_epoch)
    warmup, total = int(round(warmup_epochs * scale)), int(round(total_epochs * scale))
    cosine = CosineAnnealingLR(optimizer, T_max=total - warmup, eta_min=eta_min)
    if warmup == 0:
        scheduler = cosine
    else:
        linear = LinearLR(optimizer, start_factor=start_factor, end_factor=1.0, total_iters=warmup)
        scheduler = SequentialLR(optimizer, [linear, cosine], milestones=[warmup])
    scheduler.per_step = steps_per_epoch is not None
    return scheduler
