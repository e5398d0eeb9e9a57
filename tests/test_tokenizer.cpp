// Unit tests of plm's byte-level BPE tokenizer (plm/text): UTF-8 and Unicode
// classes, the qwen2 split (expected words derived by hand from the regex), BPE
// merge order, special tokens, round trips of random byte strings, the
// streaming decoder at every UTF-8 boundary, vocabulary validation errors, the
// vocab builder and tokenizer.json reader, and the llama.cpp fixture ids.
// Conformance on the real PLM vocabulary: test_tokenizer_conformance.cpp.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "plm/gguf/reader.hpp"
#include "plm/gguf/writer.hpp"
#include "plm/text/detail/json.hpp"
#include "plm/text/pretokenize.hpp"
#include "plm/text/tokenizer.hpp"
#include "plm/text/unicode.hpp"
#include "plm/text/vocab_builder.hpp"

using plm::errc;
using plm::text::token_type;
using plm::text::tokenizer;
using plm::text::vocab_spec;

namespace {

bool contains(const std::string& s, const std::string& sub) { return s.find(sub) != std::string::npos; }

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> words;
  plm::text::split_qwen2(text, [&](size_t b, size_t e) { words.emplace_back(text.substr(b, e - b)); });
  return words;
}

const vocab_spec& small_spec() {
  static const vocab_spec spec = plm::text::default_byte_vocab();
  return spec;
}

const tokenizer& small() {
  static const tokenizer tok = tokenizer::from_spec(small_spec()).value();
  return tok;
}

std::string utf8(uint32_t cpt) {
  std::string s;
  plm::text::append_utf8(s, cpt);
  return s;
}

// A vocabulary of the 256 byte tokens plus `extra` tokens and `merges`.
vocab_spec byte_spec(const std::vector<std::string>& extra, const std::vector<std::string>& merges) {
  vocab_spec v;
  v.tokens.resize(256);
  for (int b = 0; b < 256; ++b) v.tokens[plm::text::gpt2_byte_rank(uint8_t(b))] = utf8(plm::text::byte_to_cpt(uint8_t(b)));
  for (const auto& t : extra) v.tokens.push_back(t);
  v.merges = merges;
  return v;
}

int32_t id_of(const tokenizer& t, const std::string& text) { return t.vocab().find(text); }

// Random byte strings that hit every path: raw bytes, ASCII words and spaces,
// valid multi-byte characters, and pieces of special tokens.
std::string random_text(std::mt19937& rng, size_t max_parts) {
  static const char* pieces[] = {"the", " ", "  ", "\n", "\r\n", "\t", "'s", "'LL", "123", ".", "!?", "<|im_end|>",
                                 "<|im_start|>", "<|endoftext|>", "<|im_", "|>", "robot", " screws"};
  std::string s;
  const size_t parts = rng() % (max_parts + 1);
  for (size_t i = 0; i < parts; ++i) {
    switch (rng() % 4) {
      case 0: s.push_back(static_cast<char>(rng() & 0xFF)); break;
      case 1: s += pieces[rng() % (sizeof pieces / sizeof pieces[0])]; break;
      case 2: {
        uint32_t c = rng() % 0x110000;
        if (c >= 0xD800 && c <= 0xDFFF) c = 0x4E2D;
        s += utf8(c);
        break;
      }
      default: s += utf8(0x80 + rng() % 0x800); break;
    }
  }
  return s;
}

std::vector<uint8_t> gguf_bytes(const std::function<void(plm::gguf::writer&)>& edit) {
  plm::gguf::writer w;
  w.set_string("general.architecture", "plm");
  REQUIRE(plm::text::write_vocab(w, small_spec(), 512).has_value());
  edit(w);
  auto bytes = w.write_memory();
  REQUIRE(bytes.has_value());
  return std::move(bytes).value();
}

plm::result<tokenizer> load(const std::vector<uint8_t>& bytes) {
  auto f = plm::gguf::file::from_memory(bytes.data(), bytes.size());
  REQUIRE_MESSAGE(f.has_value(), f.error().message());
  return tokenizer::from_gguf(*f);
}

void check_error(const std::function<void(plm::gguf::writer&)>& edit, errc kind, const std::string& needle) {
  const auto bytes = gguf_bytes(edit);
  auto t = load(bytes);
  REQUIRE_FALSE(t.has_value());
  CHECK(t.error().kind() == kind);
  CHECK_MESSAGE(contains(t.error().message(), needle), t.error().message());
}

}  // namespace

