"""A copy of the repo's configs/ with one YAML file changed, for tests that need other knobs."""

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO_CONFIGS = Path(__file__).parents[2] / "configs"


def edited_configs(folder: Path, name: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    """Copy configs/ into `folder` and apply `edit` to the parsed configs/NAME.yaml."""
    shutil.copytree(REPO_CONFIGS, folder, dirs_exist_ok=True)
    path = folder / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data))
    return folder
