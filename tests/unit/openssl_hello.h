#pragma once
// A real ClientHello for the tests that read one (tls_hello, sniff).
#include <cstdint>
#include <string>
#include <vector>

namespace ugate::testing_data {

// Sent by `openssl s_client -servername a.test -alpn h2,http/1.1` (OpenSSL
// 3.0, TLS 1.3), captured on loopback.
inline const char* const kOpensslHello =
    "1603010145010001410303e9c35cdd175a13b96ad2cfea99fe1980e7d7e9ed85e9d85e2c73ae71aa1a036c204bd69dc2b5cc"
    "ed445bd28facba1ac84637ee17f076e363abd2dd3500ea176986003e130213031301c02cc030009fcca9cca8ccaac02bc02f"
    "009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f00ff010000ba0000000b0009"
    "000006612e74657374000b000403000102000a00160014001d0017001e001900180100010101020103010400230000001000"
    "0e000c02683208687474702f312e310016000000170000000d002a0028040305030603080708080809080a080b0804080508"
    "06040105010601030303010302040205020602002b0009080304030303020301002d00020101003300260024001d00202231"
    "8270f54b9f2555af1d79bb7fae7f0905169bb9ad1dedb949c8f15280816b";

inline std::vector<uint8_t> unhex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

}  // namespace ugate::testing_data
