#pragma once
// What a node's public key names: its node ID and its VIP6 address.
#include <openssl/evp.h>

#include <array>
#include <boost/asio/ip/address_v6.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ugate {

// RFC 4648 base32 with the standard alphabet in lower case ("a".."z",
// "2".."7"), no padding: the friendlier form in host names and logs.
std::string base32_lower(std::span<const uint8_t> data);

// base32_lower(SHA-256(uncompressed public key)): 52 characters; "" for
// keys that are not P-256 (an existing PKI's RSA certificates).
std::string node_id_of(EVP_PKEY* key);

// fd00::/64 + the last 8 bytes of the uncompressed public key; :: for other keys.
boost::asio::ip::address_v6 vip6_of(EVP_PKEY* key);

}  // namespace ugate
