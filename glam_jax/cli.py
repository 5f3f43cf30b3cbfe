"""Command-line entry for the tools: a bad flag or config is one line on stderr and exit status 2, never a
traceback from inside absl or ml_collections, and it is reported before any work starts.

Errors caught: what a config file or a `--config.FIELD=VALUE` override raises while the flags are parsed
(unknown field, wrong type, bad argument), and `configs.ConfigError` raised by a tool's own checks of the
finished config (impossible combinations). Anything else keeps its traceback.
"""
from __future__ import annotations

import sys

from absl import app, flags

from glam_jax import allocator
from glam_jax.configs import ConfigError

PARSE_ERRORS = (flags.Error, ValueError, KeyError, AttributeError, TypeError)


CONFIG_FILE_ERROR = 'Error whilst parsing config file'


def message(e: BaseException) -> str:
  """The innermost message: ml_collections wraps a KeyError in an AttributeError, each quoting the next,
  and re-raises a config file's own error (an unknown task or option) with its traceback as the text, the
  original kept as the context."""
  while e.args and isinstance(e.args[0], BaseException):
    e = e.args[0]
  if CONFIG_FILE_ERROR in str(e):
    inner = e.__context__
    while inner is not None and CONFIG_FILE_ERROR in str(inner):
      inner = inner.__context__
    if inner is not None:
      return message(inner)
  text = str(e.args[0]) if e.args else type(e).__name__
  return f'unknown config field {text}' if isinstance(e, KeyError) else text


def fail(text: str) -> None:
  print(f'error: {text}', file=sys.stderr)
  sys.exit(2)


def _parse(argv):
  try:
    return flags.FLAGS(argv)
  except PARSE_ERRORS as e:
    fail(f'{message(e)}\n(run with --helpfull to see the flags)')


def run(main) -> None:
  """`absl.app.run(main)` with config errors reported in one line, freed memory kept in the process
  (glam_jax/allocator.py)."""
  allocator.keep_freed_memory()
  def checked(argv):
    try:
      return main(argv)
    except ConfigError as e:
      fail(str(e))

  app.run(checked, flags_parser=_parse)
