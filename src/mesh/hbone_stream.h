#pragma once
// An HBONE request stream as the door sees it, whatever carries it (an
// HTTP/2 stream, an HTTP/3 stream on QUIC): a Stream the session proxies,
// plus the one thing only the request's transport can do, answering it.
#include <string>
#include <utility>
#include <vector>

#include "base/stream.h"

namespace ugate {

class HboneStream : public Stream {
 public:
  using Stream::Stream;
  using Fields = std::vector<std::pair<std::string, std::string>>;
  // Answers the request. 200 keeps the stream open for the tunnel; any other
  // status ends it. False when the stream is already gone.
  virtual bool respond(int status, const Fields& extra) = 0;
  bool respond(int status) { return respond(status, {}); }
};

}  // namespace ugate
