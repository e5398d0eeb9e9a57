// plm/text/vocab_builder.hpp - make byte-level BPE vocabularies and write them into GGUF files.
//
// Test models need a tokenizer too. default_byte_vocab() trains a small BPE
// vocabulary on an embedded English text (so synthetic models tokenize English
// into multi-byte tokens, like real ones); vocab_from_hf_tokenizer_json() reads
// a Hugging Face tokenizer.json (e.g. Qwen's, which PLM shares) so tests can
// build a GGUF with the real 151k-token vocabulary; write_vocab() stores either
// under the tokenizer.ggml.* keys exactly as llama.cpp's converter does for PLM.
//
// Layout of every vocabulary made here, like Qwen/PLM's:
//   ids 0..255   the 256 byte tokens in GPT-2 bytes_to_unicode order ('!' = 0, 'Ġ' = 220)
//   then         merged tokens, in merge order
//   then         <|endoftext|>, <|im_start|>, <|im_end|> as control tokens
//   bos = pad = <|endoftext|>, eos = <|im_end|>, add_bos = false, ChatML template.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plm/core/result.hpp"
#include "plm/gguf/writer.hpp"
#include "plm/text/chat.hpp"
#include "plm/text/detail/json.hpp"
#include "plm/text/pretokenize.hpp"
#include "plm/text/unicode.hpp"
#include "plm/text/vocab_spec.hpp"

