// plm-tokenize - print the token ids (or pieces) of a text with a model's vocabulary.
//
//   plm-tokenize -m model.gguf -p "The robot sorted 412 screws."
//   plm-tokenize -m model.gguf -f prompt.txt --pieces
//
// Special-token text such as <|im_start|> becomes one control token unless
// --no-parse-special is given. Exit status: 0 done, 1 the model or file could
// not be read, 2 bad command line.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "plm/gguf/reader.hpp"
#include "plm/text/tokenizer.hpp"
#include "plm/text/unicode.hpp"

namespace {

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: plm-tokenize -m MODEL.gguf (-p TEXT | -f FILE) [options]\n"
               "Prints the token ids of TEXT, space-separated on one line.\n"
               "\n"
               "  -m, --model PATH       GGUF file whose vocabulary to use (required)\n"
               "  -p, --prompt TEXT      text to tokenize\n"
               "  -f, --file PATH        read the text from a file (bytes as they are)\n"
               "  --pieces               print one token per line: id, tab, quoted piece\n"
               "  --no-parse-special     treat special-token text (<|im_start|>...) as plain text\n"
               "  --bos, --no-bos        add BOS or not (default: the model's tokenizer.ggml.add_bos_token)\n"
               "  -h, --help             this text\n");
}

[[noreturn]] void fail_usage(const std::string& msg) {
  std::fprintf(stderr, "plm-tokenize: %s\n(see plm-tokenize --help)\n", msg.c_str());
  std::exit(2);
}

bool read_file(const std::string& path, std::string& out) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const bool ok = !std::ferror(f);
  std::fclose(f);
  return ok;
}

// Piece as a single-quoted line: valid UTF-8 as is, control bytes and bytes
// that are not valid UTF-8 on their own as \n, \t, \xNN.
std::string quote(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size();) {
    const plm::text::utf8_unit u = plm::text::decode_utf8(s, i);
    const auto b = static_cast<unsigned char>(s[i]);
    if (!u.valid || b < 0x20 || b == 0x7F || b == '\'' || b == '\\') {
      char esc[8];
      if (b == '\n') std::strcpy(esc, "\\n");
      else if (b == '\r') std::strcpy(esc, "\\r");
      else if (b == '\t') std::strcpy(esc, "\\t");
      else if (b == '\'' || b == '\\') std::snprintf(esc, sizeof esc, "\\%c", b);
      else std::snprintf(esc, sizeof esc, "\\x%02X", b);
      out += esc;
      ++i;
    } else {
      out.append(s.substr(i, u.len));
      i += u.len;
    }
  }
  return out + "'";
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, text, file;
  bool have_text = false, pieces = false, parse_special = true;
  int bos = -1;  // -1: the model's default
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> const char* {
      if (i + 1 >= argc) fail_usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "-m" || a == "--model") model = value();
    else if (a == "-p" || a == "--prompt") {
      text = value();
      have_text = true;
    } else if (a == "-f" || a == "--file") file = value();
    else if (a == "--pieces") pieces = true;
    else if (a == "--no-parse-special") parse_special = false;
    else if (a == "--bos") bos = 1;
    else if (a == "--no-bos") bos = 0;
    else if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else fail_usage("unknown option '" + a + "'");
  }
  if (model.empty()) fail_usage("-m MODEL is required");
  if (have_text == !file.empty()) fail_usage("give exactly one of -p TEXT and -f FILE");
  if (!file.empty() && !read_file(file, text)) {
    std::fprintf(stderr, "plm-tokenize: cannot read '%s': %s\n", file.c_str(), std::strerror(errno));
    return 1;
  }

  auto f = plm::gguf::file::open(model);
  if (!f) {
    std::fprintf(stderr, "plm-tokenize: %s: %s\n", model.c_str(), f.error().to_string().c_str());
    return 1;
  }
  auto tok = plm::text::tokenizer::from_gguf(*f);
  if (!tok) {
    std::fprintf(stderr, "plm-tokenize: %s: %s\n", model.c_str(), tok.error().to_string().c_str());
    return 1;
  }
  const bool add_bos = bos < 0 ? tok->add_bos() : bos == 1;
  auto ids = tok->encode(text, parse_special, add_bos);
  if (!ids) {
    std::fprintf(stderr, "plm-tokenize: %s\n", ids.error().to_string().c_str());
    return 1;
  }
  if (pieces) {
    for (const int32_t id : *ids) std::printf("%d\t%s\n", id, quote(tok->piece(id)).c_str());
  } else {
    std::string line;
    for (const int32_t id : *ids) {
      if (!line.empty()) line += ' ';
      line += std::to_string(id);
    }
    std::printf("%s\n", line.c_str());
  }
  return 0;
}
