"""``minicnn.optim``: SGD, Adam, AdamW with PyTorch's update rules, LR schedules, clipping."""
