#pragma once
// SPIFFE IDs (spiffe://trust-domain/path), the form ugate gives its nodes:
// spiffe://<trust-domain>/ns/<namespace>/sa/<name>, as Istio does.
#include <optional>
#include <string>
#include <string_view>

namespace ugate {

struct SpiffeId {
  std::string trust_domain;  // lower case
  std::string path;          // "/ns/default/sa/node1"; may be empty

  std::string str() const { return "spiffe://" + trust_domain + path; }
  // The namespace and name of an /ns/<ns>/sa/<name> path, "" otherwise.
  std::string ns() const;
  std::string name() const;
};

// Parses by the SPIFFE rules (scheme, trust domain of [a-z0-9.-_], path
// segments of [A-Za-z0-9.-_] with no empty, "." or ".." segment); nullopt if invalid.
std::optional<SpiffeId> parse_spiffe_id(std::string_view text);
SpiffeId workload_spiffe_id(std::string trust_domain, std::string_view ns, std::string_view name);

// "" when valid, else what is wrong (for config errors).
std::string check_trust_domain(std::string_view td);
std::string check_path_segment(std::string_view segment);

}  // namespace ugate
