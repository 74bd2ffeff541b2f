#include "quic/probe.h"

#include <gnutls/crypto.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <map>
#include <ostream>
#include <tuple>
#include <type_traits>

#include "identity/identity.h"
#include "quic/h3_connection.h"
#include "runtime/buffer_pool.h"
#include "transport/stream_wait.h"

namespace ugate::quic {
namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
constexpr size_t kChunk = 64 * 1024;

template <typename D>
double ms(D d) { return std::chrono::duration<double, std::milli>(d).count(); }

// The one connection over a connected UDP socket.
class Probe final : private ConnectionHost {
 public:
  Probe(asio::io_context& io, const NodeIdentity& id, const ProbeOptions& options, std::ostream& log)
      : io_(io), options_(options), log_(log), socket_(io), timer_(io), in_(kMaxDatagram) {
    credentials_ = std::make_shared<const Credentials>(id);
    gnutls_rnd(GNUTLS_RND_KEY, secret_.data(), secret_.size());
  }

  int run() {
    error_code ec;
    Udp::resolver resolver(io_);
    auto found = resolver.resolve(options_.server.host, std::to_string(options_.server.port), ec);
    if (ec || found.empty()) {
      log_ << "quic: cannot resolve " << options_.server.str() << ": " << ec.message() << "\n";
      return kProbeFailed;
    }
    remote_ = *found.begin();
    socket_.open(remote_.protocol(), ec);
    if (!ec) socket_.connect(remote_, ec);
    if (ec) {
      log_ << "quic: " << options_.server.str() << ": " << ec.message() << "\n";
      return kProbeFailed;
    }
    socket_.non_blocking(true);
    local_ = socket_.local_endpoint();
    if (options_.streams > 1 && !options_.connect.empty() && !read_input()) return kProbeFailed;
    ConnectionOptions co;
    co.handshake_timeout = options_.timeout;
    ConnectionHost& host = *this;
    conn_ = std::make_unique<H3Connection>(H3Connection::Role::kClient, host, io_, buffers_, std::make_shared<h2::SendBudget>(io_), credentials_, co);
    started_ = std::chrono::steady_clock::now();
    timer_.expires_after(options_.timeout);
    timer_.async_wait([this](const error_code& e) {
      if (e || answered_) return;
      log_ << "quic: no " << (conn_ && conn_->established() ? "answer to the CONNECT" : "handshake") << " within "
           << ms(options_.timeout) / 1000 << " s\n";
      finish(kProbeFailed);
    });
    asio::co_spawn(io_, receive(), asio::detached);
    if (!conn_->connect(local_, remote_, options_.pin) && result_ < 0) finish(kProbeFailed);
    io_.run();
    return result_ < 0 ? kProbeFailed : result_;
  }

 private:
  asio::awaitable<void> receive() {
    while (!done_) {
      auto [ec] = co_await socket_.async_wait(Udp::socket::wait_read, use_nothrow);
      if (ec || done_) co_return;
      for (;;) {
        error_code rec;
        size_t n = socket_.receive(asio::buffer(in_), 0, rec);
        if (rec == asio::error::would_block || done_) break;
        if (rec) continue;  // ICMP: port unreachable; the handshake timer says so
        if (conn_) conn_->on_packet(std::span<const uint8_t>(in_.data(), n), local_, remote_);
      }
    }
  }

  // The tunnel: stdin to the stream (FIN at EOF), the stream to stdout.
  asio::awaitable<void> upstream(H3Stream& s) {
    asio::posix::stream_descriptor in(io_, ::dup(0));
    std::vector<char> buf(kChunk);
    for (;;) {
      auto [ec, n] = co_await in.async_read_some(asio::buffer(buf), use_nothrow);
      if (ec) break;
      error_code wec = co_await write_all(s, std::string_view(buf.data(), n));
      if (wec) co_return;
    }
    s.shutdown_write();
  }

