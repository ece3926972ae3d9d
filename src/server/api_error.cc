#include "server/api_error.h"

namespace gemma_rt::server {

ApiError::ApiError(int status, std::string message, std::string param, std::string code)
    : std::runtime_error(std::move(message)),
      status_(status),
      param_(std::move(param)),
      code_(std::move(code)) {}

const char* ApiError::type() const {
  switch (status_) {
    case 401:
      return "authentication_error";
    case 429:
      return "rate_limit_error";
    case 503:
      return "unavailable_error";
    default:
      return status_ >= 500 ? "server_error" : "invalid_request_error";
  }
}

nlohmann::json ApiError::ToJson() const {
  using Json = nlohmann::json;
  return {{"error",
           {{"message", what()},
            {"type", type()},
            {"param", param_.empty() ? Json(nullptr) : Json(param_)},
            {"code", code_.empty() ? Json(nullptr) : Json(code_)}}}};
}

ApiError BadField(const std::string& param, const std::string& what) {
  return ApiError(400, "'" + param + "': " + what, param);
}

}  // namespace gemma_rt::server
