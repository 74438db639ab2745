"""Read an offline W&B run file (`run-<id>.wandb`) back without syncing it.

The file is a LevelDB-style log: a 7-byte header (":W&B", magic, version), then 32 KiB blocks
of chunks, each `crc32 (4) | length (2, LE) | type (1) | data`; chunks of types FIRST, MIDDLE,
LAST join into one record, FULL is a whole one. Each record is a `wandb_internal_pb2.Record`.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

HEADER = 7
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: str | Path) -> list[Any]:
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a W&B run file (header {data[:4]!r})")
    out, pending, pos = [], b"", HEADER
    while pos + 7 <= len(data):
        room = BLOCK - pos % BLOCK
        if room < 7:  # block trailer too small for a chunk header: skip to the next block
            pos += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def run_summary(path: str | Path) -> dict[str, Any]:
    """The run's identity (group, job type, name, config), its final summary values and the
    artifacts it logged (name, type, files)."""
    info: dict[str, Any] = {"config": {}, "summary": {}, "artifacts": []}
    for rec in records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            info.update(group=rec.run.run_group, job_type=rec.run.job_type,
                        name=rec.run.display_name, tags=list(rec.run.tags))
            for item in rec.run.config.update:
                info["config"][item.key] = json.loads(item.value_json)
        elif kind == "config":
            for item in rec.config.update:
                info["config"][item.key] = json.loads(item.value_json)
        elif kind == "summary":
            for item in rec.summary.update:
                key = item.key or "/".join(item.nested_key)
                info["summary"][key] = json.loads(item.value_json)
        elif kind == "artifact":
            info["artifacts"].append({
                "name": rec.artifact.name, "type": rec.artifact.type,
                "files": sorted(e.path for e in rec.artifact.manifest.contents)})
        elif kind == "exit":
            info["exit_code"] = rec.exit.exit_code
    return info
