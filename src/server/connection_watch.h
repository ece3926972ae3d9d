// Tells whether the client of an HTTP request has gone away, while the server waits for the
// engine. cpp-httplib 0.11 (Debian 12) offers no way to ask: Request has no
// is_connection_closed(), and DataSink::is_writable() only polls for POLLOUT, which a socket
// whose peer closed still reports (a write fails only after the peer's reset comes back,
// and a non-streamed response, or a stream still in its prompt, writes nothing for a long
// time). So the watch finds the connection's socket by its two addresses (the handler runs
// on the thread that owns that socket, so it stays open and unique while the handler runs)
// and peeks at it: end of stream or an error means the client is gone.
#pragma once

#include <string>

namespace gemma_rt::server {

class ConnectionWatch {
 public:
  // The addresses cpp-httplib puts in Request (local_addr/local_port, remote_addr/
  // remote_port). When the socket cannot be found the watch never reports a disconnect.
  ConnectionWatch(const std::string& local_addr, int local_port, const std::string& remote_addr,
                  int remote_port);
  bool found() const { return fd_ >= 0; }
  // True once the peer has closed or reset the connection. Bytes the client sent after its
  // request (a pipelined request) are left unread.
  bool PeerClosed() const;

 private:
  int fd_ = -1;
};

}  // namespace gemma_rt::server
