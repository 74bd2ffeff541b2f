#include "runtime/socket_protect.h"

#include <atomic>

namespace ugate {
namespace {
std::atomic<SocketProtector> protector{nullptr};
std::atomic<void*> protector_user{nullptr};
}  // namespace

void set_socket_protector(SocketProtector fn, void* user) {
  protector_user.store(user, std::memory_order_relaxed);
  protector.store(fn, std::memory_order_release);
}

bool protect_socket(int fd) {
  SocketProtector fn = protector.load(std::memory_order_acquire);
  return !fn || fn(fd, protector_user.load(std::memory_order_relaxed)) == 0;
}

}  // namespace ugate
