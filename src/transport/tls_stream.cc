#include "transport/tls_stream.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <utility>

#include "transport/stream_wait.h"

namespace ugate {

namespace {

// A BIO over a Stream that is not a kernel socket: OpenSSL's reads and writes
// become the stream's try_read/try_write, "would block" a retry.
Stream& bio_stream(BIO* b) { return *static_cast<Stream*>(BIO_get_data(b)); }

int bio_write(BIO* b, const char* data, size_t len, size_t* written) {
  BIO_clear_retry_flags(b);
  error_code ec;
  size_t n = bio_stream(b).try_write(asio::buffer(data, len), ec);
  if (ec == asio::error::would_block) BIO_set_retry_write(b);
  if (ec) {
    errno = ec == asio::error::would_block ? 0 : ECONNRESET;
    return 0;
  }
  *written = n;
  return 1;
}

int bio_read(BIO* b, char* data, size_t len, size_t* read) {
  BIO_clear_retry_flags(b);
  error_code ec;
  size_t n = bio_stream(b).try_read(asio::buffer(data, len), ec);
  if (ec == asio::error::would_block) BIO_set_retry_read(b);
  if (ec) {
    errno = ec == asio::error::would_block || ec == asio::error::eof ? 0 : ECONNRESET;
    return 0;
  }
  *read = n;
  return 1;
}

long bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

BIO_METHOD* stream_bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ugate stream");
    BIO_meth_set_write_ex(m, bio_write);
    BIO_meth_set_read_ex(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, [](BIO* b) {
      BIO_set_init(b, 1);
      return 1;
    });
    return m;
  }();
  return method;
}

}  // namespace

std::unique_ptr<TlsStream> TlsStream::create(std::unique_ptr<Stream>& transport, SSL_CTX* ctx, Role role,
                                             asio::io_context& io) {
  SSL* ssl = SSL_new(ctx);
  if (!ssl) {
    ERR_clear_error();
    return nullptr;
  }
  if (int fd = transport->splice_fd(); fd >= 0) {
    SSL_set_fd(ssl, fd);
  } else {
    BIO* bio = BIO_new(stream_bio_method());
    if (!bio) {
      SSL_free(ssl);
      ERR_clear_error();
      return nullptr;
    }
    BIO_set_data(bio, transport.get());
    SSL_set_bio(ssl, bio, bio);
  }
  role == Role::kServer ? SSL_set_accept_state(ssl) : SSL_set_connect_state(ssl);
  return std::unique_ptr<TlsStream>(new TlsStream(std::move(transport), ssl, io));
}

TlsStream::TlsStream(std::unique_ptr<Stream> transport, SSL* ssl, asio::io_context& io)
    : Stream(transport->shared_meta()), transport_(std::move(transport)), io_(io), ssl_(ssl) {}

void TlsStream::post(Waiter& w, const error_code& ec) {
  asio::post(io_, [&w, ec] { w.on_ready(ec); });
}

TlsStream::~TlsStream() { close(); }

void TlsStream::set_server_name(const std::string& sni) {
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl_.get(), sni.c_str());
}

void TlsStream::set_alpn(std::span<const std::string> protocols) {
  std::string wire;
  for (const auto& p : protocols) {
    if (p.empty() || p.size() > 255) continue;
    wire += static_cast<char>(p.size());
    wire += p;
  }
  SSL_set_alpn_protos(ssl_.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                      static_cast<unsigned>(wire.size()));
}

std::string TlsStream::alpn() const {
  const unsigned char* p = nullptr;
  unsigned n = 0;
  SSL_get0_alpn_selected(ssl_.get(), &p, &n);
  return std::string(reinterpret_cast<const char*>(p), n);
}

asio::awaitable<TlsResult> TlsStream::handshake(std::string* detail) {
  ERR_clear_error();
  for (;;) {
    if (closed_) co_return TlsResult::kAborted;
    int r = SSL_do_handshake(ssl_.get());
    if (r == 1) {
      read_blocked_ = false;  // read-ahead may hold the peer's first bytes already
      co_return TlsResult::kOk;
    }
    int e = SSL_get_error(ssl_.get(), r);
    if (e == SSL_ERROR_WANT_READ) {
      error_code ec = co_await ugate::wait_readable(*transport_);
      if (ec) co_return TlsResult::kAborted;
    } else if (e == SSL_ERROR_WANT_WRITE) {
      error_code ec = co_await ugate::wait_writable(*transport_);
      if (ec) co_return TlsResult::kAborted;
    } else {
      co_return closed_ ? TlsResult::kAborted : classify_failure(detail);
    }
  }
}

