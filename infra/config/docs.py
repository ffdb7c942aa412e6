"""Pulumi.yaml's ``config:`` block and the docs' config tables, generated from
``infra.config.keys.KEYS`` (``python -m infra.config --write`` rewrites them)."""

from __future__ import annotations

import json
from typing import Any

from infra.config.keys import KEYS


def pulumi_yaml_config() -> dict[str, dict[str, Any]]:
    """The ``config:`` block of Pulumi.yaml, generated from ``KEYS``."""
    block: dict[str, dict[str, Any]] = {}
    for key in KEYS:
        entry: dict[str, Any] = {"description": key.description}
        # Pulumi types string/integer/boolean/array only: numbers and objects untyped.
        if key.type not in ("number", "object"):
            entry = {"type": key.type, **entry}
        if key.type == "array":
            entry["items"] = {"type": "string"}
        if key.default is not None:
            entry["default"] = key.default
        block[key.name] = entry
    return block


def markdown_table() -> str:
    """The config table of the docs, generated from ``KEYS``."""
    lines = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for key in KEYS:
        if key.default is None:
            default = "(required)"
        elif key.default == "":
            default = "(empty)"
        else:
            default = "`" + json.dumps(key.default).strip('"') + "`"
        lines.append(f"| `{key.name}` | {key.type} | {default} | {key.description} |")
    return "\n".join(lines) + "\n"


PULUMI_YAML_HEAD = """\
# Pulumi project: scheduled, cost-optimal batch inference for Rekognition Custom Labels.
# The `config:` block is generated from infra/config/keys.py KEYS, the single declaration
# (tests/infra/test_config.py fails when they differ). Regenerate with:
#   .venv/bin/python -m infra.config --write
name: rekognition-batch
description: Scheduled, cost-optimal batch inference for Amazon Rekognition Custom Labels
runtime:
  name: python
  options:
    toolchain: pip
    virtualenv: .venv
"""


def render_pulumi_yaml() -> str:
    """The whole Pulumi.yaml (PyYAML is a dependency of the pulumi SDK)."""
    import yaml

    body = yaml.safe_dump({"config": pulumi_yaml_config()}, sort_keys=False, width=100)
    return PULUMI_YAML_HEAD + body


DOCS_WITH_TABLE = ("README.md", "docs/infra.md")


def write_generated(root: str = ".") -> list[str]:
    """Rewrite Pulumi.yaml and the config tables of the docs from ``KEYS``."""
    from pathlib import Path

    changed = []
    targets = {"Pulumi.yaml": render_pulumi_yaml()}
    for doc in DOCS_WITH_TABLE:
        lines = (Path(root) / doc).read_text().splitlines(keepends=True)
        start = next(i for i, line in enumerate(lines) if line.startswith("| key | type | default"))
        end = start
        while end < len(lines) and lines[end].startswith("|"):
            end += 1
        targets[doc] = "".join([*lines[:start], markdown_table(), *lines[end:]])
    for name, text in targets.items():
        path = Path(root) / name
        if path.read_text() != text:
            path.write_text(text)
            changed.append(name)
    return changed