namespace plm::text {

/// PLM's three special tokens, in id order after the BPE tokens.
inline constexpr const char* special_token_texts[3] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

/// The exact qwen2 pre-tokenizer regex, as Hugging Face tokenizer.json files spell it.
inline constexpr const char* qwen2_split_regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+";

namespace detail {

// Training text for default_byte_vocab(): ordinary English prose, written for
// plm, so the learned merges are the common English ones (" the", "ing", ...).
inline constexpr const char* bpe_training_text =
    "The robot sorted the screws by size, then by length, and then by the shape of their heads. It was a small "
    "machine with two arms and a camera, and it worked in the corner of a busy workshop where people came and went "
    "all day. Nobody had told it to be careful, but it was careful anyway, because the screws were small and the "
    "table was crowded.\n\n"
    "In the morning the workshop was quiet. The light came in through the tall windows and fell on the benches, the "
    "tools and the boxes of parts. The robot started its work before anyone else arrived. It picked up one screw at "
    "a time, turned it under the camera, measured it, and put it into one of the many small drawers along the wall. "
    "There were drawers for short screws and long screws, for thin ones and thick ones, for screws with flat heads "
    "and screws with round heads.\n\n"
    "When the first people came in, they said good morning to each other and started the coffee machine. Some of "
    "them talked about the weather, some about the work they had to finish that week, and some about nothing in "
    "particular. The robot listened, because listening was part of its job: when someone asked for a part, it "
    "should know where the part was and bring it quickly.\n\n"
    "\"Can you find me four long screws with round heads?\" asked the woman at the nearest bench. She was building "
    "a frame for a new machine, and she needed the screws to hold the two sides together. The robot opened the "
    "right drawer, counted four screws, and placed them on her bench in a neat line. She thanked it and went back "
    "to her work.\n\n"
    "Later in the day, a man came in with a heavy box. He put the box on the floor and opened it. Inside there were "
    "hundreds of screws, nuts and washers, all mixed together. He had found them in an old storage room, and he "
    "thought that the robot might like something to do. The robot did not like or dislike things, but it "
    "understood the task. It began to sort the new parts into the drawers, one by one, while the people around it "
    "went on with their own work.\n\n"
    "Sorting is a simple task, but it is not an easy one. Two screws can look almost the same and still be "
    "different. One might be a little longer, or its thread might be a little finer. The robot had to measure each "
    "part with care and compare it with the parts that were already in the drawers. When it was not sure, it put "
    "the part aside and waited until someone could look at it. This did not happen often, but it did happen, and "
    "the people in the workshop were glad that the robot asked instead of guessing.\n\n"
    "In the afternoon the sun moved across the sky and the light in the workshop changed. The shadows of the tools "
    "grew longer on the walls. The people worked more slowly, and some of them went home early. The robot kept "
    "sorting. By the evening the box was nearly empty, and the drawers were full and in order. The last person to "
    "leave turned off the lights, and the robot stopped and waited for the next morning.\n\n"
    "There is something pleasant about a place where everything has its place. When you need a thing, you know "
    "where to find it, and when you are done with it, you know where to put it back. The people in the workshop "
    "did not often think about this, but they noticed it when it was missing. They noticed it on the days when the "
    "robot was being repaired, and the drawers slowly filled with the wrong parts.\n\n"
    "The robot did not think about any of this. It thought about screws, and about the next drawer, and about the "
    "next part in the box. That was enough for it, and, in its own way, it was enough for the workshop too. Every "
    "evening there were 412 drawers, 3 benches, 17 boxes and 1 quiet machine, and every morning the work began "
    "again.\n";

// Learns n_merges merges from text (at most; fewer if no pair repeats).
// Words are the qwen2 pre-tokenizer's words; ties between equally frequent
// pairs go to the smaller (left id, right id), so the result is deterministic.
inline void train_bpe(std::string_view text, int n_merges, std::vector<std::string>& tokens,
                      std::vector<std::string>& merges) {
  std::map<std::string, int64_t> counts;
  split_qwen2(text, [&](size_t b, size_t e) { ++counts[std::string(text.substr(b, e - b))]; });
  std::vector<std::pair<std::vector<int32_t>, int64_t>> words;
  words.reserve(counts.size());
  for (const auto& [word, count] : counts) {
    std::vector<int32_t> ids;
    for (const char c : word) ids.push_back(static_cast<int32_t>(gpt2_byte_rank(static_cast<uint8_t>(c))));
    words.emplace_back(std::move(ids), count);
  }
  std::map<std::string, int32_t> index;  // token text -> id
  for (size_t i = 0; i < tokens.size(); ++i) index.emplace(tokens[i], static_cast<int32_t>(i));
  for (int m = 0; m < n_merges; ++m) {
    std::map<std::pair<int32_t, int32_t>, int64_t> pairs;
    for (const auto& [ids, count] : words)
      for (size_t i = 0; i + 1 < ids.size(); ++i) pairs[{ids[i], ids[i + 1]}] += count;
    std::pair<int32_t, int32_t> best{-1, -1};
    int64_t best_count = 1;  // a pair seen once teaches nothing
    for (const auto& [pair, count] : pairs) {
      if (count > best_count) {
        best = pair;
        best_count = count;
      }
    }
    if (best.first < 0) break;
    const std::string joined = tokens[best.first] + tokens[best.second];
    merges.push_back(tokens[best.first] + " " + tokens[best.second]);
    int32_t id;
    const auto it = index.find(joined);
    if (it != index.end()) {
      id = it->second;  // two merge paths can spell the same token
    } else {
      id = static_cast<int32_t>(tokens.size());
      tokens.push_back(joined);
      index.emplace(joined, id);
    }
    for (auto& [ids, count] : words) {
      size_t out = 0;
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i + 1 < ids.size() && ids[i] == best.first && ids[i + 1] == best.second) {
          ids[out++] = id;
          ++i;
        } else {
          ids[out++] = ids[i];
        }
      }
      ids.resize(out);
    }
  }
}

inline void add_specials(vocab_spec& v) {
  if (v.token_types.size() < v.tokens.size()) v.token_types.resize(v.tokens.size(), 1);
  const int32_t first = static_cast<int32_t>(v.tokens.size());
  for (const char* t : special_token_texts) {
    v.tokens.emplace_back(t);
    v.token_types.push_back(static_cast<int32_t>(token_type::control));
  }
  v.bos_id = first;      // <|endoftext|>
  v.pad_id = first;
  v.eos_id = first + 2;  // <|im_end|>
}

}  // namespace detail