  asio::awaitable<void> downstream(H3Stream& s) {
    asio::posix::stream_descriptor out(io_, ::dup(1));
    std::vector<char> buf(kChunk);
    bool announced = false;
    int exit = kProbeOk;
    for (;;) {
      error_code ec;
      size_t n = s.try_read(asio::buffer(buf), ec);
      if (!announced && s.status() != 0) {
        announced = answered_ = true;
        log_ << "quic: CONNECT " << options_.connect << ": " << s.status() << "\n";
        if (s.status() / 100 != 2) exit = kProbeRefused;
      }
      if (ec == asio::error::would_block) {
        error_code wec = co_await wait_readable(s);
        if (wec) break;
        continue;
      }
      if (ec) {
        if (ec != asio::error::eof) {
          log_ << "quic: the tunnel ended: " << ec.message() << "\n";
          if (exit == kProbeOk) exit = kProbeFailed;
        }
        break;
      }
      auto [wec, written] = co_await asio::async_write(out, asio::buffer(buf.data(), n), use_nothrow);
      if (wec) break;
    }
    if (!announced) exit = kProbeFailed;
    finish(exit);
  }

  void finish(int exit) {
    if (done_) return;
    done_ = true;
    if (result_ < 0) result_ = exit;
    timer_.cancel();
    stream_.reset();
    if (conn_) conn_->shut_down();
    error_code ignored;
    socket_.cancel(ignored);
    io_.stop();
  }

  // --- ConnectionHost
  void bind_cid(const std::string&, H3Connection&) override {}  // one connection: every packet is its
  void unbind_cid(const std::string&) override {}
  void send(std::span<const uint8_t> packet, const Udp::endpoint&) override {
    error_code ec;
    socket_.send(asio::buffer(packet.data(), packet.size()), 0, ec);
  }
  void on_request(H3Connection&, std::unique_ptr<H3Stream>, std::unique_ptr<h2::Message>) override {}
  void on_handshake(H3Connection& c, Handshake outcome, const std::string& detail) override {
    if (outcome != Handshake::kAccepted) {
      log_ << "quic: handshake with " << options_.server.str() << " failed: " << to_string(outcome) << ": " << detail
           << "\n";
      result_ = kProbeFailed;
      return;
    }
    auto took = std::chrono::steady_clock::now() - started_;
    log_ << "quic: handshake with " << options_.server.str() << " done in " << ms(took) << " ms, ALPN h3\n";
    log_ << "quic: peer " << c.peer()->spiffe_id << " node " << c.peer()->node_id << "\n";
    log_ << "quic: rtt " << ms(c.rtt()) << " ms\n";
    if (options_.connect.empty()) {
      answered_ = true;
      asio::post(io_, [this] { finish(kProbeOk); });
      return;
    }
    asio::post(io_, [this] { open_tunnel(); });  // outside the library call that reported it
  }
  void on_closed(H3Connection&) override {
    answered_ = true;
    asio::post(io_, [this] {
      if (!done_) log_ << "quic: the connection closed\n";
      finish(kProbeFailed);
      conn_.reset();
    });
  }
  std::span<const uint8_t> reset_secret() const override { return secret_; }

