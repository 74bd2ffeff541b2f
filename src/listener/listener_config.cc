#include "listener/listener_config.h"

#include <openssl/crypto.h>

namespace ugate {

bool allows(const ListenerConfig& l, const HostPort& destination) {
  return l.allow.routes().empty() || l.allow.match(destination.host, destination.port) != nullptr;
}

bool verify_user(const ListenerConfig& l, std::string_view user, std::string_view password) {
  for (const auto& u : l.users) {
    if (u.name != user) continue;
    return u.password.size() == password.size() &&
           CRYPTO_memcmp(u.password.data(), password.data(), password.size()) == 0;
  }
  return false;
}

}  // namespace ugate
