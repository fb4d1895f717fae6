"""The demo: a tiny CLAMP trained on wildpose.synthetic's animals, its data and its clips."""
