#include "io/tls_stream.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <utility>

#include "io/stream_wait.h"

namespace ugate {

std::unique_ptr<TlsStream> TlsStream::create(std::unique_ptr<TcpStream>& tcp, SSL_CTX* ctx, Role role) {
  SSL* ssl = SSL_new(ctx);
  if (!ssl) {
    ERR_clear_error();
    return nullptr;
  }
  SSL_set_fd(ssl, tcp->splice_fd());
  role == Role::kServer ? SSL_set_accept_state(ssl) : SSL_set_connect_state(ssl);
  return std::unique_ptr<TlsStream>(new TlsStream(std::move(tcp), ssl));
}

TlsStream::TlsStream(std::unique_ptr<TcpStream> tcp, SSL* ssl)
    : Stream(tcp->shared_meta()), tcp_(std::move(tcp)), ssl_(ssl) {}

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
      error_code ec = co_await ugate::wait_readable(*tcp_);
      if (ec) co_return TlsResult::kAborted;
    } else if (e == SSL_ERROR_WANT_WRITE) {
      error_code ec = co_await ugate::wait_writable(*tcp_);
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
  if (closed_) return tcp_->poller().post(w, asio::error::operation_aborted);
  // Answer at once when the last read stopped short of the socket (the end
  // of the stream after data, a full buffer) or OpenSSL holds bytes:
  // plaintext, or whole records not yet decrypted (read-ahead) unless the
  // last read found only a partial one.
  bool buffered = read_again_ || SSL_pending(ssl_.get()) > 0 || (!read_blocked_ && SSL_has_pending(ssl_.get()));
  if (read_needs_ == Need::kRead && buffered) return tcp_->poller().post(w, {});
  reader_ = &w;
  need(read_needs_);
}

void TlsStream::wait_writable(Waiter& w) {
  if (closed_) return tcp_->poller().post(w, asio::error::operation_aborted);
  writer_ = &w;
  need(write_needs_);
}

void TlsStream::need(Need n) {
  if (n == Need::kRead && !std::exchange(waiting_inner_read_, true)) tcp_->wait_readable(inner_read_);
  if (n == Need::kWrite && !std::exchange(waiting_inner_write_, true)) tcp_->wait_writable(inner_write_);
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
  tcp_->shutdown_write();
}

void TlsStream::reset() { finish(true); }
void TlsStream::close() { finish(false); }

void TlsStream::finish(bool abortive) {
  if (closed_) return;
  closed_ = true;
  // Inner waits are dropped, not cancelled: nothing may call into this
  // stream once it is closed; its own waiters are told instead.
  if (std::exchange(waiting_inner_read_, false)) tcp_->forget_read_wait();
  if (std::exchange(waiting_inner_write_, false)) tcp_->forget_write_wait();
  Poller& poller = tcp_->poller();
  abortive ? tcp_->reset() : tcp_->close();
  if (Waiter* r = std::exchange(reader_, nullptr)) poller.post(*r, asio::error::operation_aborted);
  if (Waiter* w = std::exchange(writer_, nullptr)) poller.post(*w, asio::error::operation_aborted);
}

}  // namespace ugate
