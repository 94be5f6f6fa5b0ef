"""Settings come from KAIROS_* variables and are validated at start-up."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from models.pretrained import DEFAULT_MODEL
from service.settings import Settings


def test_environment_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIROS_ALLOWED_ROOTS", "/srv/a:/srv/b")
    monkeypatch.setenv("KAIROS_API_KEY", "")
    monkeypatch.setenv("KAIROS_STAGE1", "video")
    settings = Settings()
    assert [str(p) for p in settings.allowed_roots] == ["/srv/a", "/srv/b"]
    assert (
        settings.api_key is None and settings.read_api_keys == [] and settings.can_read(settings.caller(None))
    )
    assert settings.stage1 == "video" and settings.model == DEFAULT_MODEL
    keyed = Settings(api_key=SecretStr("k"))
    assert (
        keyed.caller("k").role == "write"
        and keyed.caller("K").role is None
        and keyed.caller(None).role is None
    )
    monkeypatch.setenv("KAIROS_READ_API_KEYS", "r1, r2")
    readers = Settings()
    assert [k.get_secret_value() for k in readers.read_api_keys] == ["r1", "r2"] and "r1" not in repr(readers)
    one, two = readers.caller("r1"), readers.caller("r2")
    assert one.role == two.role == "read" and one.bucket != two.bucket and "r1" not in str(one.bucket)
    assert not readers.can_read(readers.caller("r3")) and readers.can_read(two)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KAIROS_MAX_LIMIT", "101"),
        ("KAIROS_MAX_QUERY_CHARS", "0"),
        ("KAIROS_REDIS_URL", "http://x"),
        ("KAIROS_ALLOWED_ROOTS", "relative/dir"),
        ("KAIROS_STAGE1", "clips"),
    ],
)
def test_bad_values_fail_at_start(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(snapshot_rot="/typo")  # type: ignore[call-arg]
