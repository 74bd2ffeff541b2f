#pragma once
// What an HTTP/2 connection of the mesh is configured with; the defaults,
// ztunnel's (DESIGN.md), are written here once and are the config's.
#include <cstdint>

namespace ugate::h2 {

// Settings and limits a connection announces and enforces.
struct Settings {
  uint32_t stream_window = 4u << 20;       // SETTINGS_INITIAL_WINDOW_SIZE we grant
  uint32_t connection_window = 16u << 20;  // connection-level window we grant
  uint32_t max_frame = 1u << 20;           // SETTINGS_MAX_FRAME_SIZE we accept
  uint32_t max_concurrent_streams = 1000;  // streams a peer may open on us
  uint32_t max_header_list = 16u << 10;    // SETTINGS_MAX_HEADER_LIST_SIZE we accept
};

// Connection timing, in seconds of the owner's tick (on_tick).
struct Timing {
  uint32_t keepalive_interval = 30;  // quiet this long: PING
  uint32_t keepalive_timeout = 10;   // no answer to it this long: the connection is dead
  uint32_t idle_timeout = 300;       // no stream this long: GOAWAY and close (0: never)
  uint32_t linger = 30;              // a closed stream's last bytes get this long to leave
  uint32_t preface_timeout = 10;     // server: the client's preface and SETTINGS must come within this
};

}  // namespace ugate::h2