TEST_CASE("UTF-8 decoding is strict and never skips bytes") {
  using plm::text::decode_utf8;
  CHECK(decode_utf8("A", 0).cpt == 'A');
  auto u = decode_utf8("\xE2\x82\xAC", 0);
  CHECK((u.valid && u.cpt == 0x20AC && u.len == 3));
  u = decode_utf8("\xF0\x9F\x98\x80", 0);
  CHECK((u.valid && u.cpt == 0x1F600 && u.len == 4));
  for (const char* bad : {"\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xF8\x88\x80\x80\x80",
                          "\x80", "\xE2\x82", "\xE2\x28\xA1", "\xFF"}) {
    u = decode_utf8(bad, 0);
    CHECK_FALSE(u.valid);
    CHECK(u.len == 1);
  }
  CHECK(plm::text::is_valid_utf8("h\xC3\xA9llo \xE4\xB8\xAD"));
  CHECK_FALSE(plm::text::is_valid_utf8("h\xC3"));
}

TEST_CASE("Unicode classes follow the UCD") {
  using namespace plm::text;
  for (uint32_t c : {uint32_t('a'), uint32_t('Z'), 0xE9u, 0x4E2Du, 0x3042u, 0xAC00u, 0x0627u, 0x0915u, 0x0416u, 0x2C6Fu})
    CHECK_MESSAGE(is_letter(c), c);
  for (uint32_t c : {uint32_t('0'), uint32_t('9'), 0x0661u, 0x0967u, 0xFF11u, 0x2167u, 0xBDu, 0x00B2u, 0x2460u})
    CHECK_MESSAGE(is_number(c), c);
  for (uint32_t c : {uint32_t(' '), uint32_t('\t'), uint32_t('\n'), uint32_t('\r'), 0x0Bu, 0x0Cu, 0x85u, 0xA0u, 0x1680u,
                     0x2000u, 0x200Au, 0x2028u, 0x2029u, 0x202Fu, 0x205Fu, 0x3000u})
    CHECK_MESSAGE(is_whitespace(c), c);
  for (uint32_t c : {uint32_t('!'), uint32_t('\''), 0x0301u, 0x200Bu, 0xFEFFu, 0x1F600u, 0x20ACu, 0xFFFDu, 0x1Fu, 0x10FFFFu,
                     0xE000u})
    CHECK_MESSAGE(cpt_flags(c) == 0, c);
}

TEST_CASE("GPT-2 byte <-> unicode map is a bijection in vocabulary order") {
  using namespace plm::text;
  std::vector<bool> seen_rank(256, false);
  for (int b = 0; b < 256; ++b) {
    const uint32_t c = byte_to_cpt(uint8_t(b));
    CHECK(cpt_to_byte(c) == b);
    const uint32_t r = gpt2_byte_rank(uint8_t(b));
    REQUIRE(r < 256);
    CHECK_FALSE(seen_rank[r]);
    seen_rank[r] = true;
  }
  CHECK(byte_to_cpt(' ') == 0x120);   // 'Ġ'
  CHECK(byte_to_cpt('\n') == 0x10A);  // 'Ċ'
  CHECK(byte_to_cpt(0xAD) == 0x143);  // 'Ń'
  CHECK(gpt2_byte_rank('!') == 0);
  CHECK(gpt2_byte_rank(' ') == 220);
  CHECK(gpt2_byte_rank('\n') == 198);
  CHECK(cpt_to_byte(0x144) == -1);
  CHECK(cpt_to_byte(0x20) == -1);
  std::string bytes;
  CHECK(token_text_to_bytes("\xC4\xA0the", bytes));
  CHECK(bytes == " the");
  CHECK_FALSE(token_text_to_bytes("a b", bytes));
}

