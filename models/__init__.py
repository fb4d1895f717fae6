"""Model manifests (YAML), installed as the package data ``wildpose.manifests``."""
