"""Training: datasets, augmentation, targets, losses and the training loop."""
