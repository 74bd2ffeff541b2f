#include "identity/ca_service.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "identity/identity.h"

namespace ugate {

boost::asio::awaitable<CaResponse> CaService::handle(CaRequest request, ossl::Cert peer) {
  auto work = [this, request = std::move(request), peer = std::move(peer)]() -> boost::asio::awaitable<CaResponse> {
    co_return sign(request, peer.get());
  };
  co_return co_await boost::asio::co_spawn(control_, std::move(work), boost::asio::use_awaitable);
}

CaResponse CaService::sign(const CaRequest& request, X509* peer) {
  auto refuse = [this](int status, std::string why) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("ca: refused a request ({}): {}", status, why);
    return CaResponse{status, std::move(why)};
  };
  ossl::Csr csr;
  try {
    csr = parse_csr(request.csr, "the request body");
  } catch (const AuthError& e) {
    return refuse(400, e.what());
  }
  std::optional<SpiffeId> id;
  std::vector<std::string> dns;
  if (peer) {
    // Renewal: the same identity again, for a certificate this CA issued.
    auto peer_id = spiffe_id_of(peer);
    if (!peer_id || !ca_.issued(peer) || peer_id->trust_domain != ca_.trust_domain())
      return refuse(403, "the client certificate was not issued by this CA");
    id = *peer_id;
    dns = inspect(peer).dns;
  } else {
    if (request.token.empty()) return refuse(401, "a bootstrap token is required (Authorization: Bearer <token>)");
    // Consumed here, after the CSR parsed: a typo in a request does not burn a token.
    auto grant = ca_.redeem_token(request.token);
    if (!grant) return refuse(401, "unknown, used or expired token");
    id = workload_spiffe_id(ca_.trust_domain(), grant->ns, grant->name);
    dns = grant->dns.empty() ? std::vector<std::string>{grant->name} : grant->dns;
  }
  try {
    ossl::Certs chain = ca_.sign_csr(csr.get(), id, dns, ttl_);
    issued_.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("ca: issued {} ({})", id->str(), peer ? "renewal" : "bootstrap token");
    nlohmann::json reply = {{"cert_chain", to_pem(chain)}, {"root_cert", to_pem(ca_.roots())}};
    return CaResponse{200, reply.dump()};
  } catch (const AuthError& e) {
    return refuse(400, e.what());
  }
}

}  // namespace ugate
