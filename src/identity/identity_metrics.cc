#include "identity/identity_metrics.h"

#include <chrono>

#include "identity/ca_service.h"
#include "identity/mesh_identity.h"
#include "identity/renewer.h"

namespace ugate {

void register_identity_metrics(MetricRegistry& r, const MeshIdentity* identity, const IdentityRenewer* renewer,
                               const CaService* ca) {
  if (!identity) return;
  r.add_value("ugate_identity_cert_expiry_timestamp_seconds", MetricType::kGauge,
              "When the node's certificate expires (Unix time).", [identity] {
                return static_cast<uint64_t>(std::chrono::system_clock::to_time_t(identity->state()->id->not_after));
              });
  if (renewer) {
    r.add("ugate_identity_renewals_total", MetricType::kCounter,
          "Certificate renewals (or reloads of files managed outside), by result.", [renewer](MetricSamples& s) {
            s.add(label("result", "ok"), renewer->renewed());
            s.add(label("result", "error"), renewer->failed());
          });
  }
  if (ca) {
    r.add("ugate_ca_requests_total", MetricType::kCounter, "CSRs to this node's CA on the mesh port, by result.",
          [ca](MetricSamples& s) {
            s.add(label("result", "issued"), ca->issued());
            s.add(label("result", "refused"), ca->refused());
          });
  }
}

}  // namespace ugate
