"""CLAMP pose estimation: model, heatmap codec, crops, predictor and checkpoints."""
