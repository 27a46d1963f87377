//! A GGUF file's own tokenizer (`tokenizer.ggml.*`, see
//! `src/tokenize/gguf_vocab.rs`) against the real thing: llama.cpp's test
//! vocabularies of Qwen2, Llama 3 (`llama-bpe`), GPT-2 and the SentencePiece
//! Llama (`llama-spm`: Llama 2, Mistral 7B, TinyLlama), each with test
//! texts and the token ids Hugging Face's tokenizers give for them
//! (recorded by llama.cpp's `convert_hf_to_gguf_update.py`). weir must give
//! the same ids for every text.
//!
//! The files come from the llama-cpp-python sdist on PyPI:
//! `scripts/test.sh` fetches them (`scripts/fetch_llama_vocab.py`) and sets
//! `WEIR_LLAMA_VOCAB_DIR`. Without it this test fails, unless
//! `WEIR_TEST_SKIP_VOCAB=1` says to skip it knowingly.

use std::sync::Arc;

use weir::model::gguf::GgufFile;
use weir::tokenize::IncrementalDetokenizer;
use weir::tokenize::Tokenizer;

#[test]
fn gguf_tokenizers_encode_as_hugging_face_does() {
    let Ok(dir) = std::env::var("WEIR_LLAMA_VOCAB_DIR") else {
        if std::env::var("WEIR_TEST_SKIP_VOCAB").as_deref() == Ok("1") {
            eprintln!("SKIPPED: WEIR_TEST_SKIP_VOCAB=1 (llama.cpp's test vocabularies)");
            return;
        }
        panic!(
            "set WEIR_LLAMA_VOCAB_DIR (scripts/fetch_llama_vocab.py DIR fetches llama.cpp's \
             test vocabularies; scripts/test.sh does it) or WEIR_TEST_SKIP_VOCAB=1"
        );
    };
    let dir = std::path::Path::new(&dir);
    for vocab in ["qwen2", "llama-bpe", "gpt-2", "llama-spm"] {
        let path = dir.join(format!("ggml-vocab-{vocab}.gguf"));
        let g = GgufFile::open(&path).unwrap();
        let tok = Arc::new(Tokenizer::from_gguf(&g).unwrap_or_else(|e| panic!("{vocab}: {e}")));
        let inp = std::fs::read_to_string(path.with_extension("gguf.inp")).unwrap();
        let out = std::fs::read_to_string(path.with_extension("gguf.out")).unwrap();
        // Each text is followed by the separator (an empty text included).
        let mut texts: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
        if texts.last() == Some(&"") {
            texts.pop();
        }
        let want: Vec<Vec<u32>> = out
            .lines()
            .map(|l| l.split_whitespace().map(|t| t.parse().unwrap()).collect())
            .collect();
        assert_eq!(texts.len(), want.len(), "{vocab}: inputs vs outputs");
        assert!(texts.len() > 30, "{vocab}: {} texts", texts.len());
        for (text, want) in texts.iter().zip(&want) {
            let got = tok.encode(text, false).unwrap();
            assert_eq!(&got, want, "{vocab}: {text:?}");
            assert_eq!(tok.decode(&got, false).unwrap(), *text, "{vocab}: decode");
            // Streamed one id at a time, the deltas add up to the text.
            let mut d = IncrementalDetokenizer::new(tok.clone(), false);
            let mut streamed = String::new();
            for &id in &got {
                streamed += &d.push(id).unwrap();
            }
            streamed += &d.flush().unwrap();
            assert_eq!(streamed, *text, "{vocab}: streamed decode");
        }
        // A prompt starts with bos where llama.cpp adds it (the file's
        // `add_bos_token`, else its default for the model: Llama 3 and
        // SentencePiece add it, Qwen2 and GPT-2 do not).
        let bos = matches!(vocab, "llama-bpe" | "llama-spm");
        let with = tok.encode("Hello world", true).unwrap();
        let without = tok.encode("Hello world", false).unwrap();
        assert_eq!(
            with.len() == without.len() + 1,
            bos,
            "{vocab}: bos {with:?}"
        );
        assert!(with.ends_with(&without), "{vocab}: {with:?}");
        // Special tokens in text are the tokens themselves.
        if vocab == "llama-spm" {
            assert_eq!(tok.encode("<s>Hi</s>", false).unwrap()[..1], [1]);
            assert!(tok.encode("<s>Hi</s>", false).unwrap().ends_with(&[2]));
        }
    }
}
