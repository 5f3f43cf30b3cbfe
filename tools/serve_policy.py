"""Serves a trained policy over websockets (msgpack numpy arrays, openpi's convention).

  python tools/serve_policy.py --workdir=runs/pipeline_lift/policies/glam_o-seed0-HASH [--port=8000 --host=127.0.0.1]

Loads the run's policy (the parameters evaluation uses), compiles its step, and serves until SIGTERM or
Ctrl-C. Clients: `glam_jax.serving.client.PolicyClient('ws://HOST:PORT')`; the metadata sent on connect
lists the observation keys, shapes and dtypes, the action space, the horizon, `execute_steps`, the control
period and the image preprocessing. Binds to 127.0.0.1 unless --host says otherwise.
"""
from __future__ import annotations

from absl import app, flags, logging

from glam_jax import cli
from glam_jax.configs import ConfigError
from glam_jax.serving import policy_api, server

_WORKDIR = flags.DEFINE_string('workdir', None, 'Policy run directory.', required=True)
_HOST = flags.DEFINE_string('host', '127.0.0.1', 'Address to bind (0.0.0.0: every interface).')
_PORT = flags.DEFINE_integer('port', 8000, 'Port (0: any free port, printed).')
_MAX_BYTES = flags.DEFINE_integer('max_message_bytes', server.MAX_MESSAGE_BYTES, 'Largest request answered.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)     # Orbax's INFO lines on restore
  if not 0 <= _PORT.value < 65536 or _MAX_BYTES.value < 1:
    raise ConfigError('--port must be in [0, 65535] and --max_message_bytes positive')
  try:
    policy = policy_api.load_policy(_WORKDIR.value)
  except FileNotFoundError as e:
    raise ConfigError(str(e)) from None
  server.serve(policy, _HOST.value, _PORT.value, _MAX_BYTES.value)


if __name__ == '__main__':
  cli.run(main)