TEST_CASE("qwen2 split: each regex alternative, derived by hand") {
  using V = std::vector<std::string>;
  CHECK(split("Hello world") == V{"Hello", " world"});
  CHECK(split("I'M they'Ll") == V{"I", "'M", " they", "'Ll"});
  CHECK(split("don't") == V{"don", "'t"});
  CHECK(split("'sand") == V{"'s", "and"});
  CHECK(split("we'RE you'Ve") == V{"we", "'RE", " you", "'Ve"});
  CHECK(split("a  b") == V{"a", " ", " b"});
  CHECK(split("a\n\nb") == V{"a", "\n\n", "b"});
  CHECK(split("a\r\nb") == V{"a", "\r\n", "b"});
  CHECK(split("x  \n  y") == V{"x", "  \n", " ", " y"});
  CHECK(split("x\n \ny") == V{"x", "\n \n", "y"});
  CHECK(split("123") == V{"1", "2", "3"});
  CHECK(split("x1y") == V{"x", "1", "y"});
  CHECK(split("3.14") == V{"3", ".", "1", "4"});
  CHECK(split("  12") == V{" ", " ", "1", "2"});
  CHECK(split("!!\n\nabc") == V{"!!\n\n", "abc"});
  CHECK(split("end  ") == V{"end", "  "});
  CHECK(split(" ?!") == V{" ?!"});
  CHECK(split("(hello)") == V{"(hello", ")"});
  CHECK(split("\thello") == V{"\thello"});
  CHECK(split("a\xC2\xA0" "b") == V{"a", "\xC2\xA0" "b"});                       // NBSP prefixes a word
  CHECK(split("cafe\xCC\x81") == V{"cafe", "\xCC\x81"});                         // combining mark: no class
  CHECK(split("\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96") == V{"\xE4\xBD\xA0\xE5\xA5\xBD", "\xEF\xBC\x8C\xE4\xB8\x96"});
  CHECK(split("\xF0\x9F\x98\x80\xF0\x9F\x98\x80 x") == V{"\xF0\x9F\x98\x80\xF0\x9F\x98\x80", " x"});
  CHECK(split("a\xFF" "b") == V{"a", "\xFF" "b"});                               // invalid byte prefixes a word
  CHECK(split("\xE2\x82x") == V{"\xE2\x82", "x"});                               // truncated sequence: two bytes
  CHECK(split("") == V{});
  CHECK(split("   ") == V{"   "});
}

TEST_CASE("qwen2 split covers every byte of random input with non-empty words") {
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    const std::string s = random_text(rng, 40);
    std::string joined;
    bool empty = false;
    plm::text::split_qwen2(s, [&](size_t b, size_t e) {
      empty |= (e <= b);
      joined.append(s, b, e - b);
    });
    CHECK_FALSE(empty);
    CHECK(joined == s);
  }
}

TEST_CASE("BPE merges by rank, leftmost first") {
  const auto check = [](const std::vector<std::string>& extra, const std::vector<std::string>& merges,
                        const std::string& text, const std::vector<std::string>& expect) {
    auto t = tokenizer::from_spec(byte_spec(extra, merges));
    REQUIRE_MESSAGE(t.has_value(), t.error().message());
    auto ids = t->encode(text, true, false);
    REQUIRE(ids.has_value());
    std::vector<std::string> got;
    for (const int32_t id : *ids) got.emplace_back(t->token_text(id));
    CHECK(got == expect);
  };
  check({"bc", "ab", "abc"}, {"b c", "a b", "a bc"}, "abc", {"abc"});  // (b,c) ranks first
  check({"ab", "bc", "abc"}, {"a b", "b c", "ab c"}, "abc", {"abc"});  // (a,b) ranks first
  check({"ab", "bc"}, {"a b", "b c"}, "abc", {"ab", "c"});
  check({"bc", "ab"}, {"b c", "a b"}, "abc", {"a", "bc"});
  check({"aa"}, {"a a"}, "aaa", {"aa", "a"});
  check({"aa", "aaaa"}, {"a a", "aa aa"}, "aaaaa", {"aaaa", "a"});
  check({"\xC4\xA0t", "he", "\xC4\xA0the"}, {"\xC4\xA0 t", "h e", "\xC4\xA0t he"}, " the", {"\xC4\xA0the"});
}

TEST_CASE("BPE: the small-word and long-word implementations agree") {
  const tokenizer& t = small();
  std::mt19937 rng(11);
  const std::string alphabet = "the robot sorted screws and drawers in a workshop";
  for (int i = 0; i < 2000; ++i) {
    std::string w;
    const size_t n = 1 + rng() % plm::text::bpe_small_word;
    for (size_t k = 0; k < n; ++k) w.push_back(alphabet[rng() % alphabet.size()]);
    std::vector<int32_t> a, b;
    auto sa = [&](int32_t id) { a.push_back(id); };
    auto sb = [&](int32_t id) { b.push_back(id); };
    if (n >= 2) plm::text::detail::bpe_small(t.vocab(), w, sa);
    else a.push_back(t.vocab().byte_token(uint8_t(w[0])));
    plm::text::detail::bpe_large(t.vocab(), w, sb);
    CHECK(a == b);
  }
  // Long words go through the heap path and still round-trip.
  std::string thethe;
  for (int i = 0; i < 1000; ++i) thethe += "the";
  for (const std::string& s : {thethe, std::string(3000, ' '), std::string(2000, '!')}) {
    auto ids = t.encode(s, true, false);
    REQUIRE(ids.has_value());
    CHECK(t.decode(*ids).value() == s);
  }
  CHECK(t.encode(thethe, true, false).value().size() < thethe.size());
}

