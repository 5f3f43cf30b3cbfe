"""The LeRobotDataset layout (v2.x and v3.0, as huggingface/lerobot writes it) and the names glam_jax fields
take there, shared by the importer and the exporter so that an export imports back to the same fields.

v2.x: one parquet and one MP4 per episode, `meta/episodes.jsonl` and `meta/tasks.jsonl`.
v3.0: parquet and MP4 files holding many episodes, `meta/episodes/chunk-XXX/file-XXX.parquet` with each
episode's file indices, row range and video time range, `meta/tasks.parquet`.
Both: `meta/info.json` (`codebase_version`, `fps`, `features`, `data_path` / `video_path` templates).
"""
from __future__ import annotations

V2_VERSIONS = ('v2.0', 'v2.1')
V3_VERSION = 'v3.0'

INFO = 'meta/info.json'
STATS = 'meta/stats.json'
V2_EPISODES = 'meta/episodes.jsonl'
V2_TASKS = 'meta/tasks.jsonl'
V3_EPISODES_DIR = 'meta/episodes'
V3_TASKS = 'meta/tasks.parquet'
GLAM_META = 'meta/glam_jax.json'      # what an export keeps of meta.json; LeRobot ignores the file

V2_DATA_PATH = 'data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet'
V2_VIDEO_PATH = 'videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4'
V3_DATA_PATH = 'data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
V3_VIDEO_PATH = 'videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4'
V3_EPISODES_PATH = 'meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet'
CHUNKS_SIZE = 1000                    # files per chunk folder (v2.x: episodes per chunk folder)
DATA_FILE_MB, VIDEO_FILE_MB = 100, 200

PANDAS_INDEX = '__index_level_0__'    # an unnamed pandas index as parquet stores it (meta/tasks.parquet's tasks)
INDEX_FEATURES = ('timestamp', 'frame_index', 'episode_index', 'index', 'task_index')

# glam_jax field -> LeRobot feature. Images: `{view}/rgb` is a video, `{view}/mask` a PNG image column (lossless, RGB
# like every LeRobot image), `{view}/depth` a float32 (H, W) array column.
FRAME_PREFIX = {'rgb': 'observation.images.', 'mask': 'observation.masks.', 'depth': 'observation.depth.'}
LOWDIM_FEATURE = {'ee_pose': 'observation.ee_pose', 'gripper': 'observation.gripper',
                  'joint_pos': 'observation.joint_pos', 'joint_target': 'observation.joint_target',
                  'action': 'action'}
STATE = 'observation.state'           # what LeRobot policies read: joints + gripper, or pose + gripper


def frame_feature(field: str) -> str:
  """`{view}/{kind}` -> its LeRobot feature name."""
  view, _, kind = field.rpartition('/')
  if kind not in FRAME_PREFIX or not view:
    raise ValueError(f'frame field {field!r} has no LeRobot name; expected VIEW/rgb, VIEW/mask or VIEW/depth')
  return FRAME_PREFIX[kind] + view


def next_file(chunk: int, file: int) -> tuple[int, int]:
  """The (chunk, file) indices after these: CHUNKS_SIZE files per chunk folder."""
  return (chunk + 1, 0) if file + 1 >= CHUNKS_SIZE else (chunk, file + 1)
