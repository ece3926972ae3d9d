// POST /v1/completions and /v1/chat/completions: parse, tokenize and check the request,
// run its choices on the engine, and answer whole or as a server-sent event stream. The HTTP
// thread waits on the engine in short slices and cancels the request when its client goes
// away or the server stops, so no abandoned request keeps a slot or KV blocks.
#pragma once

#include <httplib.h>

#include "server/completion_request.h"
#include "server/server_state.h"

namespace gemma_rt::server {

// Throws ApiError for what the client got wrong (the caller answers it).
void HandleCompletion(ServerState& state, const httplib::Request& request,
                      httplib::Response& response, Endpoint endpoint);

}  // namespace gemma_rt::server
