#pragma once
// The node's certificate, its renewals, and the CA's requests.
#include "base/metric_registry.h"

namespace ugate {

class MeshIdentity;
class IdentityRenewer;
class CaService;

// Each may be null (no identity, no renewer, no CA): its families are left out.
void register_identity_metrics(MetricRegistry& registry, const MeshIdentity* identity, const IdentityRenewer* renewer,
                               const CaService* ca);

}  // namespace ugate