/// A small trained vocabulary: 256 byte tokens (GPT-2 order), up to n_merges
/// merged tokens learned from an embedded English text, then the 3 specials.
/// The default (253 merges) gives at most 512 tokens.
inline vocab_spec default_byte_vocab(int n_merges = 253) {
  vocab_spec v;
  v.tokens.resize(256);
  for (int b = 0; b < 256; ++b) {
    std::string t;
    append_utf8(t, byte_to_cpt(static_cast<uint8_t>(b)));
    v.tokens[gpt2_byte_rank(static_cast<uint8_t>(b))] = std::move(t);
  }
  detail::train_bpe(detail::bpe_training_text, n_merges < 0 ? 0 : n_merges, v.tokens, v.merges);
  v.token_types.assign(v.tokens.size(), static_cast<int32_t>(token_type::normal));
  detail::add_specials(v);
  v.add_bos = false;
  v.chat_template = chatml_template;
  v.pre = "qwen2";
  return v;
}

/// Reads a Hugging Face tokenizer.json (byte-level BPE with the qwen2 split):
/// model.vocab and model.merges (as "a b" strings or ["a", "b"] pairs), and of
/// the added tokens only <|endoftext|>, <|im_start|> and <|im_end|> (as control
/// tokens at their ids: PLM has no others). Token ids must be dense from 0.
inline result<vocab_spec> vocab_from_hf_tokenizer_json(const std::string& path) {
  std::string text;
  {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return make_error(errc::io_error, "cannot open '" + path + "'");
    char buf[1 << 16];
    size_t got;
    while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, got);
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) return make_error(errc::io_error, "cannot read '" + path + "'");
  }
  const auto bad = [&](const std::string& what) {
    return make_error(errc::invalid_format, "tokenizer.json '" + path + "': " + what);
  };
  auto parsed = detail::parse_json(text);
  if (!parsed) return std::move(parsed).error().with_context("tokenizer.json '" + path + "'");
  const detail::json_value& root = *parsed;
  const detail::json_value* model = root.find("model");
  if (!model || !model->is_object()) return bad("no \"model\" object");
  if (const auto* type = model->find("type"); type && !(type->is_string() && type->as_string() == "BPE")) {
    return make_error(errc::unsupported, "tokenizer.json '" + path + "': model.type is not \"BPE\"");
  }
  // The split must be qwen2's, or these tokens would not mean what plm assumes.
  bool qwen2 = false;
  if (const auto* pre = root.find("pre_tokenizer")) {
    std::vector<const detail::json_value*> todo{pre};
    while (!todo.empty()) {
      const detail::json_value* p = todo.back();
      todo.pop_back();
      if (const auto* list = p->find("pretokenizers"); list && list->is_array())
        for (const auto& item : list->items()) todo.push_back(&item);
      if (const auto* pat = p->find("pattern"))
        if (const auto* re = pat->find("Regex"); re && re->is_string() && re->as_string() == qwen2_split_regex)
          qwen2 = true;
    }
  }
  if (!qwen2) {
    return make_error(errc::unsupported,
                      "tokenizer.json '" + path + "': pre_tokenizer has no Split with the qwen2 regex");
  }

  const detail::json_value* vocab = model->find("vocab");
  if (!vocab || !vocab->is_object()) return bad("model.vocab is not an object");
  std::vector<std::string> tokens;
  std::vector<bool> seen;
  const auto place = [&](const std::string& t, double idd) -> result<void> {
    if (!(idd >= 0 && idd < (1 << 30)) || idd != static_cast<double>(static_cast<int64_t>(idd))) {
      return bad("token '" + t + "' has id " + std::to_string(idd) + ", expected an integer in [0, 2^30)");
    }
    const size_t id = static_cast<size_t>(idd);
    if (id >= tokens.size()) {
      tokens.resize(id + 1);
      seen.resize(id + 1, false);
    }
    if (seen[id]) return bad("id " + std::to_string(id) + " is given to both '" + tokens[id] + "' and '" + t + "'");
    tokens[id] = t;
    seen[id] = true;
    return ok();
  };
  for (const auto& [t, id] : vocab->members()) {
    if (!id.is_number()) return bad("model.vocab['" + t + "'] is not a number");
    PLM_TRY_VOID(place(t, id.as_number()));
  }
  std::vector<int32_t> special_ids;
  if (const auto* added = root.find("added_tokens"); added && added->is_array()) {
    for (const auto& a : added->items()) {
      const auto* content = a.find("content");
      const auto* id = a.find("id");
      if (!content || !content->is_string() || !id || !id->is_number()) return bad("malformed added_tokens entry");
      if (std::find_if(std::begin(special_token_texts), std::end(special_token_texts), [&](const char* s) {
            return content->as_string() == s;
          }) == std::end(special_token_texts)) {
        continue;  // Qwen's other added tokens are not part of PLM's vocabulary
      }
      PLM_TRY_VOID(place(content->as_string(), id->as_number()));
      special_ids.push_back(static_cast<int32_t>(id->as_number()));
    }
  }
  for (size_t i = 0; i < tokens.size(); ++i)
    if (!seen[i]) return bad("no token has id " + std::to_string(i) + " (ids must be dense)");

  const detail::json_value* merges = model->find("merges");
  if (!merges || !merges->is_array()) return bad("model.merges is not an array");
  vocab_spec spec;
  spec.merges.reserve(merges->items().size());
  for (size_t i = 0; i < merges->items().size(); ++i) {
    const detail::json_value& m = merges->items()[i];
    if (m.is_string()) {
      spec.merges.push_back(m.as_string());
    } else if (m.is_array() && m.items().size() == 2 && m.items()[0].is_string() && m.items()[1].is_string()) {
      spec.merges.push_back(m.items()[0].as_string() + " " + m.items()[1].as_string());
    } else {
      return bad("model.merges[" + std::to_string(i) + "] is neither \"a b\" nor [\"a\", \"b\"]");
    }
  }
  spec.token_types.assign(tokens.size(), static_cast<int32_t>(token_type::normal));
  for (const int32_t id : special_ids) spec.token_types[id] = static_cast<int32_t>(token_type::control);
  spec.tokens = std::move(tokens);
  const auto id_of = [&](const char* t) -> int32_t {
    for (const int32_t id : special_ids)
      if (spec.tokens[id] == t) return id;
    return -1;
  };
  spec.bos_id = id_of("<|endoftext|>");
  spec.pad_id = spec.bos_id;
  spec.eos_id = id_of("<|im_end|>");
  spec.add_bos = false;
  spec.chat_template = chatml_template;
  spec.pre = "qwen2";
  return spec;
}