TEST_CASE("default_byte_vocab: deterministic, GPT-2 byte order, English merges, specials") {
  const vocab_spec& v = small_spec();
  CHECK(v.tokens.size() == 512);
  CHECK(v.merges.size() == 253);
  CHECK(v.tokens[0] == "!");
  CHECK(v.tokens[220] == "\xC4\xA0");
  CHECK(v.tokens[509] == "<|endoftext|>");
  CHECK(v.tokens[510] == "<|im_start|>");
  CHECK(v.tokens[511] == "<|im_end|>");
  CHECK(v.token_types[510] == int32_t(token_type::control));
  CHECK(v.token_types[100] == int32_t(token_type::normal));
  CHECK(v.bos_id == 509);
  CHECK(v.pad_id == 509);
  CHECK(v.eos_id == 511);
  CHECK_FALSE(v.add_bos);
  CHECK(plm::text::is_chatml_template(v.chat_template));
  const vocab_spec again = plm::text::default_byte_vocab();
  CHECK(again.tokens == v.tokens);
  CHECK(again.merges == v.merges);
  const std::string english = "The robot sorted the screws in the workshop, and the people were glad.";
  auto ids = small().encode(english, true, false);
  REQUIRE(ids.has_value());
  CHECK(ids->size() * 2 < english.size());  // merges really shorten English
  const vocab_spec few = plm::text::default_byte_vocab(10);
  CHECK(few.merges.size() == 10);
  CHECK(few.tokens.size() == 256 + 10 + 3);
}

TEST_CASE("special tokens: parse_special, user-defined tokens, llama.cpp partition order, EOG") {
  const tokenizer& t = small();
  const int32_t im_start = id_of(t, "<|im_start|>"), im_end = id_of(t, "<|im_end|>"), eot = id_of(t, "<|endoftext|>");
  auto ids = t.encode("<|im_start|>user\nhi<|im_end|>", true, false).value();
  CHECK(ids.front() == im_start);
  CHECK(ids.back() == im_end);
  ids = t.encode("<|im_start|>user<|im_end|>", false, false).value();
  for (const int32_t id : ids) CHECK(t.type(id) == token_type::normal);
  CHECK(t.decode(ids).value() == "<|im_start|>user<|im_end|>");
  CHECK(t.is_eog(im_end));
  CHECK(t.is_eog(eot));
  CHECK_FALSE(t.is_eog(im_start));
  CHECK_FALSE(t.is_eog(id_of(t, "!")));
  CHECK(t.decode(std::vector<int32_t>{im_start}, false).value().empty());
  CHECK(t.decode(std::vector<int32_t>{im_start}, true).value() == "<|im_start|>");

  // Longer special texts claim their occurrences first (llama.cpp): in "XYZW",
  // "YZW" wins over the earlier but shorter "XY".
  vocab_spec s = byte_spec({"XY", "YZW", "<u>"}, {});
  s.token_types.assign(s.tokens.size(), int32_t(token_type::normal));
  s.token_types[256] = int32_t(token_type::control);
  s.token_types[257] = int32_t(token_type::control);
  s.token_types[258] = int32_t(token_type::user_defined);
  auto p = tokenizer::from_spec(s);
  REQUIRE(p.has_value());
  CHECK(p->encode("XYZW", true, false).value() == std::vector<int32_t>{id_of(*p, "X"), 257});
  CHECK(p->encode("XYXY", true, false).value() == std::vector<int32_t>{256, 256});
  // User-defined tokens are matched even without parse_special, and rendered always.
  CHECK(p->encode("a<u>b", false, false).value() == std::vector<int32_t>{id_of(*p, "a"), 258, id_of(*p, "b")});
  CHECK(p->decode(std::vector<int32_t>{258}, false).value() == "<u>");
}

TEST_CASE("BOS: added on request, vocabulary default off for PLM") {
  vocab_spec s = small_spec();
  s.add_bos = true;
  auto t = tokenizer::from_spec(s);
  REQUIRE(t.has_value());
  CHECK(t->add_bos());
  CHECK(t->encode("hi").value().front() == s.bos_id);
  CHECK(t->encode("hi", true, false).value().front() != s.bos_id);
  CHECK_FALSE(small().add_bos());
  CHECK(small().encode("hi").value().front() != small().bos_id());
}

