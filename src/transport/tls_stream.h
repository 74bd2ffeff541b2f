#pragma once
// TlsStream: a Stream that speaks TLS (OpenSSL 3) over another Stream, client
// or server side, with the same readiness interface as every other Stream.
//
// Over a TcpStream, OpenSSL reads and writes the socket itself (a socket BIO,
// read-ahead into one buffer): the only user-space copy is OpenSSL's own
// plaintext one. Over any other stream (an HTTP/2 CONNECT stream: TLS end to
// end through a gateway) a BIO calls the stream's try_read/try_write.
// Records are full size (16 KiB); buffers are released while idle.
//
// Readiness: an SSL_read may need the socket writable (a key update reply)
// and an SSL_write readable, so each outer wait becomes a wait on whichever
// socket condition the last operation asked for, and both outer waits share
// the TcpStream's one reader and one writer slot. An inner wait exists only
// while an outer one needs it, so closing never leaves a callback behind.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "crypto/ossl.h"
#include "base/stream.h"
#include "transport/tcp_stream.h"

namespace ugate {

// How a handshake ended, for CloseReason and the log.
enum class TlsResult : uint8_t {
  kOk,
  kFailed,          // protocol error, no common version or cipher, peer gone
  kNoPeerCert,      // a certificate was required and none came
  kPeerRejected,    // the peer's certificate did not verify (unknown CA, expired, no SPIFFE ID)
  kAborted,         // the stream was closed meanwhile (the handshake deadline)
};

class TlsStream final : public Stream {
 public:
  enum class Role : uint8_t { kClient, kServer };

  // Takes over `transport` (connected); null, and `transport` left as it
  // was, when OpenSSL is out of memory. Waits are answered on `io`.
  static std::unique_ptr<TlsStream> create(std::unique_ptr<Stream>& transport, SSL_CTX* ctx, Role role,
                                           asio::io_context& io);
  ~TlsStream() override;

  // Client side, before the handshake.
  void set_server_name(const std::string& sni);
  void set_alpn(std::span<const std::string> protocols);

  // Runs the handshake to its end; the caller bounds it in time by closing
  // the stream (kAborted). `detail` gets a short reason on failure.
  asio::awaitable<TlsResult> handshake(std::string* detail = nullptr);

  SSL* ssl() const { return ssl_.get(); }
  std::string alpn() const;     // the negotiated protocol, "" for none
  X509* peer_certificate() const { return SSL_get0_peer_certificate(ssl_.get()); }

  std::size_t try_read(asio::mutable_buffer buf, error_code& ec) override;
  std::size_t try_write(asio::const_buffer buf, error_code& ec) override;
  void wait_readable(Waiter& w) override;
  void wait_writable(Waiter& w) override;
  void shutdown_write() override;  // close_notify, then FIN
  void reset() override;
  void close() override;
  void forget_waits() override;
  bool peer_finished() const override { return closed_ || transport_->peer_finished(); }

 private:
  enum class Need : uint8_t { kRead, kWrite };
  class Inner final : public Waiter {
   public:
    Inner(TlsStream& s, Need n) : stream_(s), need_(n) {}
    void on_ready(const error_code& ec) override { stream_.inner_ready(need_, ec); }

   private:
    TlsStream& stream_;
    Need need_;
  };

  TlsStream(std::unique_ptr<Stream> transport, SSL* ssl, asio::io_context& io);
  void post(Waiter& w, const error_code& ec);
  void need(Need n);
  void inner_ready(Need n, const error_code& ec);
  void continue_shutdown();
  void finish(bool abortive);
  error_code error_of(int ssl_result, int ssl_error);
  TlsResult classify_failure(std::string* detail);

  std::unique_ptr<Stream> transport_;
  asio::io_context& io_;
  ossl::Ssl ssl_;
  Inner inner_read_{*this, Need::kRead};
  Inner inner_write_{*this, Need::kWrite};
  Waiter* reader_ = nullptr;  // outer waits, and the socket condition each needs
  Waiter* writer_ = nullptr;
  Need read_needs_ = Need::kRead;
  Need write_needs_ = Need::kWrite;
  bool waiting_inner_read_ = false;
  bool waiting_inner_write_ = false;
  bool read_blocked_ = false;  // the last SSL_read wanted socket bytes: buffered bytes are a partial record
  bool read_again_ = false;    // the last read stopped with more to tell (a full buffer, or the end after data)
  bool shutdown_pending_ = false;  // close_notify waits for room in the socket
  bool closed_ = false;
};

}  // namespace ugate
