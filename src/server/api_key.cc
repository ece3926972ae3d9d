#include "server/api_key.h"

#include <cctype>
#include <cstdint>

namespace gemma_rt::server {

bool ConstantTimeEquals(std::string_view given, std::string_view secret) {
  // Every byte of the given key is compared (against the secret repeated), and the length
  // difference is folded into the result: the loop's length is the client's, never the
  // secret's.
  volatile uint8_t diff = given.size() == secret.size() ? 0 : 1;
  if (secret.empty()) return false;
  for (size_t i = 0; i < given.size(); ++i) {
    diff = diff | static_cast<uint8_t>(given[i] ^ secret[i % secret.size()]);
  }
  return diff == 0;
}

std::string_view BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return {};
  }
  std::string_view key = authorization.substr(kScheme.size());
  while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
  while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
  return key;
}

}  // namespace gemma_rt::server