TEST_CASE("round trip: decode(encode(s)) == s for random byte strings") {
  const tokenizer& t = small();
  std::mt19937 rng(3);
  for (int i = 0; i < 3000; ++i) {
    const std::string s = random_text(rng, 60);
    for (const bool special : {true, false}) {
      auto ids = t.encode(s, special, false);
      REQUIRE(ids.has_value());
      auto back = t.decode(*ids);
      REQUIRE(back.has_value());
      CHECK(*back == s);
    }
  }
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  CHECK(t.decode(t.encode(all).value()).value() == all);
  CHECK(t.encode("").value().empty());
}

TEST_CASE("streaming decoder: never emits part of a character, loses nothing") {
  const tokenizer& t = small();
  const auto bt = [&](uint8_t b) { return t.vocab().byte_token(b); };
  // One character of each length fed byte by byte: held until complete.
  for (const std::string& ch : {std::string("A"), utf8(0xE9), utf8(0x20AC), utf8(0x1F600)}) {
    plm::text::decoder d(t);
    for (size_t k = 0; k + 1 < ch.size(); ++k) {
      CHECK(d.feed(bt(uint8_t(ch[k]))).empty());
      CHECK(d.pending() == k + 1);
    }
    CHECK(d.feed(bt(uint8_t(ch.back()))) == ch);
    CHECK(d.flush().empty());
  }
  // Bytes that cannot become valid are passed through at once.
  plm::text::decoder d(t);
  CHECK(d.feed(bt(0x80)) == "\x80");
  CHECK(d.feed(bt(0xFF)) == "\xFF");
  CHECK(d.feed(bt(0xE2)).empty());
  CHECK(d.feed(bt('a')) == "\xE2" "a");
  CHECK(d.feed(bt(0xE0)).empty());
  CHECK(d.feed(bt(0x80)) == "\xE0\x80");  // overlong prefix: can never complete
  CHECK(d.feed(bt(0xF0)).empty());
  CHECK(d.feed(bt(0x9F)).empty());
  CHECK(d.feed(-5).empty());               // out-of-range ids add nothing
  CHECK(d.flush() == "\xF0\x9F");          // the end of the stream releases what was held
  CHECK(d.flush().empty());
  // Hidden control tokens.
  plm::text::decoder hide(t, false);
  CHECK(hide.feed(id_of(t, "<|im_end|>")).empty());
  plm::text::decoder show(t, true);
  CHECK(show.feed(id_of(t, "<|im_end|>")) == "<|im_end|>");

  // Random text: chunks concatenate to decode(), and for valid UTF-8 input
  // every chunk is valid UTF-8 (cut only at character boundaries).
  std::mt19937 rng(5);
  for (int i = 0; i < 2000; ++i) {
    std::string s = random_text(rng, 30);
    const bool valid = plm::text::is_valid_utf8(s);
    const auto ids = t.encode(s, true, false).value();
    plm::text::decoder dec(t);
    std::string out;
    for (const int32_t id : ids) {
      const std::string_view chunk = dec.feed(id);
      if (valid) CHECK(plm::text::is_valid_utf8(chunk));
      out += chunk;
    }
    out += dec.flush();
    CHECK(out == s);
  }
}

TEST_CASE("decoder::complete_prefix at every cut of every UTF-8 length") {
  using plm::text::decoder;
  for (const std::string& ch : {utf8(0x7F), utf8(0x80), utf8(0x7FF), utf8(0x800), utf8(0xFFFF), utf8(0x10000),
                                utf8(0x10FFFF), utf8(0xD7FF), utf8(0xE000)}) {
    for (size_t cut = 0; cut <= ch.size(); ++cut) {
      const std::string s = "ab" + ch.substr(0, cut);
      CHECK(decoder::complete_prefix(s) == (cut == ch.size() ? s.size() : 2));
    }
  }
  CHECK(decoder::complete_prefix("\xED\xA0") == 2);   // surrogate prefix: invalid, pass through
  CHECK(decoder::complete_prefix("\xF4\x90") == 2);   // above U+10FFFF
  CHECK(decoder::complete_prefix("\xC0") == 1);       // never a lead byte
  CHECK(decoder::complete_prefix("\x80\x80\x80\x80") == 4);
}

