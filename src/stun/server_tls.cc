#include "stun/server_tls.h"

#include <stdexcept>

#include "identity/tls_context.h"

namespace ugate::stun {

namespace ssl = boost::asio::ssl;

std::unique_ptr<ssl::context> tls_server_context(const ListenerConfig& l) {
  auto tls = std::make_unique<ssl::context>(ssl::context::tls_server);
  tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  public_server_policy(tls->native_handle());
  boost::system::error_code ec;
  tls->use_certificate_chain_file(l.tls_cert, ec);
  if (ec) throw std::runtime_error("listener '" + l.name + "': tls.cert " + l.tls_cert + ": " + ec.message());
  tls->use_private_key_file(l.tls_key, ssl::context::pem, ec);
  if (ec) throw std::runtime_error("listener '" + l.name + "': tls.key " + l.tls_key + ": " + ec.message());
  return tls;
}

}  // namespace ugate::stun
