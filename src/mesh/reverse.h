#pragma once
// Reverse accept: a node with no open port (behind NAT, on a phone) keeps an
// mTLS connection open to a gateway's mesh port with ALPN h2r, and over it
// the roles of HTTP/2 are swapped: the gateway is the client and opens HBONE
// CONNECT streams towards the node, which serves them as its mesh port would.
// No per-stream TCP or TLS handshake, and one layer of encryption.
//
//  - Node side: a Registrar per gateway, on one worker: dial, register, serve
//    until the connection ends, then reconnect with exponential backoff
//    (remote_accept.backoff_min up to backoff_max, with jitter).
//  - Gateway side: accept_reverse() (the mesh door, ALPN h2r) makes a client
//    HTTP/2 session and registers the node in the ReverseRegistry;
//    connect_reverse() opens a CONNECT on it from any worker: on the worker
//    that holds the connection directly, from another one through a local
//    socket pair to a Bridge on the holding worker.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

#include "listener/listener_slot.h"
#include "mesh/mesh_config.h"
#include "mesh/pool.h"
#include "mesh/reverse_registry.h"

namespace ugate {

class Mesh;
struct ListenerSlot;
class Worker;

class Registrar {
 public:
  Registrar(Mesh& mesh, const NodeConfig& gateway, ListenerSlot& slot, const RemoteAcceptConfig& config);
  ~Registrar();
  void stop();  // no more reconnects; a dial in progress is given up

 private:
  asio::awaitable<void> run();
  Duration backoff(unsigned failures);

  Mesh& mesh_;
  NodeConfig gateway_;
  ListenerSlot& slot_;
  const RemoteAcceptConfig& config_;
  asio::steady_timer timer_;             // the backoff, and the wait while registered
  std::shared_ptr<Pool::Dial> dial_;     // while dialling
  bool stopped_ = false;
  bool connected_ = false;               // the served connection is open
  CloseReason last_ = CloseReason::kDone;  // the last failure, logged once per change
};

// Gateway: the mesh door's stream once ALPN chose h2r and the peer proved its
// identity: registers the node until the connection ends.
void accept_reverse(Worker& worker, std::unique_ptr<Stream> tls);

// Gateway, on any worker: a CONNECT for `authority` to the node registered as
// `entry`; `up` holds the stream all along (closing it gives up). kDone once
// the node answered 2xx, else why not.
asio::awaitable<CloseReason> connect_reverse(Worker& worker, const ReverseRegistry::Entry& entry,
                                             const std::shared_ptr<StreamMeta>& meta, HostPort authority,
                                             Pool::Fields headers, std::unique_ptr<Stream>& up);

}  // namespace ugate
