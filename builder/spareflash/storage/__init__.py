"""The storage formats' Python twin (docs/storage-format.md): the test oracle, build-time seeding, dump decoding."""

from __future__ import annotations

from .flash import FlashEmu, PowerCut
from .image import decode_log, decode_storage, read_image, seed_hex, seed_region
from .log import POLICY_OVERWRITE, POLICY_STOP, LogModel
from .store import StorageModel
from .store_v2 import StorageModelV2
from .validate import validate_region

__all__ = ["FlashEmu", "PowerCut", "StorageModel", "StorageModelV2", "LogModel", "POLICY_STOP", "POLICY_OVERWRITE",
           "seed_region", "seed_hex", "read_image", "decode_storage", "decode_log", "validate_region"]