  // --streams: stdin whole, for every tunnel to carry.
  bool read_input() {
    char buf[kChunk];
    for (;;) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n == 0) return true;
      if (n < 0) {
        if (errno == EINTR) continue;
        log_ << "quic: stdin: " << std::strerror(errno) << "\n";
        return false;
      }
      input_.append(buf, static_cast<size_t>(n));
      if (input_.size() > kMaxProbeInput) {
        log_ << "quic: stdin is over " << (kMaxProbeInput >> 20) << " MiB, the most --streams carries\n";
        return false;
      }
    }
  }

  void open_many() {
    answers_.resize(options_.streams);
    for (unsigned i = 0; i < options_.streams; ++i) {
      auto s = conn_->open_tunnel(options_.connect, {});
      if (!s) {
        log_ << "quic: only " << i << " of " << options_.streams << " streams could be opened\n";
        finish(kProbeFailed);
        return;
      }
      many_.push_back(std::move(s));
    }
    for (size_t i = 0; i < many_.size(); ++i) {
      asio::co_spawn(io_, send_copy(*many_[i]), asio::detached);
      asio::co_spawn(io_, count_answer(i), asio::detached);
    }
  }

  asio::awaitable<void> send_copy(H3Stream& s) {
    if (!input_.empty()) {
      error_code ec = co_await write_all(s, input_);
      if (ec) co_return;
    }
    s.shutdown_write();
  }

  asio::awaitable<void> count_answer(size_t i) {
    H3Stream& s = *many_[i];
    Answer& a = answers_[i];
    gnutls_hash_hd_t raw = nullptr;
    gnutls_hash_init(&raw, GNUTLS_DIG_SHA256);
    std::unique_ptr<std::remove_pointer_t<gnutls_hash_hd_t>, void (*)(gnutls_hash_hd_t)> hash(raw, [](gnutls_hash_hd_t h) { gnutls_hash_deinit(h, nullptr); });
    std::vector<char> buf(kChunk);
    for (;;) {
      error_code ec;
      size_t n = s.try_read(asio::buffer(buf), ec);
      if (s.status() != 0) answered_ = true;
      if (n > 0) {
        a.bytes += n;
        gnutls_hash(hash.get(), buf.data(), n);
        continue;
      }
      if (ec == asio::error::would_block) {
        error_code wec = co_await wait_readable(s);
        if (!wec) continue;
        a.failed = true;
      } else if (ec != asio::error::eof) {
        a.failed = true;
      }
      break;
    }
    a.status = s.status();
    unsigned char digest[32];
    gnutls_hash_output(hash.get(), digest);
    static const char* hex = "0123456789abcdef";
    for (unsigned char c : digest) a.sha256 += {hex[c >> 4], hex[c & 15]};
    if (++finished_ == answers_.size()) summarize();
  }

  // One line per distinct answer; the exit code of the worst.
  void summarize() {
    std::map<std::tuple<int, size_t, std::string, bool>, unsigned> groups;
    for (const auto& a : answers_) ++groups[{a.status, a.bytes, a.sha256, a.failed}];
    int exit = kProbeOk;
    for (const auto& [k, n] : groups) {
      const auto& [status, bytes, sha, failed] = k;
      log_ << "quic: " << n << " tunnels: " << status << ", " << bytes << " bytes back, sha256 " << sha
           << (failed ? ", ended with an error" : "") << "\n";
      if (failed || status == 0) exit = kProbeFailed;
      else if (status / 100 != 2 && exit == kProbeOk) exit = kProbeRefused;
    }
    finish(exit);
  }

  void open_tunnel() {
    if (done_) return;
    if (options_.streams > 1) {
      open_many();
      return;
    }
    stream_ = conn_->open_tunnel(options_.connect, {});
    if (!stream_) {
      log_ << "quic: no stream could be opened\n";
      finish(kProbeFailed);
      return;
    }
    asio::co_spawn(io_, upstream(*stream_), asio::detached);
    asio::co_spawn(io_, downstream(*stream_), asio::detached);
  }

  asio::io_context& io_;
  const ProbeOptions& options_;
  std::ostream& log_;
  Udp::socket socket_;
  asio::steady_timer timer_;
  std::vector<uint8_t> in_;
  BufferPool buffers_;
  std::shared_ptr<const Credentials> credentials_;
  std::array<uint8_t, 32> secret_{};
  Udp::endpoint local_, remote_;
  std::unique_ptr<H3Connection> conn_;
  std::unique_ptr<H3Stream> stream_;
  // --streams
  struct Answer {
    int status = 0;
    size_t bytes = 0;
    std::string sha256;
    bool failed = false;
  };
  std::string input_;
  std::vector<std::unique_ptr<H3Stream>> many_;
  std::vector<Answer> answers_;
  size_t finished_ = 0;
  std::chrono::steady_clock::time_point started_;
  int result_ = -1;
  bool answered_ = false;
  bool done_ = false;
};

}  // namespace

int probe(const NodeIdentity& identity, const ProbeOptions& options, std::ostream& log) {
  asio::io_context io;
  try {
    Probe p(io, identity, options, log);
    return p.run();
  } catch (const std::exception& e) {
    log << "quic: " << e.what() << "\n";
    return kProbeFailed;
  }
}

}  // namespace ugate::quic
