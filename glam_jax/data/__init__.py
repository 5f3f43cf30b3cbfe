"""Datasets on disk (ArrayRecord shards + meta.json), their validation, and the Grain input pipeline."""
from glam_jax.data.reader import Dataset, open_dataset
from glam_jax.data.schema import FORMAT_VERSION, DatasetError
from glam_jax.data.writer import DatasetWriter
