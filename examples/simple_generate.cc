// The smallest complete use of gemma-rt's API: load a model, prefill a prompt, stream a
// reply. Usage: example_simple_generate MODEL_DIR [PROMPT]
// A model directory without a tokenizer (like the golden test cases) takes ids instead:
// example_simple_generate MODEL_DIR --ids 2,17,33
#include <cstdio>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

#include "gemma_rt/gemma_rt.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [PROMPT | --ids 2,17,33]\n", argv[0]);
    return 2;
  }
  try {
    const gemma_rt::Model model = gemma_rt::Model::Load({.path = argv[1]});
    gemma_rt::Session session(model, {.context = 2048});

    if (argc >= 4 && std::string(argv[2]) == "--ids") {
      std::vector<int32_t> ids;
      std::istringstream list(argv[3]);
      for (std::string item; std::getline(list, item, ',');) ids.push_back(std::stoi(item));
      session.Prefill(ids);  // used exactly as given
    } else {
      session.PrefillText(argc >= 3 ? argv[2] : "Write me a poem about Machine Learning.");
    }

    const gemma_rt::GenerateResult result =
        session.Generate({.max_tokens = 64, .sampling = {.temperature = 0.0f}},  // greedy
                         [&](int32_t id, std::string_view text) {
                           if (model.has_tokenizer()) {
                             std::fwrite(text.data(), 1, text.size(), stdout);
                           } else if (id >= 0) {
                             std::printf("%d ", id);
                           }
                           std::fflush(stdout);
                           return true;  // return false to stop early
                         });
    std::printf("\n[%zu tokens, stopped by %s, %.1f tokens/s]\n", result.ids.size(),
                gemma_rt::StopReasonName(result.stop_reason), result.decode_tokens_per_second);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
