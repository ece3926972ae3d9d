#include "server/json_body.h"

#include <algorithm>
#include <string>

#include "server/api_error.h"

namespace gemma_rt::server {
namespace {

// The deepest nesting of arrays and objects, strings skipped; stops counting past `limit`.
size_t NestingDepth(std::string_view text, size_t limit) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

}  // namespace

nlohmann::json ParseJsonBody(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    throw ApiError(400, "the request body is empty: expected a JSON object");
  }
  if (NestingDepth(body, kMaxJsonDepth) > kMaxJsonDepth) {
    throw ApiError(400, "the request body nests arrays or objects deeper than " +
                            std::to_string(kMaxJsonDepth) + " levels");
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    // "[json.exception.parse_error.101] parse error at ..." -> "parse error at ...".
    std::string what = e.what();
    if (const size_t end = what.find("] "); what.rfind("[json.", 0) == 0 && end != what.npos) {
      what.erase(0, end + 2);
    }
    throw ApiError(400, "the request body is not valid JSON: " + what);
  }
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
  return j;
}

}  // namespace gemma_rt::server
