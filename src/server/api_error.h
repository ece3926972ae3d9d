// An error answered to an HTTP client in OpenAI's shape:
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "n", "code": null}}
// Thrown by the request parser and the handlers; the server turns it into the response.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace gemma_rt::server {

class ApiError : public std::runtime_error {
 public:
  // `param`: the request field at fault ("" when none); `code`: OpenAI's short code ("" when
  // none, e.g. "model_not_found", "context_length_exceeded").
  ApiError(int status, std::string message, std::string param = {}, std::string code = {});

  int status() const { return status_; }
  const std::string& param() const { return param_; }
  const std::string& code() const { return code_; }
  // OpenAI's type for the status: invalid_request_error (400, 404, 413),
  // authentication_error (401), rate_limit_error (429), server_error (500, 503).
  const char* type() const;
  nlohmann::json ToJson() const;

 private:
  int status_;
  std::string param_;
  std::string code_;
};

// A 400 naming the field: "'<param>': <what>".
ApiError BadField(const std::string& param, const std::string& what);

}  // namespace gemma_rt::server
