"""Small JSON documents (manifests, pointers) in the lake, each written whole."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pyarrow.fs as pafs

from core.lake import Lake


def write_json(lake: Lake, path: str, document: Any) -> None:
    """Write `document` at `path` (relative to the lake root); readers see old or new, whole."""
    final = lake.path(path)
    lake.fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
    data = json.dumps(document, indent=2, default=str).encode()
    if lake.is_s3:  # an S3 PUT is atomic
        with lake.fs.open_output_stream(final) as out:
            out.write(data)
        return
    temp = f"{final}.tmp-{uuid.uuid4().hex}"
    with lake.fs.open_output_stream(temp) as out:
        out.write(data)
    lake.fs.move(temp, final)


def read_json(lake: Lake, path: str) -> Any | None:
    """The document at `path`, or None when there is none."""
    full = lake.path(path)
    if lake.fs.get_file_info(full).type == pafs.FileType.NotFound:
        return None
    with lake.fs.open_input_stream(full) as stream:
        return json.loads(stream.read())


def write_bytes(lake: Lake, path: str, data: bytes) -> None:
    full = lake.path(path)
    lake.fs.create_dir(full.rsplit("/", 1)[0], recursive=True)
    with lake.fs.open_output_stream(full) as out:
        out.write(data)


def read_bytes(lake: Lake, path: str) -> bytes:
    with lake.fs.open_input_stream(lake.path(path)) as stream:
        return stream.read()
