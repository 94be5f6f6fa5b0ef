"""Stream settings: the stream and language lists a user gives, the user's languages, the hash salt."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.streams import (
    AsrSettings,
    LanguageError,
    OcrSettings,
    StreamSettings,
    StreamSettingsError,
    parse_asr,
    parse_languages,
    parse_streams,
    user_languages,
)


def test_stream_lists() -> None:
    assert parse_streams("ocr, subtitles,ocr") == ("subtitles", "ocr")
    assert parse_streams("asr,subtitles") == ("subtitles", "asr")
    assert parse_streams("") == ()
    with pytest.raises(StreamSettingsError, match="unknown stream 'speech'"):
        parse_streams("subtitles,speech")
    with pytest.raises(StreamSettingsError, match="unknown stream 'captions'"):
        StreamSettings(("captions",))


def test_language_lists_in_any_iso_639_form() -> None:
    assert parse_languages("fr, fre,fra-CA,de,ger,pt_BR,en") == ("fra", "deu", "por", "eng")
    with pytest.raises(LanguageError, match="unknown language 'klingon'"):
        parse_languages("en,klingon")


def test_the_users_languages_as_gettext_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGUAGE", "fr_CA:de")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.setenv("LC_MESSAGES", "")
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    assert user_languages() == ("fra", "deu", "eng")
    monkeypatch.setenv("LANGUAGE", "")
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert user_languages() == ()


def test_only_a_change_from_the_defaults_salts_the_content_hash() -> None:
    assert StreamSettings().salt(None) == ""
    assert StreamSettings().salt("2:fre:srt") == "track=2:fre:srt"
    assert StreamSettings(("subtitles", "ocr")).salt(None) == f"ocr={OcrSettings().fingerprint()}"
    assert StreamSettings(()).salt(None) == "subtitles=off"


def test_the_speech_model_its_stream_and_its_weights_in_the_content_hash() -> None:
    assert parse_asr("whisper: openai/whisper-tiny", ("subtitles", "asr")) == "openai/whisper-tiny"
    assert parse_asr(None, ("subtitles",)) is None
    for value, streams, message in [
        (None, ("asr",), "the asr stream needs a speech model: --asr whisper:DIR"),
        ("whisper:w", ("subtitles",), "--asr whisper:w is given but the asr stream is not read"),
        ("wav2vec:w", ("asr",), "unknown speech model 'wav2vec:w': use whisper:DIR"),
        ("whisper:", ("asr",), "unknown speech model 'whisper:'"),
    ]:
        with pytest.raises(StreamSettingsError, match=message):
            parse_asr(value, streams)
    with pytest.raises(StreamSettingsError, match="the asr stream needs a speech model"):
        StreamSettings(("asr",))
    speech = AsrSettings(Path("/models/whisper"), "ab" * 32)
    assert (
        StreamSettings(("subtitles", "asr"), asr_settings=speech).salt(None)
        == "asr=whisper@" + "ab" * 8 + "/224"
    )
    assert StreamSettings(asr_settings=speech).salt(None) == ""  # not read: not hashed
