"""Synthetic corpus generator: coloured shapes doing actions, spoken subtitle lines, TVR-format queries.

`generate_corpus(out, SynthConfig(videos=..., seed=...), workers=...)` writes

- `out/videos/<vid>.mp4` (h264, 320x240 by default, rendered at 10 fps) and `out/videos/<vid>.srt`;
- `out/annotations/{train,val,test,compositional}.jsonl` (TVR format plus `event`, `split`, `mentions`);
- `out/annotations/heldout_phrasing/{split}.jsonl`: the same queries in words and sentence frames that no
  training phrasing uses (`reserved`, `phrasing`), for evaluation only;
- `out/corpus.json` (config, seed, videos, held-out colour x shape pairs, vocabulary, counts).

Design choices: the background is per video (one of `vocab.BACKGROUNDS`, grey only); distractors are grey
specks and thin lines; every query describes exactly one moment of the whole corpus (see `queries`).
"""

from indexer.synth.corpus import CorpusSummary, build_annotations, format_summary, generate_corpus
from indexer.synth.phrasing import heldout_phrasings
from indexer.synth.plan import SynthConfig, VideoPlan, plan_corpus
from indexer.synth.queries import MomentIndex, find_ambiguous, parse_mentions

__all__ = [
    "CorpusSummary",
    "MomentIndex",
    "SynthConfig",
    "VideoPlan",
    "build_annotations",
    "find_ambiguous",
    "format_summary",
    "generate_corpus",
    "heldout_phrasings",
    "parse_mentions",
    "plan_corpus",
]
