#pragma once
// Pool: the HBONE client of one worker. A stream to a mesh destination
// becomes a CONNECT stream on a pooled mTLS HTTP/2 connection to the node.
//
// Connections are keyed by their path (each node's identity and address; the
// source identity is the node's one): at most `streams_per_connection`
// streams share one, then another is made. Only one connection per key is
// being made at a time, and streams wait for it in a queue: a burst of
// streams to a new node costs one handshake, not one each, and the number of
// connections stays at streams / limit. A connection that cannot be made
// fails every stream waiting for it at once, with the reason.
//
// The path's first node is dialled over TCP; each later node through a
// CONNECT to its mesh port on the connection to the node before (double
// HBONE), TLS end to end. The identity each node proves must be the one its
// config names (SPIFFE ID or node ID).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/duration.h"
#include "base/meta.h"
#include "base/stream.h"
#include "mesh/mesh_path.h"
#include "mesh/h2_stream.h"

namespace ugate {

class Mesh;
class MeshIdentity;

class Pool {
 public:
  // A connection being made. Its transport is closed to give up (the
  // deadline, or abort()); the deadline's timer shares it.
  struct Dial {
    Dial(asio::io_context& io, std::string alpn);
    ~Dial();
    void abort();
    std::unique_ptr<Stream> transport;
    asio::steady_timer timer;
    std::string alpn;      // what the TLS handshake asks for: h2 (HBONE), h2r (reverse registration)
    std::string detail;    // why it failed, for the log
    bool expired = false;  // the deadline closed the transport
    bool aborted = false;  // given up (abort(), or its pool ended): nobody waits for it, its pool may be gone
  };
  using Fields = std::vector<std::pair<std::string, std::string>>;

  explicit Pool(Mesh& mesh) : mesh_(mesh) {}
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  void set_identity(const MeshIdentity* identity) { identity_ = identity; }
  const MeshIdentity* identity() const { return identity_; }

  // Opens a CONNECT stream to path.authority with `headers`, and waits for
  // the answer: kDone once the node answered 2xx, else why not (the node's
  // refusal, or why its connection could not be made). `up` holds the stream
  // all along: closing it gives up.
  asio::awaitable<CloseReason> connect(const MeshPath& path, const std::shared_ptr<StreamMeta>& meta,
                                       Fields headers, std::unique_ptr<Stream>& up);

  // Makes a connection to the path's last node: TCP to the first (or a
  // CONNECT through the path's prefix), TLS with dial->alpn and the node's
  // identity checked; each step within mesh.connect_timeout. On kDone the
  // TLS stream is dial->transport.
  asio::awaitable<CloseReason> establish(const MeshPath& path, std::shared_ptr<Dial> dial);
  // A client stream that asks for `authority` once it is opened on a connection.
  static std::unique_ptr<h2::H2Stream> connect_stream(asio::io_context& io, const std::shared_ptr<StreamMeta>& meta,
                                                      const HostPort& authority, Fields headers);
  // Waits for the answer to an opened (or queued) CONNECT: kDone on 2xx
  // (meta.upstream: the connection's peer), else why not.
  static asio::awaitable<CloseReason> answer(h2::H2Stream& s, StreamMeta& meta);

  // Ends the connections being made and fails the streams waiting for them;
  // entries left without connections go.
  void abort_all();
  // Number of paths with connections or waiting streams (for /debug/nodes).
  size_t paths() const { return entries_.size(); }

 private:
  class Connection;
  struct Entry {
    std::string key;
    MeshPath path;
    std::vector<Connection*> connections;
    boost::intrusive::list<h2::H2Stream::Pending, boost::intrusive::constant_time_size<false>> waiting;
    std::shared_ptr<Dial> dial;  // the connection being made, if any
  };

  Entry& entry(const MeshPath& path);
  Entry* find(const std::string& key);
  // Opens waiting streams on connections with room; makes a connection when none has.
  void place(Entry& e);
  void erase_if_unused(Entry& e);
  // Holds no reference into the pool across the dial: its own copies, and
  // the entry found again by key afterwards (it may be gone, or dialling anew).
  asio::awaitable<void> make_connection(std::string key, MeshPath path, std::shared_ptr<Dial> dial);
  // The transport to the path's last node: TCP to the first, or a CONNECT
  // through the path's prefix.
  asio::awaitable<CloseReason> open_transport(const MeshPath& path, const std::shared_ptr<Dial>& dial);
  static void arm(const std::shared_ptr<Dial>& dial, Duration limit);
  asio::awaitable<CloseReason> handshake(const NodeConfig& node, Dial& dial);
  void detach(Connection& c);

  Mesh& mesh_;
  const MeshIdentity* identity_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
};

}  // namespace ugate
