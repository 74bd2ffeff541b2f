// libFuzzer target: any bytes into the DNS codec, as a client's query (then
// the mesh names' answer, the cache and truncation, as the listener does) and
// as an upstream's answer (then stored and served from the cache). Nothing
// may crash or overrun, and every answer we write must itself parse.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "dns/cache.h"
#include "dns/mesh_answer.h"
#include "dns/message.h"
#include "mesh/virtual_addresses.h"

namespace {

using namespace ugate;
using namespace ugate::dns;

const MeshZone& zone() {
  static const std::vector<NodeConfig> nodes{
      NodeConfig{.name = "bob", .id = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst"}, NodeConfig{.name = "carol"}};
  static const VirtualAddresses v(nodes, Cidr{boost::asio::ip::make_address("240.240.0.0"), 16},
                                  Cidr{boost::asio::ip::make_address("fd00:0:0:53::"), 64});
  static const MeshZone z(v, "example.org", "mesh.internal", 30);
  return z;
}

void must_parse(const std::vector<uint8_t>& answer) {
  if (!parse_response(answer)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> msg(data, size);
  static Cache cache(64, 3600);
  std::vector<uint8_t> out;
  if (auto q = parse_query(msg)) {
    if (zone().answer(msg, *q, out)) must_parse(out);
    if (cache.find(msg, *q, 10, out)) must_parse(out);
    start_answer(out, msg, *q, kServFail, false);
    must_parse(out);
    truncate_answer(out, msg, *q);
    must_parse(out);
  } else if (auto h = parse_header(msg)) {
    header_only_answer(out, *h, kFormErr);
    if (!parse_header(out)) std::abort();
  }
  if (auto info = parse_response(msg)) {
    // As the answer to the question it carries.
    if (auto q = parse_query(msg); !q && info->header.qdcount == 1) {
      Query asked;
      asked.name = info->name;
      asked.type = info->type;
      asked.klass = info->klass;
      asked.question_end = info->question_end;
      Cache fresh(4, 3600);
      fresh.store(asked, msg, *info, 0);
      if (fresh.find(msg, asked, 1, out) && out.size() != msg.size()) std::abort();
    }
  }
  return 0;
}
