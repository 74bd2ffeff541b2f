#pragma once
// Hand-built DNS messages for the codec, cache and mesh-name tests.
#include <cstdint>
#include <string_view>
#include <vector>

#include "dns/message.h"

namespace ugate::dns::test {

// The name as written (its case kept: name_from_text would lower it).
inline void put_name(std::vector<uint8_t>& m, std::string_view text) {
  while (!text.empty()) {
    size_t dot = text.find('.');
    std::string_view label = text.substr(0, dot);
    m.push_back(static_cast<uint8_t>(label.size()));
    m.insert(m.end(), label.begin(), label.end());
    text = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  }
  m.push_back(0);
}
inline void put_u16(std::vector<uint8_t>& m, uint16_t v) {
  m.push_back(static_cast<uint8_t>(v >> 8));
  m.push_back(static_cast<uint8_t>(v));
}
inline void put_u32(std::vector<uint8_t>& m, uint32_t v) {
  put_u16(m, static_cast<uint16_t>(v >> 16));
  put_u16(m, static_cast<uint16_t>(v));
}

// A query for `name` and `type`, RD set; with an OPT record of `udp_size` when non-zero.
inline std::vector<uint8_t> query(std::string_view name, uint16_t type, uint16_t id = 0x1234, uint16_t udp_size = 0) {
  std::vector<uint8_t> m;
  put_u16(m, id);
  put_u16(m, 0x0100);
  put_u16(m, 1);
  put_u16(m, 0);
  put_u16(m, 0);
  put_u16(m, udp_size ? 1 : 0);
  put_name(m, name);
  put_u16(m, type);
  put_u16(m, kClassIn);
  if (udp_size) {
    m.push_back(0);
    put_u16(m, kOpt);
    put_u16(m, udp_size);
    put_u32(m, 0);
    put_u16(m, 0);
  }
  return m;
}

// An upstream's answer to `q`: `answers` A records of `ttl` (owner: a pointer to the question).
inline std::vector<uint8_t> a_answer(const std::vector<uint8_t>& q, int answers, uint32_t ttl, uint8_t rcode = 0) {
  std::vector<uint8_t> m(q.begin(), q.end());
  m[2] = 0x81;
  m[3] = static_cast<uint8_t>(0x80 | rcode);
  m[6] = 0;
  m[7] = static_cast<uint8_t>(answers);
  m[10] = m[11] = 0;
  auto parsed = parse_query(q);
  m.resize(parsed->question_end);
  for (int i = 0; i < answers; ++i) {
    put_u16(m, 0xc00c);
    put_u16(m, kA);
    put_u16(m, kClassIn);
    put_u32(m, ttl + static_cast<uint32_t>(i));
    put_u16(m, 4);
    for (int b : {10, 0, 0, i + 1}) m.push_back(static_cast<uint8_t>(b));
  }
  return m;
}

}  // namespace ugate::dns::test