TlsResult TlsStream::classify_failure(std::string* detail) {
  long verify = SSL_get_verify_result(ssl_.get());
  unsigned long last = ERR_peek_last_error();
  std::string text = ossl::last_error("connection closed during the handshake");
  if (verify != X509_V_OK) {  // (a refused certificate is not kept as the peer's)
    if (detail)
      *detail = verify == X509_V_ERR_APPLICATION_VERIFICATION ? "certificate has no SPIFFE ID"
                                                                : X509_verify_cert_error_string(verify);
    return TlsResult::kPeerRejected;
  }
  if (detail) *detail = text;
  if (ERR_GET_LIB(last) == ERR_LIB_SSL && ERR_GET_REASON(last) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
    return TlsResult::kNoPeerCert;
  return TlsResult::kFailed;
}

error_code TlsStream::error_of(int ssl_result, int ssl_error) {
  int err = errno;
  ERR_clear_error();
  if (ssl_error == SSL_ERROR_ZERO_RETURN) return asio::error::eof;
  if (ssl_error == SSL_ERROR_SYSCALL && ssl_result < 0 && err != 0)
    return error_code(err, boost::system::system_category());
  if (ssl_error == SSL_ERROR_SYSCALL) return asio::error::connection_reset;
  return asio::error::connection_aborted;  // a TLS protocol error: the stream cannot go on
}

std::size_t TlsStream::try_read(asio::mutable_buffer buf, error_code& ec) {
  if (closed_) {
    ec = asio::error::bad_descriptor;
    return 0;
  }
  // Fill the buffer from as many records as are there: a short read must mean
  // the socket is empty, or a waiter could sleep on records already buffered.
  auto* p = static_cast<char*>(buf.data());
  size_t total = 0;
  read_again_ = true;  // unless OpenSSL says it needs the socket
  while (total < buf.size()) {
    size_t n = 0;
    int r = SSL_read_ex(ssl_.get(), p + total, buf.size() - total, &n);
    if (r == 1) {
      total += n;
      continue;
    }
    int e = SSL_get_error(ssl_.get(), r);
    if (e == SSL_ERROR_WANT_READ) {
      read_needs_ = Need::kRead;
      read_blocked_ = true;
      read_again_ = false;
    } else if (e == SSL_ERROR_WANT_WRITE) {
      read_needs_ = Need::kWrite;
      read_again_ = false;
    } else if (total == 0) {
      ec = error_of(r, e);
      return 0;
    } else {
      ERR_clear_error();  // the end or the error shows again on the next read, at once (read_again_)
    }
    break;
  }
  ec = total > 0 ? error_code() : error_code(asio::error::would_block);
  return total;
}

std::size_t TlsStream::try_write(asio::const_buffer buf, error_code& ec) {
  if (closed_) {
    ec = asio::error::bad_descriptor;
    return 0;
  }
  size_t n = 0;
  int r = SSL_write_ex(ssl_.get(), buf.data(), buf.size(), &n);
  if (r == 1) {
    ec = {};
    return n;
  }
  int e = SSL_get_error(ssl_.get(), r);
  if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
    write_needs_ = e == SSL_ERROR_WANT_WRITE ? Need::kWrite : Need::kRead;
    ec = asio::error::would_block;
    return 0;
  }
  ec = error_of(r, e);
  return 0;
}

void TlsStream::wait_readable(Waiter& w) {
  if (closed_) return post(w, asio::error::operation_aborted);
  // Answer at once when the last read stopped short of the socket (the end
  // of the stream after data, a full buffer) or OpenSSL holds bytes:
  // plaintext, or whole records not yet decrypted (read-ahead) unless the
  // last read found only a partial one.
  bool buffered = read_again_ || SSL_pending(ssl_.get()) > 0 || (!read_blocked_ && SSL_has_pending(ssl_.get()));
  if (read_needs_ == Need::kRead && buffered) return post(w, {});
  reader_ = &w;
  need(read_needs_);
}

void TlsStream::wait_writable(Waiter& w) {
  if (closed_) return post(w, asio::error::operation_aborted);
  writer_ = &w;
  need(write_needs_);
}

void TlsStream::need(Need n) {
  if (n == Need::kRead && !std::exchange(waiting_inner_read_, true)) transport_->wait_readable(inner_read_);
  if (n == Need::kWrite && !std::exchange(waiting_inner_write_, true)) transport_->wait_writable(inner_write_);
}

void TlsStream::inner_ready(Need n, const error_code& ec) {
  (n == Need::kRead ? waiting_inner_read_ : waiting_inner_write_) = false;
  if (n == Need::kRead) read_blocked_ = false;
  if (shutdown_pending_ && n == Need::kWrite && !ec) continue_shutdown();
  Waiter* r = reader_ && read_needs_ == n ? std::exchange(reader_, nullptr) : nullptr;
  Waiter* w = writer_ && write_needs_ == n ? std::exchange(writer_, nullptr) : nullptr;
  // Each waiter still waits until it is called, so its owner (and this
  // stream) outlive the first call; after it, only the locals are used.
  if (r) r->on_ready(ec);
  if (w) w->on_ready(ec);
}

void TlsStream::shutdown_write() {
  if (closed_ || shutdown_pending_ || (SSL_get_shutdown(ssl_.get()) & SSL_SENT_SHUTDOWN)) return;
  shutdown_pending_ = true;
  continue_shutdown();
}

// close_notify, then the FIN; when the socket is full, the rest waits for it.
void TlsStream::continue_shutdown() {
  int r = SSL_shutdown(ssl_.get());
  if (r < 0 && SSL_get_error(ssl_.get(), r) == SSL_ERROR_WANT_WRITE) {
    need(Need::kWrite);
    return;
  }
  ERR_clear_error();
  shutdown_pending_ = false;
  transport_->shutdown_write();
}

void TlsStream::reset() { finish(true); }
void TlsStream::close() { finish(false); }

void TlsStream::finish(bool abortive) {
  if (closed_) return;
  closed_ = true;
  // Inner waits are dropped, not cancelled: nothing may call into this
  // stream once it is closed; its own waiters are told instead.
  // (The handshake waits on the transport itself: those waits end with its close.)
  bool inner = waiting_inner_read_ || waiting_inner_write_;
  waiting_inner_read_ = waiting_inner_write_ = false;
  if (inner) transport_->forget_waits();
  abortive ? transport_->reset() : transport_->close();
  if (Waiter* r = std::exchange(reader_, nullptr)) post(*r, asio::error::operation_aborted);
  if (Waiter* w = std::exchange(writer_, nullptr)) post(*w, asio::error::operation_aborted);
}

// A stream layered on this one drops its waits; ours on the transport stay
// only while one of our own waiters needs them.
void TlsStream::forget_waits() {
  reader_ = writer_ = nullptr;
}

}  // namespace ugate
