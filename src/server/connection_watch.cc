#include "server/connection_watch.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <string_view>

namespace gemma_rt::server {
namespace {

// The numeric host and port of an address, as cpp-httplib writes them (getnameinfo).
bool HostPort(const sockaddr_storage& addr, socklen_t len, std::string* host, int* port) {
  char buffer[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, buffer, sizeof buffer, nullptr, 0,
                  NI_NUMERICHOST) != 0) {
    return false;
  }
  *host = buffer;
  if (addr.ss_family == AF_INET) {
    *port = ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
  } else if (addr.ss_family == AF_INET6) {
    *port = ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  } else {
    return false;
  }
  return true;
}

bool Matches(int fd, bool local, const std::string& host, int port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  const int rc = local ? getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                       : getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::string h;
  int p = -1;
  return rc == 0 && HostPort(addr, len, &h, &p) && p == port && h == host;
}

}  // namespace

ConnectionWatch::ConnectionWatch(const std::string& local_addr, int local_port,
                                 const std::string& remote_addr, int remote_port) {
  if (remote_port <= 0) return;
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  const int own = dirfd(dir);
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || fd == own || fd < 0) continue;
    // The peer's address alone is unique among this server's connections; the local one is
    // checked too when known.
    if (Matches(static_cast<int>(fd), /*local=*/false, remote_addr, remote_port) &&
        (local_port <= 0 ||
         Matches(static_cast<int>(fd), /*local=*/true, local_addr, local_port))) {
      fd_ = static_cast<int>(fd);
      break;
    }
  }
  closedir(dir);
}

bool ConnectionWatch::PeerClosed() const {
  if (fd_ < 0) return false;
  pollfd p{.fd = fd_, .events = POLLIN | POLLRDHUP, .revents = 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL | POLLRDHUP)) return true;
  char byte;
  const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;  // end of stream
  return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace gemma_rt::server
