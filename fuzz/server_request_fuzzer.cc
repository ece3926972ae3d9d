// The server's request parsing (src/server): any body, for any endpoint, is parsed into a
// request or refused with ApiError (a 400); nothing else may escape, crash or run away.
// The first byte picks the endpoint: completions, chat, tokenize, detokenize.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/api_error.h"
#include "server/json_body.h"
#include "server/request_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  const gemma_rt::server::RequestLimits limits;
  try {
    const nlohmann::json j = gemma_rt::server::ParseJsonBody(body);
    switch (data[0] % 4) {
      case 0:
        gemma_rt::server::ParseCompletionRequest(j, limits);
        break;
      case 1:
        gemma_rt::server::ParseChatRequest(j, limits);
        break;
      case 2:
        gemma_rt::server::ParseTokenizeRequest(j);
        break;
      default:
        gemma_rt::server::ParseDetokenizeRequest(j, limits.max_prompt_ids);
        break;
    }
  } catch (const gemma_rt::server::ApiError& e) {
    if (e.status() != 400) __builtin_trap();  // a parser only ever says "bad request"
  }
  return 0;
}
