// A request body as a JSON object, or a 400 that says what is wrong with it. Nesting deeper
// than kMaxJsonDepth is refused before parsing (no request needs it, and a body of a million
// '[' must not cost a million-level tree).
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace gemma_rt::server {

inline constexpr size_t kMaxJsonDepth = 32;

// Throws ApiError(400) for an empty body, invalid JSON (invalid UTF-8 and raw control
// characters in strings included), nesting deeper than kMaxJsonDepth, or a non-object.
nlohmann::json ParseJsonBody(std::string_view body);

}  // namespace gemma_rt::server
