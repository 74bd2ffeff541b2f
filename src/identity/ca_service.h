#pragma once
// The gateway's CA endpoint: signs node CSRs that come over the mesh port,
// for a one-time bootstrap token (the identity the token grants) or for the
// holder of a certificate this CA issued (the same identity again: renewal).
// The signing (keys, token files) runs on the control thread, never on a worker.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>

#include "identity/ca.h"
#include "identity/ca_request.h"
#include "crypto/ossl.h"

namespace ugate {

class CaService {
 public:
  CaService(boost::asio::io_context& control, LocalCa ca, std::chrono::seconds ttl)
      : control_(control), ca_(std::move(ca)), ttl_(ttl) {}

  // Answers on the control thread; the caller resumes on its own executor.
  // `peer` is the client's verified certificate, or null (bootstrap).
  boost::asio::awaitable<CaResponse> handle(CaRequest request, ossl::Cert peer);
  // The decision and the signing themselves (tests call it directly).
  CaResponse sign(const CaRequest& request, X509* peer);

  const LocalCa& ca() const { return ca_; }
  // For /metrics: requests by outcome.
  uint64_t issued() const { return issued_.load(std::memory_order_relaxed); }
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  boost::asio::io_context& control_;
  LocalCa ca_;
  std::chrono::seconds ttl_;
  std::atomic<uint64_t> issued_{0};
  std::atomic<uint64_t> refused_{0};
};

}  // namespace ugate