TEST_CASE("decode and encode_to report bad ids and small buffers") {
  const tokenizer& t = small();
  auto r = t.decode(std::vector<int32_t>{1, 512});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().kind() == errc::out_of_range);
  CHECK(contains(r.error().message(), "512"));
  CHECK_FALSE(t.decode(std::vector<int32_t>{-1}).has_value());
  const auto ids = t.encode("The robot sorted 412 screws.", true, false).value();
  std::vector<int32_t> buf(ids.size());
  auto n = t.encode_to("The robot sorted 412 screws.", buf.data(), buf.size(), true, false);
  REQUIRE(n.has_value());
  CHECK(*n == ids.size());
  CHECK(buf == ids);
  auto small_buf = t.encode_to("The robot sorted 412 screws.", buf.data(), 3, true, false);
  REQUIRE_FALSE(small_buf.has_value());
  CHECK(small_buf.error().kind() == errc::out_of_memory);
  CHECK(contains(small_buf.error().message(), std::to_string(ids.size())));
}

TEST_CASE("GGUF round trip: write_vocab then from_gguf") {
  const auto bytes = gguf_bytes([](plm::gguf::writer&) {});
  auto f = plm::gguf::file::from_memory(bytes.data(), bytes.size());
  REQUIRE(f.has_value());
  CHECK(f->get<std::string_view>("tokenizer.ggml.model").value() == "gpt2");
  CHECK(f->get<std::string_view>("tokenizer.ggml.pre").value() == "qwen2");
  CHECK(f->get<uint32_t>("tokenizer.ggml.eos_token_id").value() == 511);
  auto t = tokenizer::from_gguf(*f);
  REQUIRE_MESSAGE(t.has_value(), t.error().message());
  CHECK(t->n_vocab() == 512);
  CHECK(t->eos_id() == 511);
  CHECK(t->bos_id() == 509);
  CHECK(t->pad_id() == 509);
  CHECK(t->chat_template() == plm::text::chatml_template);
  const std::string text = "The robot sorted 412 screws. <|im_end|> caf\xC3\xA9 \xE4\xB8\xAD";
  CHECK(t->encode(text).value() == small().encode(text).value());

  // Padding to the model's vocab_size with unused [PAD{i}] tokens.
  plm::gguf::writer w;
  REQUIRE(plm::text::write_vocab(w, small_spec(), 600).has_value());
  const auto padded = w.write_memory().value();
  auto pt = load(padded);
  REQUIRE(pt.has_value());
  CHECK(pt->n_vocab() == 600);
  CHECK(pt->token_text(599) == "[PAD599]");
  CHECK(pt->type(599) == token_type::unused);
  CHECK(pt->piece(599).empty());
  plm::gguf::writer w2;
  auto too_small = plm::text::write_vocab(w2, small_spec(), 100);
  REQUIRE_FALSE(too_small.has_value());
  CHECK(too_small.error().kind() == errc::invalid_argument);
}

