"""Run presets (YAML) for ``--pipeline NAME``, installed as ``wildpose.presets``."""
