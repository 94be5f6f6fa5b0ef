"""Kairos indexer: media decoding, subtitles, the synthetic corpus, batch indexing and snapshots."""
