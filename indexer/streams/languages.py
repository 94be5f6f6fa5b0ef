"""Language tags: the user's language list, and matching tags written in different ISO 639 forms."""

from __future__ import annotations

import os
import re

import pycountry

from indexer.streams.settings import StreamSettingsError

_PRIMARY = re.compile(r"[A-Za-z]{2,3}")
_LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")


class LanguageError(StreamSettingsError):
    """A language tag no ISO 639 code matches."""


def language_key(tag: str | None) -> str | None:
    """The ISO 639-3 code of a tag ("fr", "fre", "fra", "fr-CA" -> "fra"); None where nothing matches."""
    primary = re.split(r"[-_.@]", tag.strip(), maxsplit=1)[0].lower() if tag else ""
    if not _PRIMARY.fullmatch(primary):
        return None
    if len(primary) == 2:
        found = pycountry.languages.get(alpha_2=primary)
    else:
        found = pycountry.languages.get(alpha_3=primary) or pycountry.languages.get(bibliographic=primary)
    return str(found.alpha_3) if found is not None else None


def parse_languages(value: str) -> tuple[str, ...]:
    """A comma-separated preference list ("en,fr") as ISO 639-3 codes, in order; unknown tags are an error."""
    keys: list[str] = []
    for tag in (part.strip() for part in value.split(",")):
        if not tag:
            continue
        key = language_key(tag)
        if key is None:
            raise LanguageError(f"unknown language {tag!r} (use ISO 639 codes such as en, fr, deu)")
        if key not in keys:
            keys.append(key)
    return tuple(keys)


def user_languages() -> tuple[str, ...]:
    """The user's languages from the environment as gettext reads it: $LANGUAGE, else the locale."""
    tags = os.environ.get("LANGUAGE", "").split(":")
    tags += [next((os.environ[v] for v in _LOCALE_VARIABLES if os.environ.get(v)), "")]
    keys: list[str] = []
    for tag in tags:
        key = language_key(tag) if tag.split(".")[0] not in ("C", "POSIX") else None
        if key is not None and key not in keys:
            keys.append(key)
    return tuple(keys)
