"""Docker files, checked without a Docker engine: services, ports, env names, healthchecks, paths."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
ENV_NAMES = {f"KAIROS_{name.upper()}" for name in Settings.model_fields}


def compose() -> dict[str, Any]:
    data = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_services_ports_env_and_volumes() -> None:
    data = compose()
    services = data["services"]
    assert set(services) == {"api", "worker", "redis"}
    assert services["api"]["ports"] == ["${KAIROS_PORT:-8000}:8000"]
    assert services["api"]["command"][:2] == ["kairos", "serve"]
    assert services["worker"]["command"] == ["kairos", "worker"]
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert set(env) <= ENV_NAMES, set(env) - ENV_NAMES
        assert env["KAIROS_REDIS_URL"].startswith("redis://redis:")
        assert env["KAIROS_API_KEY"].startswith("${KAIROS_API_KEY:?"), "compose must refuse to run keyless"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        build = services[name]["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).is_file()
    assert any(v.startswith("redis:") for v in services["redis"]["volumes"])
    assert set(data["volumes"]) >= {"redis", "index"}
    Settings(
        **{
            k.removeprefix("KAIROS_").lower(): v
            for k, v in services["api"]["environment"].items()
            if "${" not in str(v)
        }
    )


def test_dockerfiles_are_multi_stage_non_root_with_healthchecks() -> None:
    for name, base in (("Dockerfile", "python:3.11"), ("Dockerfile.gpu", "nvidia/cuda:")):
        text = (DOCKER / name).read_text()
        stages = re.findall(r"^FROM (\S+)", text, flags=re.M)
        assert len(stages) >= 2 and all(s.startswith(base) for s in stages), name
        assert re.search(r"^USER (?!root)\w+", text, flags=re.M), name
        assert "HEALTHCHECK" in text and "/healthz" in text, name
        for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.M):
            for path in source.split():
                assert (REPO / path).exists(), f"{name} copies {path}, which does not exist"
        env = set(re.findall(r"\b(KAIROS_\w+)=", text))
        assert env <= ENV_NAMES, env - ENV_NAMES
    assert "faiss-gpu-cu12" in (DOCKER / "Dockerfile.gpu").read_text()


def test_the_cpu_image_takes_torch_from_the_cpu_index_and_a_small_context() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text
    assert '--index-url "$TORCH_INDEX_URL" "torch==2.13.0"' in text
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".venv", ".git", "benchmarks/.work", "data", "**/__pycache__", ".mypy_cache"} <= ignored
    copied = {p for line in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.M) for p in line.split()}
    assert not copied & ignored, copied & ignored
