// hello - the smallest complete plm program: load a model, stream a continuation.
//   hello MODEL.gguf "Once upon a time"
#include <cstdio>
#include <string_view>

#include "plm/plm.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL.gguf PROMPT\n", argv[0]);
    return 1;
  }
  auto model = plm::model::load(argv[1]);
  if (!model) return std::fprintf(stderr, "%s\n", model.error().to_string().c_str()), 1;

  plm::session_options options;
  options.n_ctx = 1024;
  options.n_threads = 2;
  auto session = plm::session::create(*model, options);
  if (!session) return std::fprintf(stderr, "%s\n", session.error().to_string().c_str()), 1;

  plm::generate_options gen;
  gen.n_predict = 64;
  gen.on_piece = [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;  // false stops generation
  };
  auto result = plm::generate(*session, argv[2], gen);
  if (!result) return std::fprintf(stderr, "\n%s\n", result.error().to_string().c_str()), 1;
  std::printf("\n");
  return 0;
}
