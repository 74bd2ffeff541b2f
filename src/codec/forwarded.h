#pragma once
// The Forwarded request header (RFC 7239) that HBONE CONNECTs carry: who the
// original client of a stream is. Peers write it differently:
//
//   ztunnel           for=10.0.0.5                 for="[2001:db8::1]"   (no port)
//   ugate, others     for="10.0.0.5:4711"          for="[2001:db8::1]:4711"
//   after N proxies   for=10.0.0.5, for="10.1.0.1:9";proto=https;by=_gw
//
// Grammar (RFC 7239 section 4; token and quoted-string from RFC 7230):
//   Forwarded         = 1#forwarded-element            elements split by ","
//   forwarded-element = [ pair ] *( ";" [ pair ] )     pair = token "=" ( token / quoted-string )
//   node (for=, by=)  = nodename [ ":" node-port ]
//   nodename          = IPv4address / "[" IPv6address "]" / "unknown" / obfnode ("_" ...)
//   node-port         = 1*5DIGIT / obfport ("_" ...)
// Parameter names are case-insensitive; a quoted-string may hold "," and ";".
#include <optional>
#include <string_view>

#include "base/meta.h"

namespace ugate {

// The original client: the `for` node of the header's first element. Its
// port when it gives one, else port 0 (unknown: ztunnel sends none). nullopt
// when the header is malformed, or the first element has no `for`, or that
// node is `unknown` or obfuscated (`_hidden`): the first element is the
// client's own hop, so a later element would name a proxy, not the client.
std::optional<TcpEndpoint> forwarded_client(std::string_view header);

}  // namespace ugate