TEST_CASE("bad vocabularies are rejected with an error naming the problem") {
  namespace g = plm::gguf;
  check_error([](g::writer& w) { w.set_array<int32_t>("tokenizer.ggml.tokens", {1, 2}); }, errc::type_mismatch,
              "tokenizer.ggml.tokens");
  check_error([](g::writer& w) { w.remove("tokenizer.ggml.tokens"); }, errc::missing, "tokenizer.ggml.tokens");
  check_error([](g::writer& w) { w.set_array<uint32_t>("tokenizer.ggml.token_type", std::vector<uint32_t>(512, 1)); },
              errc::type_mismatch, "tokenizer.ggml.token_type");
  check_error([](g::writer& w) { w.set_array<int32_t>("tokenizer.ggml.token_type", std::vector<int32_t>(300, 1)); },
              errc::invalid_format, "token_type has 300 entries");
  check_error(
      [](g::writer& w) {
        std::vector<int32_t> types(512, 1);
        types[7] = 9;
        w.set_array<int32_t>("tokenizer.ggml.token_type", types);
      },
      errc::invalid_format, "token 7 has token_type 9");
  check_error([](g::writer& w) { w.set_array<int32_t>("tokenizer.ggml.merges", {1}); }, errc::type_mismatch,
              "tokenizer.ggml.merges");
  check_error(
      [](g::writer& w) {
        std::vector<std::string> m = small_spec().merges;
        m[5] = "\xC4\xA0 zzzq";
        w.set_string_array("tokenizer.ggml.merges", m);
      },
      errc::missing, "'zzzq', which is not a token");
  check_error(
      [](g::writer& w) {
        std::vector<std::string> m = small_spec().merges;
        m[0] = "abc";
        w.set_string_array("tokenizer.ggml.merges", m);
      },
      errc::invalid_format, "merge 0 'abc' is not two tokens");
  check_error(
      [](g::writer& w) {
        std::vector<std::string> m = small_spec().merges;
        m.push_back("\xC4\x80 \xC4\x80");  // byte 0x00 twice: "ĀĀ" is no token
        w.set_string_array("tokenizer.ggml.merges", m);
      },
      errc::missing, "which is not a token");
  check_error(
      [](g::writer& w) {
        std::vector<std::string> t = small_spec().tokens;
        t[0] = "XYZ";  // the token for byte '!' disappears
        t.resize(512);
        w.set_string_array("tokenizer.ggml.tokens", t);
      },
      errc::missing, "byte 0x21");
  check_error([](g::writer& w) { w.set_u32("tokenizer.ggml.bos_token_id", 100000); }, errc::out_of_range,
              "bos token id 100000");
  check_error([](g::writer& w) { w.set_u32("tokenizer.ggml.eos_token_id", 512); }, errc::out_of_range, "eos");
  check_error([](g::writer& w) { w.set_string("tokenizer.ggml.padding_token_id", "x"); }, errc::type_mismatch,
              "tokenizer.ggml.padding_token_id");
  check_error([](g::writer& w) { w.set_string("tokenizer.ggml.pre", "llama3"); }, errc::unsupported, "'llama3'");
  check_error([](g::writer& w) { w.remove("tokenizer.ggml.pre"); }, errc::missing, "tokenizer.ggml.pre");
  check_error([](g::writer& w) { w.set_string("tokenizer.ggml.model", "llama"); }, errc::unsupported, "'llama'");
  check_error([](g::writer& w) { w.set_u32("tokenizer.ggml.add_bos_token", 1); }, errc::type_mismatch,
              "tokenizer.ggml.add_bos_token");
  check_error([](g::writer& w) { w.set_string_array("tokenizer.ggml.tokens", std::vector<std::string>{}); },
              errc::invalid_format, "no tokens");
  // Every error says it came from the tokenizer.
  check_error([](g::writer& w) { w.remove("tokenizer.ggml.model"); }, errc::missing, "GGUF tokenizer");

  // Signed ids are accepted; token_type may be absent (all normal).
  auto ok = load(gguf_bytes([](g::writer& w) {
    w.set_i32("tokenizer.ggml.eos_token_id", 510);
    w.remove("tokenizer.ggml.token_type");
  }));
  REQUIRE_MESSAGE(ok.has_value(), ok.error().message());
  CHECK(ok->eos_id() == 510);
  CHECK(ok->is_eog(511));  // <|im_end|> by its text, forced to control
  CHECK(ok->type(511) == token_type::control);
  CHECK(ok->type(510) == token_type::normal);
}

TEST_CASE("from_spec validates like from_gguf") {
  vocab_spec s = small_spec();
  s.pre = "gpt2";
  auto t = tokenizer::from_spec(s);
  REQUIRE_FALSE(t.has_value());
  CHECK(t.error().kind() == errc::unsupported);
  s = small_spec();
  s.eos_id = 9999;
  CHECK(tokenizer::from_spec(s).error().kind() == errc::out_of_range);
}

TEST_CASE("llama.cpp fixture: ids of the README prompt (external check)") {
  const std::vector<int32_t> expected = {51, 258, 220, 305, 65, 313, 264, 273, 83, 276,
                                         220, 19, 16, 17, 264, 66, 260, 86, 82, 13};
  for (const char* name : {"plm-tiny-f32.gguf", "plm-tiny-q8_0.gguf"}) {
    auto f = plm::gguf::file::open(std::string(PLM_TEST_DATA_DIR) + "/" + name);
    REQUIRE_MESSAGE(f.has_value(), f.error().message());
    auto t = tokenizer::from_gguf(*f);
    REQUIRE_MESSAGE(t.has_value(), t.error().message());
    auto ids = t->encode("The robot sorted 412 screws.", true, false);
    REQUIRE(ids.has_value());
    CHECK(*ids == expected);
    CHECK(t->decode(*ids).value() == "The robot sorted 412 screws.");
    CHECK_FALSE(t->add_bos());
    CHECK(t->encode("The robot sorted 412 screws.").value() == expected);
    CHECK(t->piece(434) == "[T434]");  // llama.cpp renders the filler tokens as their text
  }
}

