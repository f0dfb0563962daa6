"""Writes a tiny word-level tokenizer (words w0..w999) to a directory, so inference-perf can size prompts without
downloading one: `python tests/bench/make_tokenizer.py DIR` (runs in .venv-bench, which has tokenizers and
transformers). Generated here, nothing downloaded."""

from __future__ import annotations

import sys

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

VOCAB = 1000


def main(directory: str) -> None:
    vocab = {"[UNK]": 0, **{f"w{i}": i + 1 for i in range(VOCAB)}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(directory)


if __name__ == "__main__":
    main(sys.argv[1])
