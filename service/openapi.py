"""`python -m service.openapi`: write the app's OpenAPI document to openapi.yaml (the committed contract)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

CONTRACT = Path(__file__).resolve().parent.parent / "openapi.yaml"


def document() -> dict[str, Any]:
    """The schema of an app built with default settings (the schema does not depend on settings)."""
    from service.app import create_app
    from service.settings import Settings

    return create_app(Settings()).openapi()


def render(schema: dict[str, Any]) -> str:
    return yaml.safe_dump(schema, sort_keys=False, allow_unicode=True, width=110)


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else CONTRACT
    target.write_text(render(document()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