/// Writes the vocabulary under the tokenizer.ggml.* keys (and
/// tokenizer.chat_template), padded with "[PAD{i}]" tokens of type unused up
/// to vocab_size (the model's embedding rows), as PLM's GGUFs are.
inline result<void> write_vocab(gguf::writer& w, const vocab_spec& v, uint32_t vocab_size) {
  if (vocab_size < v.tokens.size()) {
    return make_error(errc::invalid_argument, "vocab_size " + std::to_string(vocab_size) + " is smaller than the " +
                                                  std::to_string(v.tokens.size()) + " tokens of the vocabulary");
  }
  if (!v.token_types.empty() && v.token_types.size() != v.tokens.size()) {
    return make_error(errc::invalid_argument, "vocab_spec has " + std::to_string(v.token_types.size()) +
                                                  " token types for " + std::to_string(v.tokens.size()) + " tokens");
  }
  std::vector<std::string> tokens = v.tokens;
  std::vector<int32_t> types = v.token_types;
  types.resize(v.tokens.size(), static_cast<int32_t>(token_type::normal));
  for (size_t i = v.tokens.size(); i < vocab_size; ++i) {
    tokens.push_back("[PAD" + std::to_string(i) + "]");
    types.push_back(static_cast<int32_t>(token_type::unused));
  }
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", v.pre);
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_array<int32_t>("tokenizer.ggml.token_type", types);
  w.set_string_array("tokenizer.ggml.merges", v.merges);
  if (v.bos_id >= 0) w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(v.bos_id));
  if (v.eos_id >= 0) w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(v.eos_id));
  if (v.pad_id >= 0) w.set_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(v.pad_id));
  w.set_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  if (!v.chat_template.empty()) w.set_string("tokenizer.chat_template", v.chat_template);
  return ok();
}

}  // namespace plm::text