TEST_CASE("JSON reader: escapes, surrogate pairs, errors with offsets, depth limit") {
  using plm::text::detail::parse_json;
  auto v = parse_json(R"({"a": [1, -2.5e3, true, false, null], "s": "x\n\t\"\\\/\u00e9\ud83d\ude00"})");
  REQUIRE_MESSAGE(v.has_value(), v.error().message());
  CHECK(v->find("a")->items().size() == 5);
  CHECK(v->find("a")->items()[1].as_number() == -2500.0);
  CHECK(v->find("a")->items()[2].as_bool());
  CHECK(v->find("a")->items()[4].is_null());
  CHECK(v->find("s")->as_string() == "x\n\t\"\\/\xC3\xA9\xF0\x9F\x98\x80");
  CHECK(v->find("missing") == nullptr);
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "\"\\ud800\"", "\"\\udc00x\"", "\"\\ud800\\u0041\"",
                          "\"a\nb\"", "\"\\x\"", "01", "1.", "[1] x", "tru", "\"\xFF\"", "\"abc"}) {
    auto r = parse_json(bad);
    CHECK_MESSAGE(!r.has_value(), bad);
    if (!r.has_value()) CHECK(r.error().kind() == errc::invalid_format);
  }
  const std::string deep = std::string(200, '[') + std::string(200, ']');
  auto d = parse_json(deep);
  REQUIRE_FALSE(d.has_value());
  CHECK(contains(d.error().message(), "deeper"));
  CHECK(parse_json(std::string(100, '[') + std::string(100, ']')).has_value());
}

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') (out += '\\') += c;
    else if (b < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", b);
      out += buf;
    } else out += c;
  }
  return out + "\"";
}

// A tokenizer.json for the small vocabulary, merges as pairs or as strings.
std::string hf_json(const vocab_spec& v, bool pair_merges, const std::string& regex) {
  std::string j = "{\"version\": \"1.0\", \"added_tokens\": [";
  for (size_t i = 509; i < 512; ++i)
    j += "{\"id\": " + std::to_string(i) + ", \"content\": " + json_string(v.tokens[i]) + ", \"special\": true},";
  j += "{\"id\": 512, \"content\": \"<|box_start|>\", \"special\": true}],";
  j += "\"normalizer\": {\"type\": \"NFC\"}, \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": "
       "[{\"type\": \"Split\", \"pattern\": {\"Regex\": " + json_string(regex) + "}}, {\"type\": \"ByteLevel\"}]},";
  j += "\"model\": {\"type\": \"BPE\", \"vocab\": {";
  for (size_t i = 0; i < 509; ++i) j += (i ? "," : "") + json_string(v.tokens[i]) + ": " + std::to_string(i);
  j += "}, \"merges\": [";
  for (size_t i = 0; i < v.merges.size(); ++i) {
    const std::string& m = v.merges[i];
    const size_t sp = m.find(' ', 1);
    j += i ? "," : "";
    j += pair_merges ? "[" + json_string(m.substr(0, sp)) + ", " + json_string(m.substr(sp + 1)) + "]" : json_string(m);
  }
  return j + "]}}";
}

}  // namespace

TEST_CASE("vocab_from_hf_tokenizer_json reads both merge spellings, keeps only PLM's specials") {
  const vocab_spec& v = small_spec();
  for (const bool pairs : {true, false}) {
    const std::string path = std::string(PLM_TEST_BINARY_DIR) + "/tokenizer-small" + (pairs ? "-pairs" : "") + ".json";
    std::ofstream(path, std::ios::binary) << hf_json(v, pairs, plm::text::qwen2_split_regex);
    auto got = plm::text::vocab_from_hf_tokenizer_json(path);
    REQUIRE_MESSAGE(got.has_value(), got.error().message());
    CHECK(got->tokens == v.tokens);  // <|box_start|> (id 512) is skipped
    CHECK(got->merges == v.merges);
    CHECK(got->token_types == v.token_types);
    CHECK(got->eos_id == v.eos_id);
    CHECK(got->bos_id == v.bos_id);
    CHECK(plm::text::is_chatml_template(got->chat_template));
  }
  const std::string path = std::string(PLM_TEST_BINARY_DIR) + "/tokenizer-gpt2-regex.json";
  std::ofstream(path, std::ios::binary) << hf_json(v, true, "'s|'t| ?\\p{L}+");
  auto wrong = plm::text::vocab_from_hf_tokenizer_json(path);
  REQUIRE_FALSE(wrong.has_value());
  CHECK(wrong.error().kind() == errc::unsupported);
  auto missing = plm::text::vocab_from_hf_tokenizer_json(std::string(PLM_TEST_BINARY_DIR) + "/no-such-file.json");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().kind() == errc::io_error);
}
