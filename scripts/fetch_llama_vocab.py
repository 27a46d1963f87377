"""Fetches llama.cpp's tokenizer test vocabularies (vocab-only GGUF files
with test texts, `.inp`, and the token ids Hugging Face's tokenizers give
for them, `.out`, made by llama.cpp's convert_hf_to_gguf_update.py) from the
llama-cpp-python sdist on PyPI, checked against PyPI's sha256.

    .venv/bin/python scripts/fetch_llama_vocab.py DIR

scripts/test.sh runs it and points tests/e2e/gguf_tokenizer.rs at DIR.
"""
import hashlib
import io
import pathlib
import re
import sys
import tarfile
import urllib.parse
import urllib.request

VERSION = "0.3.36"
VOCABS = ["qwen2", "llama-bpe", "gpt-2", "llama-spm"]


def main():
    out = pathlib.Path(sys.argv[1])
    # PyPI's simple index (what pip reads): the sdist's URL and sha256.
    index = "https://pypi.org/simple/llama-cpp-python/"
    page = urllib.request.urlopen(index).read().decode()
    href = re.search(rf'href="([^"]*llama_cpp_python-{re.escape(VERSION)}\.tar\.gz#sha256=([0-9a-f]+))"', page)
    if not href:
        sys.exit(f"llama-cpp-python {VERSION}: no sdist in {index}")
    url, sha = urllib.parse.urljoin(index, href.group(1).split("#")[0]), href.group(2)
    data = urllib.request.urlopen(url).read()
    if hashlib.sha256(data).hexdigest() != sha:
        sys.exit("llama-cpp-python sdist: sha256 differs from PyPI's")
    out.mkdir(parents=True, exist_ok=True)
    prefix = f"llama_cpp_python-{VERSION}/vendor/llama.cpp/models/"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for v in VOCABS:
            for ext in ["", ".inp", ".out"]:
                name = f"ggml-vocab-{v}.gguf{ext}"
                (out / name).write_bytes(tar.extractfile(prefix + name).read())
    print(f"llama.cpp test vocabularies in {out}")


if __name__ == "__main__":
    main()
