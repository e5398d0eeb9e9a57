// tests/fuzz/seeds.hpp - seed inputs for the fuzz targets, made with plm's own writers.
//
// Seeds are generated rather than committed: small synthetic PLM models from
// plm::synth (1-2 layers, hidden 32-64, a 300-token vocabulary), vocabularies
// from plm::text::default_byte_vocab + write_vocab, a GGUF with every value
// type and tensors of several types and ranks, and texts / conversations for
// the tokenizer and chat targets. make_seeds.cpp writes them to disk for
// libFuzzer; tests/test_fuzz_regressions.cpp checks that each harness accepts
// its seeds (so the harnesses are known to reach their deepest stage).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "fuzz/gguf_mutator.hpp"
#include "plm/core/result.hpp"
#include "plm/gguf/reader.hpp"
#include "plm/gguf/writer.hpp"
#include "plm/synth/synth.hpp"
#include "plm/text/vocab_builder.hpp"

namespace plm_fuzz {

struct seed {
  std::string name;
  std::vector<uint8_t> bytes;
};

/// The fuzz targets, in the order run.sh runs them.
inline const std::vector<std::string>& fuzz_targets() {
  static const std::vector<std::string> t = {"gguf", "model_load", "tokenizer_vocab", "tokenizer_encode", "chat"};
  return t;
}

namespace detail {

inline std::vector<uint8_t> bytes_of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

/// A GGUF holding only a vocabulary: default_byte_vocab(n_merges), padded to n_rows tokens.
inline plm::result<std::vector<uint8_t>> vocab_file(int n_merges, uint32_t n_rows, bool extra_user_token = false) {
  plm::text::vocab_spec v = plm::text::default_byte_vocab(n_merges);
  if (extra_user_token) {
    v.tokens.emplace_back("<tool>");
    v.token_types.push_back(static_cast<int32_t>(plm::text::token_type::user_defined));
  }
  plm::gguf::writer w;
  w.set_string("general.architecture", "plm");
  PLM_TRY_VOID(plm::text::write_vocab(w, v, std::max<uint32_t>(n_rows, static_cast<uint32_t>(v.tokens.size()))));
  if (extra_user_token) w.set_i32("tokenizer.ggml.bos_token_id", 0);  // i32 ids are accepted too
  return w.write_memory();
}

/// A synthetic PLM model (plm::synth) whose vocabulary is cut to `n_vocab`
/// tokens (synth always writes its 512-token default vocabulary) or removed.
inline plm::result<std::vector<uint8_t>> model_file(const plm::synth::options& o, uint32_t n_vocab, bool tokenizer) {
  PLM_TRY(auto bytes, plm::synth::write_model_memory(o));
  PLM_TRY(auto f, plm::gguf::file::from_memory(bytes.data(), bytes.size()));
  mut::doc d = mut::read_doc(f);
  d.kvs.erase(std::remove_if(d.kvs.begin(), d.kvs.end(),
                             [](const mut::kv_item& k) { return k.key.rfind("tokenizer.", 0) == 0; }),
              d.kvs.end());
  if (tokenizer) {
    PLM_TRY(auto vb, vocab_file(static_cast<int>(n_vocab) - 259, n_vocab));
    PLM_TRY(auto vf, plm::gguf::file::from_memory(vb.data(), vb.size()));
    for (auto& k : mut::read_doc(vf).kvs)
      if (k.key.rfind("tokenizer.", 0) == 0) d.kvs.push_back(std::move(k));
  }
  mut::set_hp(d, "plm.vocab_size", n_vocab);
  mut::tensor_item* te = d.find_tensor("token_embd.weight");
  if (!te) return plm::make_error(plm::errc::missing, "synth wrote no token_embd");
  te->data.resize(te->data.size() / static_cast<size_t>(te->ne[1]) * n_vocab);
  te->ne[1] = n_vocab;
  return mut::write_doc(d);
}

inline plm::synth::options tiny_options(uint32_t n_layer, uint32_t n_embd, uint32_t n_ff, plm::synth::weight_type type) {
  plm::synth::options o;
  o.n_layer = n_layer;
  o.n_embd = n_embd;
  o.n_head = 2;
  o.n_ff = n_ff;
  o.kv_lora_rank = n_embd / 2;
  o.rope_dim = 8;
  o.nope_dim = 16;
  o.v_dim = 16;
  o.vocab = 512;  // synth's default vocabulary has 512 tokens; cut to 300 afterwards
  o.ctx = 256;
  o.type = type;
  o.n_threads = 1;
  return o;
}

/// A GGUF with every metadata value type, empty and non-empty arrays, an
/// explicit alignment and tensors of several types and 1..4 dimensions.
inline plm::result<std::vector<uint8_t>> values_file(uint32_t version) {
  plm::gguf::writer w;
  w.set_string("general.architecture", "plm");
  PLM_TRY_VOID(w.set_alignment(64));
  w.set_u8("t.u8", 200);
  w.set_i8("t.i8", -5);
  w.set_u16("t.u16", 60000);
  w.set_i16("t.i16", -300);
  w.set_u32("t.u32", 4000000000u);
  w.set_i32("t.i32", -70000);
  w.set_u64("t.u64", 1ull << 40);
  w.set_i64("t.i64", -(1ll << 40));
  w.set_f32("t.f32", 1.5f);
  w.set_f64("t.f64", -2.25);
  w.set_bool("t.bool", true);
  w.set_string("t.str", "h\xc3\xa9llo\n");
  w.set_string("t.empty", "");
  w.set_array<uint8_t>("a.u8", {1, 2, 3});
  w.set_array<int16_t>("a.i16", {-1, 2});
  w.set_array<uint32_t>("a.u32", {});
  w.set_array<int64_t>("a.i64", {-9, 9});
  w.set_array<float>("a.f32", {0.5f, -0.25f});
  w.set_array<double>("a.f64", {1e300});
  w.set_array<bool>("a.bool", {true, false, true});
  w.set_string_array("a.str", {"x", "", "yz"});
  static const std::vector<uint8_t> blob(4096, 0x3c);  // valid f16/bf16/q* bytes, finite
  PLM_TRY_VOID(w.add_tensor("t.f32", plm::dtype::f32, {3}, blob.data()));
  PLM_TRY_VOID(w.add_tensor("t.f16", plm::dtype::f16, {2, 3}, blob.data()));
  PLM_TRY_VOID(w.add_tensor("t.q8_0", plm::dtype::q8_0, {32, 2}, blob.data()));
  PLM_TRY_VOID(w.add_tensor("t.q4_k", plm::dtype::q4_k, {256}, blob.data()));
  PLM_TRY_VOID(w.add_tensor("t.bf16", plm::dtype::bf16, {1, 1, 1, 2}, blob.data()));
  PLM_TRY_VOID(w.add_tensor("t.i8", plm::dtype::i8, {5, 1, 3}, blob.data()));
  PLM_TRY(auto b, w.write_memory());
  b[4] = static_cast<uint8_t>(version);  // the version field (v2 differs only in the number)
  return b;
}

}  // namespace detail

/// Seeds of one target (empty for an unknown target). An error if a writer fails.
inline plm::result<std::vector<seed>> make_seeds(const std::string& target) {
  using plm::synth::weight_type;
  std::vector<seed> out;
  if (target == "gguf") {
    PLM_TRY(auto v3, detail::values_file(3));
    PLM_TRY(auto v2, detail::values_file(2));
    PLM_TRY(auto vocab, detail::vocab_file(41, 300));
    PLM_TRY(auto model, detail::model_file(detail::tiny_options(1, 32, 64, weight_type::q8_0), 300, false));
    out.push_back({"values-v3.gguf", std::move(v3)});
    out.push_back({"values-v2.gguf", std::move(v2)});
    out.push_back({"vocab-300.gguf", std::move(vocab)});
    out.push_back({"model-q8_0-no-vocab.gguf", std::move(model)});
  } else if (target == "model_load") {
    PLM_TRY(auto a, detail::model_file(detail::tiny_options(1, 32, 64, weight_type::f32), 300, true));
    PLM_TRY(auto b, detail::model_file(detail::tiny_options(2, 64, 128, weight_type::q8_0), 300, false));
    // n_ff = 256: ffn_down rows are one K-quant super-block, so Q4_K_M keeps its K types there.
    PLM_TRY(auto c, detail::model_file(detail::tiny_options(1, 32, 256, weight_type::q4_k_m), 300, false));
    PLM_TRY(auto e, detail::model_file(detail::tiny_options(1, 32, 64, weight_type::f16), 300, true));
    PLM_TRY(auto g, detail::model_file(detail::tiny_options(1, 32, 64, weight_type::bf16), 300, false));
    PLM_TRY(auto h, detail::model_file(detail::tiny_options(1, 32, 64, weight_type::q4_0), 300, false));
    out.push_back({"f32-1l-h32-vocab.gguf", std::move(a)});
    out.push_back({"q8_0-2l-h64.gguf", std::move(b)});
    out.push_back({"q4_k_m-1l-h32-ff256.gguf", std::move(c)});
    out.push_back({"f16-1l-h32-vocab.gguf", std::move(e)});
    out.push_back({"bf16-1l-h32.gguf", std::move(g)});
    out.push_back({"q4_0-1l-h32.gguf", std::move(h)});
  } else if (target == "tokenizer_vocab") {
    PLM_TRY(auto a, detail::vocab_file(41, 300));
    PLM_TRY(auto b, detail::vocab_file(253, 512));
    PLM_TRY(auto c, detail::vocab_file(41, 310, true));
    out.push_back({"vocab-300.gguf", std::move(a)});
    out.push_back({"vocab-512.gguf", std::move(b)});
    out.push_back({"vocab-user-token.gguf", std::move(c)});
  } else if (target == "tokenizer_encode") {
    const std::vector<std::pair<std::string, std::string>> texts = {
        {"english.txt", "The robot sorted the screws by size, then by length. It wasn't told to be careful!\n"},
        {"chatml.txt", "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n<|endoftext|>"},
        {"cjk-emoji.txt", "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80\xf0\x9f\xa4\x96 na\xc3\xafve"},
        {"invalid-utf8.txt", std::string("\xff\xfe\xc3\x28\xe2\x82\xf0\x9f\x98 \xed\xa0\x80\x00x", 15)},
        {"numbers-space.txt", "x = 3.14159 * 2**10;\r\n\r\n\t  12345678901234567890    \n"},
        {"long-word.txt", std::string(200, 'z') + std::string(140, '\xe4')},
        {"contractions.txt", "I'M here, you'RE there, we'll see; they'd've 'S"},
    };
    for (const auto& [n, t] : texts) out.push_back({n, detail::bytes_of(t)});
  } else if (target == "chat") {
    const std::string z(1, '\0');
    out.push_back({"chatml-gen.bin", detail::bytes_of("\x05system" + z + "be brief" + z + "user" + z + "hi")});
    out.push_back({"empty-template.bin", detail::bytes_of("\x02user" + z + "<|im_start|>x<|im_end|>")});
    out.push_back({"custom-template.bin", detail::bytes_of(std::string("\x00{% for m in messages %}{{m}}{% endfor %}", 41) +
                                                           z + "user" + z + "hi")});
    out.push_back({"input-chatml.bin", detail::bytes_of(std::string("\x01<|im_start|>", 13) + z + "assistant" + z + "ok" +
                                                        z + "bad\nrole" + z + "x")});
    out.push_back({"input-chatml-ok.bin", detail::bytes_of(std::string("\x07{{'<|im_start|>'}}", 19) + z + "user" + z +
                                                           "2 + 2?" + z + "assistant" + z + "4")});
  }
  return out;
}

}  // namespace plm_fuzz
