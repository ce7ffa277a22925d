"""``minicnn.data``: datasets, the DataLoader, transforms, and the real and offline loaders."""
