// The API key check: "Authorization: Bearer KEY", compared in time that does not depend on
// where the given key first differs (nor on the secret's length), so a client cannot find
// the key byte by byte from response times.
#pragma once

#include <string_view>

namespace gemma_rt::server {

bool ConstantTimeEquals(std::string_view given, std::string_view secret);

// The key of an "Authorization" header value ("Bearer KEY", scheme case-insensitive); ""
// when the header has another form.
std::string_view BearerToken(std::string_view authorization);

}  // namespace gemma_rt::server
