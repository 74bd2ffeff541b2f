#include "quic/h3_connection.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nghttp3/nghttp3.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstring>

#include "runtime/buffer_pool.h"

namespace ugate::quic {
namespace {

constexpr size_t kMaxPacket = NGTCP2_MAX_PMTUD_UDP_PAYLOAD_SIZE;
constexpr size_t kMaxHeaderList = 16 * 1024;   // a request head's bound, as on HTTP/2
constexpr unsigned kPacketsPerFlush = 64;      // then other connections run
constexpr uint64_t kStreamWindow = 256 * 1024;  // per request stream, credited as the proxy writes on
constexpr uint64_t kConnectionWindow = 4 * 1024 * 1024;
constexpr char kPriority[] = "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3";

uint64_t ns(Duration d) { return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()); }

ngtcp2_path path_of(const Udp::endpoint& local, const Udp::endpoint& remote) {
  ngtcp2_path p{};
  p.local.addr = const_cast<ngtcp2_sockaddr*>(reinterpret_cast<const ngtcp2_sockaddr*>(local.data()));
  p.local.addrlen = static_cast<ngtcp2_socklen>(local.size());
  p.remote.addr = const_cast<ngtcp2_sockaddr*>(reinterpret_cast<const ngtcp2_sockaddr*>(remote.data()));
  p.remote.addrlen = static_cast<ngtcp2_socklen>(remote.size());
  return p;
}

Udp::endpoint endpoint_of(const ngtcp2_addr& a) {
  Udp::endpoint ep;
  std::memcpy(ep.data(), a.addr, a.addrlen);
  ep.resize(a.addrlen);
  return ep;
}

std::string cid_key(const ngtcp2_cid& cid) { return std::string(reinterpret_cast<const char*>(cid.data), cid.datalen); }

std::string_view view(nghttp3_rcbuf* b) {
  nghttp3_vec v = nghttp3_rcbuf_get_buf(b);
  return {reinterpret_cast<const char*>(v.base), v.len};
}

nghttp3_nv nv(const std::string& name, const std::string& value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(), NGHTTP3_NV_FLAG_NONE};
}

}  // namespace

// The libraries' callbacks: each finds its connection and calls a member.
struct H3Connection::Callbacks {
  static H3Connection& of(void* user_data) { return *static_cast<H3Connection*>(user_data); }

  // --- ngtcp2
  static void rand(uint8_t* dest, size_t len, const ngtcp2_rand_ctx*) { gnutls_rnd(GNUTLS_RND_RANDOM, dest, len); }

  static int get_new_connection_id(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token, size_t cidlen, void* user_data) {
    H3Connection& c = of(user_data);
    if (gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    cid->datalen = cidlen;
    auto secret = c.host_.reset_secret();
    if (ngtcp2_crypto_generate_stateless_reset_token(token, secret.data(), secret.size(), cid) != 0)
      return NGTCP2_ERR_CALLBACK_FAILURE;
    c.cids_.push_back(cid_key(*cid));
    c.host_.bind_cid(c.cids_.back(), c);
    return 0;
  }

  static int remove_connection_id(ngtcp2_conn*, const ngtcp2_cid* cid, void* user_data) {
    H3Connection& c = of(user_data);
    std::string key = cid_key(*cid);
    std::erase(c.cids_, key);
    c.host_.unbind_cid(key);
    return 0;
  }

  static int handshake_completed(ngtcp2_conn*, void* user_data) {
    H3Connection& c = of(user_data);
    gnutls_datum_t alpn{};
    if (gnutls_alpn_get_selected_protocol(c.tls_, &alpn) != 0 ||
        std::string_view(reinterpret_cast<const char*>(alpn.data), alpn.size) != "h3") {
      c.refusal_ = Handshake::kWrongAlpn;
      c.refusal_detail_ = "the client did not offer ALPN h3";
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    if (!c.peer_) {  // GnuTLS finished without asking verify(): no certificate came
      c.refusal_ = Handshake::kNoClientCert;
      c.refusal_detail_ = "no peer certificate";
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
  }

  static int recv_stream_data(ngtcp2_conn*, uint32_t flags, int64_t id, uint64_t, const uint8_t* data, size_t len,
                              void* user_data, void*) {
    H3Connection& c = of(user_data);
    if (!c.h3_ && !c.setup_http3()) return NGTCP2_ERR_CALLBACK_FAILURE;
    nghttp3_ssize n = nghttp3_conn_read_stream(c.h3_, id, data, len, (flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0);
    if (n < 0) {
      c.h3_error_ = static_cast<int>(n);
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    c.credit(id, static_cast<uint64_t>(n));  // framing nghttp3 consumed; DATA payload is credited as it is read
    return 0;
  }

  static int acked_stream_data_offset(ngtcp2_conn*, int64_t id, uint64_t, uint64_t len, void* user_data, void*) {
    H3Connection& c = of(user_data);
    if (c.h3_ && nghttp3_conn_add_ack_offset(c.h3_, id, len) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }

  static int stream_close(ngtcp2_conn*, uint32_t flags, int64_t id, uint64_t code, void* user_data, void*) {
    H3Connection& c = of(user_data);
    if (!(flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)) code = NGHTTP3_H3_NO_ERROR;
    if (c.h3_) {
      int rv = nghttp3_conn_close_stream(c.h3_, id, code);
      if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    if (ngtcp2_is_bidi_stream(id)) ngtcp2_conn_extend_max_streams_bidi(c.conn_, 1);
    if (Txn* t = c.find(id)) {
      t->closed = true;
      if (code != NGHTTP3_H3_NO_ERROR) t->reset = true;
      c.release_out(*t);  // nghttp3 let go of them with the stream
      if (t->user) {
        t->user->wake_reader();
        t->user->wake_writer();
      }
      c.forget(*t);
    }
    c.heads_.erase(id);
    return 0;
  }

  static int stream_reset(ngtcp2_conn*, int64_t id, uint64_t, uint64_t, void* user_data, void*) {
    H3Connection& c = of(user_data);
    if (c.h3_ && nghttp3_conn_shutdown_stream_read(c.h3_, id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    if (Txn* t = c.find(id)) {
      t->reset = true;  // the client's TCP side was reset: so is ours
      if (t->user) t->user->wake_reader();
    }
    return 0;
  }

  static int stream_stop_sending(ngtcp2_conn*, int64_t id, uint64_t code, void* user_data, void*) {
    H3Connection& c = of(user_data);
    if (c.h3_ && nghttp3_conn_shutdown_stream_read(c.h3_, id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    ngtcp2_conn_shutdown_stream_write(c.conn_, id, code);  // nobody reads what we would send
    if (Txn* t = c.find(id)) {
      t->reset = true;
      if (t->user) t->user->wake_writer();
    }
    return 0;
  }

  static int extend_max_remote_streams_bidi(ngtcp2_conn*, uint64_t max, void* user_data) {
    H3Connection& c = of(user_data);
    if (c.h3_) nghttp3_conn_set_max_client_streams_bidi(c.h3_, max);
    return 0;
  }

  static int extend_max_stream_data(ngtcp2_conn*, int64_t id, uint64_t, void* user_data, void*) {
    H3Connection& c = of(user_data);
    if (c.h3_ && nghttp3_conn_unblock_stream(c.h3_, id) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    return 0;
  }

  // --- GnuTLS: the peer's certificate, judged as the mesh port judges it.
  static int verify(gnutls_session_t session) {
    auto* ref = static_cast<ngtcp2_crypto_conn_ref*>(gnutls_session_get_ptr(session));
    H3Connection& c = of(ref->user_data);
    auto peer = c.credentials_->verify(session);
    if (!peer) {
      c.refusal_ = peer.error();
      c.refusal_detail_ = peer.error() == Handshake::kNoClientCert
                              ? "no peer certificate"
                              : "the peer's certificate does not verify against the trust roots with a SPIFFE ID";
      return -1;
    }
    if (!c.pin_.empty() && peer->spiffe_id != c.pin_ && peer->node_id != c.pin_) {  // a node's `id`
      c.refusal_ = Handshake::kCertRejected;
      c.refusal_detail_ = "the server is " + peer->spiffe_id + " (node " + peer->node_id + "), not " + c.pin_;
      return -1;
    }
    c.peer_ = std::make_shared<const PeerIdentity>(std::move(*peer));
    return 0;
  }

  static ngtcp2_conn* get_conn(ngtcp2_crypto_conn_ref* ref) { return of(ref->user_data).conn_; }

  // --- nghttp3
  static int acked_stream_data(nghttp3_conn*, int64_t id, uint64_t len, void* user_data, void*) {
    H3Connection& c = of(user_data);
    if (Txn* t = c.find(id)) {
      const size_t held = t->out.size();
      t->out.ack(len);
      c.dequeued(held - t->out.size());
      if (t->user) t->user->wake_writer();
    }
    return 0;
  }

  static int recv_data(nghttp3_conn*, int64_t id, const uint8_t* data, size_t len, void* user_data, void*) {
    H3Connection& c = of(user_data);
    Txn* t = c.find(id);
    // Kept from the start, also before the request is handed over or answered (a client may send
    // right after its HEADERS), bounded by the stream's window; dropped once nobody will read it.
    if (!t || t->abandoned || (t->responded && !t->tunnel)) {
      c.credit(id, len);
      return 0;
    }
    t->in.append(data, len, c.buffers_);
    if (t->user) t->user->wake_reader();
    return 0;
  }

  static int deferred_consume(nghttp3_conn*, int64_t id, size_t consumed, void* user_data, void*) {
    of(user_data).credit(id, consumed);
    return 0;
  }

  // A head (request or response) is collected as on HTTP/2 (h2::Message), bounded alike.
  static int begin_headers(nghttp3_conn*, int64_t id, void* user_data, void*) {
    H3Connection& c = of(user_data);
    if (c.role_ == Role::kServer || c.find(id)) c.heads_[id] = std::make_unique<h2::Message>();
    return 0;
  }

  static int recv_header(nghttp3_conn*, int64_t id, int32_t, nghttp3_rcbuf* name, nghttp3_rcbuf* value, uint8_t,
                         void* user_data, void*) {
    H3Connection& c = of(user_data);
    auto it = c.heads_.find(id);
    if (it != c.heads_.end()) it->second->add_field(view(name), view(value), kMaxHeaderList);
    return 0;
  }

  static int end_headers(nghttp3_conn*, int64_t id, int fin, void* user_data, void*) {
    H3Connection& c = of(user_data);
    if (c.role_ == Role::kClient) {
      auto head = c.heads_.extract(id);
      Txn* t = c.find(id);
      if (!t || head.empty() || head.mapped()->status < 200) return 0;  // interim (1xx), or not ours
      t->status = head.mapped()->status;
      t->responded = true;
      t->tunnel = t->status / 100 == 2;
      t->remote_end = t->remote_end || fin != 0;
      if (t->user) t->user->wake_reader();
      return 0;
    }
    Txn& t = c.txn(id);
    t.remote_end = fin != 0;
    c.new_requests_.push_back(id);
    return 0;
  }

  static int end_stream(nghttp3_conn*, int64_t id, void* user_data, void*) {
    H3Connection& c = of(user_data);
    if (Txn* t = c.find(id)) {
      t->remote_end = true;
      if (t->user) t->user->wake_reader();
    }
    return 0;
  }

  static int stop_sending(nghttp3_conn*, int64_t id, uint64_t code, void* user_data, void*) {
    ngtcp2_conn_shutdown_stream_read(of(user_data).conn_, id, code);
    return 0;
  }

  static int reset_stream(nghttp3_conn*, int64_t id, uint64_t code, void* user_data, void*) {
    ngtcp2_conn_shutdown_stream_write(of(user_data).conn_, id, code);
    return 0;
  }

  // A tunnel's bytes: what the writer queued, in place (acknowledged later).
  static nghttp3_ssize read_data(nghttp3_conn*, int64_t id, nghttp3_vec* vec, size_t veccnt, uint32_t* flags,
                                 void* user_data, void*) {
    H3Connection& c = of(user_data);
    Txn* t = c.find(id);
    if (!t) {
      *flags |= NGHTTP3_DATA_FLAG_EOF;
      return 0;
    }
    SendBuffer::Piece pieces[16];
    size_t n = t->out.next(std::span<SendBuffer::Piece>(pieces, std::min<size_t>(veccnt, 16)));
    for (size_t i = 0; i < n; ++i) vec[i] = {const_cast<uint8_t*>(pieces[i].data), pieces[i].size};
    if (t->end_queued && t->out.unsent() == 0) {
      *flags |= NGHTTP3_DATA_FLAG_EOF;
    } else if (n == 0) {
      t->blocked = true;
      return NGHTTP3_ERR_WOULDBLOCK;
    }
    return static_cast<nghttp3_ssize>(n);
  }
};

namespace {

const ngtcp2_callbacks& quic_callbacks() {
  static const ngtcp2_callbacks cb = [] {
    ngtcp2_callbacks c{};
    c.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    c.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    c.encrypt = ngtcp2_crypto_encrypt_cb;
    c.decrypt = ngtcp2_crypto_decrypt_cb;
    c.hp_mask = ngtcp2_crypto_hp_mask_cb;
    c.update_key = ngtcp2_crypto_update_key_cb;
    c.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    c.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    c.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    c.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
    return c;
  }();
  return cb;
}

}  // namespace

H3Connection::H3Connection(Role role, ConnectionHost& host, asio::io_context& io, BufferPool& buffers,
                           std::shared_ptr<h2::SendBudget> budget, std::shared_ptr<const Credentials> credentials,
                           ConnectionOptions options)
    : role_(role), host_(host), io_(io), buffers_(buffers), budget_(std::move(budget)),
      credentials_(std::move(credentials)), options_(options), timer_(io) {}

H3Connection::~H3Connection() {
  unlink();  // from the budget's waiters, while budget_ still holds it
  for (auto& [id, t] : txns_) {
    if (H3Stream* user = std::exchange(t->user, nullptr)) user->fail(asio::error::connection_aborted);
    t->in.clear(buffers_);
  }
  budget_->sub(queued_);  // what the streams still held (the library goes below: nothing reads them after)
  if (h3_) nghttp3_conn_del(h3_);
  if (conn_) ngtcp2_conn_del(conn_);
  if (tls_) gnutls_deinit(tls_);
}

uint64_t H3Connection::now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

ngtcp2_settings H3Connection::make_settings() const {
  ngtcp2_settings settings;
  ngtcp2_settings_default(&settings);
  settings.initial_ts = now_ns();
  settings.handshake_timeout = ns(options_.handshake_timeout);
  settings.max_window = 4 * kConnectionWindow;
  settings.max_stream_window = 4 * kStreamWindow;
  return settings;
}

// What both sides offer; each adds the windows of the streams it accepts.
ngtcp2_transport_params H3Connection::make_params() const {
  ngtcp2_transport_params params;
  ngtcp2_transport_params_default(&params);
  params.initial_max_stream_data_uni = kStreamWindow;  // the peer's control and QPACK streams
  params.initial_max_data = kConnectionWindow;
  params.initial_max_streams_uni = 3;
  params.max_idle_timeout = ns(options_.idle_timeout);
  return params;
}

bool H3Connection::accept(const ngtcp2_pkt_hd& hd, const Udp::endpoint& local, const Udp::endpoint& remote,
                          std::span<const uint8_t> packet) {
  local_ = local;
  remote_ = remote;
  ngtcp2_callbacks cb = callbacks();
  ngtcp2_settings settings = make_settings();
  ngtcp2_transport_params params = make_params();
  params.initial_max_stream_data_bidi_remote = kStreamWindow;  // the tunnels clients open
  params.initial_max_streams_bidi = options_.max_streams;
  params.original_dcid = hd.dcid;

  ngtcp2_cid scid;
  scid.datalen = kCidLength;
  gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen);
  auto secret = host_.reset_secret();
  params.stateless_reset_token_present = 1;
  ngtcp2_crypto_generate_stateless_reset_token(params.stateless_reset_token, secret.data(), secret.size(), &scid);

  ngtcp2_path path = path_of(local_, remote_);
  if (ngtcp2_conn_server_new(&conn_, &hd.scid, &scid, &path, hd.version, &cb, &settings, &params, nullptr, this) != 0)
    return false;
  if (!setup_tls()) return false;
  cids_.push_back(cid_key(scid));
  host_.bind_cid(cids_.back(), *this);
  on_packet(packet, local, remote);
  return true;
}

ngtcp2_callbacks H3Connection::callbacks() const {
  ngtcp2_callbacks cb = quic_callbacks();
  if (role_ == Role::kClient) {
    cb.client_initial = ngtcp2_crypto_client_initial_cb;
    cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
  } else {
    cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
    cb.extend_max_remote_streams_bidi = Callbacks::extend_max_remote_streams_bidi;
  }
  cb.rand = Callbacks::rand;
  cb.get_new_connection_id = Callbacks::get_new_connection_id;
  cb.remove_connection_id = Callbacks::remove_connection_id;
  cb.handshake_completed = Callbacks::handshake_completed;
  cb.recv_stream_data = Callbacks::recv_stream_data;
  cb.acked_stream_data_offset = Callbacks::acked_stream_data_offset;
  cb.stream_close = Callbacks::stream_close;
  cb.stream_reset = Callbacks::stream_reset;
  cb.stream_stop_sending = Callbacks::stream_stop_sending;
  cb.extend_max_stream_data = Callbacks::extend_max_stream_data;
  return cb;
}

bool H3Connection::connect(const Udp::endpoint& local, const Udp::endpoint& remote, std::string pin) {
  local_ = local;
  remote_ = remote;
  pin_ = std::move(pin);
  ngtcp2_callbacks cb = callbacks();
  ngtcp2_settings settings = make_settings();
  ngtcp2_transport_params params = make_params();
  params.initial_max_stream_data_bidi_local = kStreamWindow;  // the tunnels we open
  params.initial_max_streams_bidi = 0;  // the server opens none (reverse streams come later)
  ngtcp2_cid dcid, scid;
  dcid.datalen = kCidLength;
  scid.datalen = kCidLength;
  gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, dcid.datalen);
  gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen);
  ngtcp2_path path = path_of(local_, remote_);
  if (ngtcp2_conn_client_new(&conn_, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb, &settings, &params, nullptr,
                             this) != 0)
    return false;
  if (!setup_tls()) return false;
  cids_.push_back(cid_key(scid));
  host_.bind_cid(cids_.back(), *this);
  flush();  // the first Initial
  return !ended_;
}

std::unique_ptr<H3Stream> H3Connection::open_tunnel(const std::string& authority, const HboneStream::Fields& headers) {
  if (role_ != Role::kClient || ended_ || !ngtcp2_conn_get_handshake_completed(conn_) || (!h3_ && !setup_http3()))
    return nullptr;
  int64_t id = -1;
  if (ngtcp2_conn_open_bidi_stream(conn_, &id, nullptr) != 0) return nullptr;  // no stream credit now
  const std::string method_name = ":method", method = "CONNECT", authority_name = ":authority";
  std::vector<nghttp3_nv> nva{nv(method_name, method), nv(authority_name, authority)};
  for (const auto& [n, v] : headers) nva.push_back(nv(n, v));
  static const nghttp3_data_reader reader{Callbacks::read_data};
  if (nghttp3_conn_submit_request(h3_, id, nva.data(), nva.size(), &reader, nullptr) != 0) return nullptr;
  Txn& t = txn(id);
  t.tunnel = true;  // what the writer queues goes out as DATA after the request
  auto s = std::make_unique<H3Stream>(io_, std::make_shared<StreamMeta>(), *this, t);
  t.user = s.get();
  schedule_flush();
  return s;
}

std::chrono::nanoseconds H3Connection::rtt() const {
  ngtcp2_conn_stat stat;
  ngtcp2_conn_get_conn_stat(conn_, &stat);
  return std::chrono::nanoseconds(stat.smoothed_rtt);
}

bool H3Connection::setup_tls() {
  const bool server = role_ == Role::kServer;
  if (gnutls_init(&tls_, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_NO_AUTO_SEND_TICKET |
                             GNUTLS_NO_END_OF_EARLY_DATA) != 0)
    return false;
  if (gnutls_priority_set_direct(tls_, kPriority, nullptr) != 0) return false;
  if ((server ? ngtcp2_crypto_gnutls_configure_server_session(tls_) : ngtcp2_crypto_gnutls_configure_client_session(tls_)) != 0)
    return false;
  if (gnutls_credentials_set(tls_, GNUTLS_CRD_CERTIFICATE, credentials_->get()) != 0) return false;
  if (server) gnutls_certificate_server_set_request(tls_, GNUTLS_CERT_REQUIRE);  // mTLS, as on the mesh port
  gnutls_session_set_verify_function(tls_, Callbacks::verify);
  gnutls_datum_t h3{reinterpret_cast<unsigned char*>(const_cast<char*>("h3")), 2};
  if (gnutls_alpn_set_protocols(tls_, &h3, 1, GNUTLS_ALPN_MANDATORY) != 0) return false;
  conn_ref_ = std::make_unique<ngtcp2_crypto_conn_ref>(ngtcp2_crypto_conn_ref{Callbacks::get_conn, this});
  gnutls_session_set_ptr(tls_, conn_ref_.get());
  ngtcp2_conn_set_tls_native_handle(conn_, tls_);
  return true;
}

bool H3Connection::setup_http3() {
  if (ngtcp2_conn_get_streams_uni_left(conn_) < 3) return false;
  nghttp3_callbacks cb{};
  cb.acked_stream_data = Callbacks::acked_stream_data;
  cb.recv_data = Callbacks::recv_data;
  cb.deferred_consume = Callbacks::deferred_consume;
  cb.begin_headers = Callbacks::begin_headers;
  cb.recv_header = Callbacks::recv_header;
  cb.end_headers = Callbacks::end_headers;
  cb.end_stream = Callbacks::end_stream;
  cb.stop_sending = Callbacks::stop_sending;
  cb.reset_stream = Callbacks::reset_stream;
  nghttp3_settings settings;
  nghttp3_settings_default(&settings);
  settings.max_field_section_size = kMaxHeaderList;
  if (role_ == Role::kClient) {
    if (nghttp3_conn_client_new(&h3_, &cb, &settings, nghttp3_mem_default(), this) != 0) return false;
  } else {
    if (nghttp3_conn_server_new(&h3_, &cb, &settings, nghttp3_mem_default(), this) != 0) return false;
    nghttp3_conn_set_max_client_streams_bidi(h3_, options_.max_streams);
  }
  int64_t control = -1, encoder = -1, decoder = -1;
  if (ngtcp2_conn_open_uni_stream(conn_, &control, nullptr) != 0 ||
      nghttp3_conn_bind_control_stream(h3_, control) != 0 || ngtcp2_conn_open_uni_stream(conn_, &encoder, nullptr) != 0 ||
      ngtcp2_conn_open_uni_stream(conn_, &decoder, nullptr) != 0 ||
      nghttp3_conn_bind_qpack_streams(h3_, encoder, decoder) != 0)
    return false;
  return true;
}

void H3Connection::on_packet(std::span<const uint8_t> packet, const Udp::endpoint& local, const Udp::endpoint& remote) {
  if (ended_) return;
  ngtcp2_path path = path_of(local, remote);
  ngtcp2_pkt_info pi{};
  int rv = ngtcp2_conn_read_pkt(conn_, &path, &pi, packet.data(), packet.size(), now_ns());
  if (rv == NGTCP2_ERR_DRAINING || rv == NGTCP2_ERR_DROP_CONN) {  // the client closed it (or must not be answered)
    if (!handshake_reported_) report_handshake(refusal_ != Handshake::kAccepted ? refusal_ : Handshake::kTlsFailed,
                                               refusal_detail_.empty() ? "closed during the handshake" : refusal_detail_);
    end();
    return;
  }
  if (rv != 0) {
    fail(rv);
    return;
  }
  remote_ = endpoint_of(ngtcp2_conn_get_path(conn_)->remote);  // migration moves it
  if (!handshake_reported_ && ngtcp2_conn_get_handshake_completed(conn_)) report_handshake(Handshake::kAccepted, "");
  flush();
}

void H3Connection::report_handshake(Handshake outcome, const std::string& detail) {
  handshake_reported_ = true;
  host_.on_handshake(*this, outcome, detail);
}

void H3Connection::flush() {
  if (ended_) return;
  // Requests whose heads arrived during the library call: handed over now, outside it.
  std::vector<int64_t> ids = std::move(new_requests_);
  new_requests_.clear();
  std::weak_ptr<bool> alive = alive_;
  for (int64_t id : ids) {
    Txn* t = find(id);
    auto head = heads_.find(id);
    if (!t || head == heads_.end()) continue;
    std::unique_ptr<h2::Message> msg = std::move(head->second);
    heads_.erase(head);
    auto s = std::make_unique<H3Stream>(io_, std::make_shared<StreamMeta>(), *this, *t);
    t->user = s.get();
    host_.on_request(*this, std::move(s), std::move(msg));
    if (alive.expired() || ended_) return;
  }
  if (!write_packets()) return;
  arm_timer();
}

void H3Connection::schedule_flush() {
  if (flush_posted_ || ended_) return;
  flush_posted_ = true;
  asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.expired()) return;
    flush_posted_ = false;
    flush();  // (posted: never inside a library call)
  });
}

bool H3Connection::write_packets() {
  std::array<uint8_t, kMaxPacket> buf;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi{};
  const uint64_t ts = now_ns();
  for (unsigned sent = 0;;) {
    if (sent == kPacketsPerFlush) {
      schedule_flush();  // the rest after other work
      break;
    }
    int64_t stream_id = -1;
    int fin = 0;
    nghttp3_vec vec[16];
    nghttp3_ssize count = 0;
    if (h3_ && ngtcp2_conn_get_max_data_left(conn_)) {
      count = nghttp3_conn_writev_stream(h3_, &stream_id, &fin, vec, 16);
      if (count < 0) {
        h3_error_ = static_cast<int>(count);
        fail(NGTCP2_ERR_CALLBACK_FAILURE);
        return false;
      }
    }
    ngtcp2_ssize written = -1;
    uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE | (fin ? NGTCP2_WRITE_STREAM_FLAG_FIN : 0);
    ngtcp2_ssize n = ngtcp2_conn_writev_stream(conn_, &ps.path, &pi, buf.data(), buf.size(), &written, flags, stream_id,
                                               reinterpret_cast<const ngtcp2_vec*>(vec), static_cast<size_t>(count), ts);
    if (n < 0) {
      if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
        nghttp3_conn_block_stream(h3_, stream_id);
        continue;
      }
      if (n == NGTCP2_ERR_STREAM_SHUT_WR) {
        nghttp3_conn_shutdown_stream_write(h3_, stream_id);
        continue;
      }
      if (n == NGTCP2_ERR_WRITE_MORE) {
        nghttp3_conn_add_write_offset(h3_, stream_id, static_cast<size_t>(written));
        continue;
      }
      fail(static_cast<int>(n));
      return false;
    }
    if (written >= 0 && stream_id >= 0) nghttp3_conn_add_write_offset(h3_, stream_id, static_cast<size_t>(written));
    if (n == 0) break;
    host_.send(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)), endpoint_of(ps.path.remote));
    ++sent;
  }
  ngtcp2_conn_update_pkt_tx_time(conn_, ts);
  return true;
}

// Set again only when ngtcp2's next expiry moved: most packets leave it where it was.
void H3Connection::arm_timer() {
  ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(conn_);
  if (expiry == armed_) return;
  armed_ = expiry;
  if (expiry == UINT64_MAX) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(std::chrono::steady_clock::time_point(std::chrono::nanoseconds(expiry)));
  timer_.async_wait([this, alive = std::weak_ptr<bool>(alive_)](const error_code& ec) {
    if (ec || alive.expired()) return;
    on_timer();
  });
}

void H3Connection::on_timer() {
  armed_ = UINT64_MAX;  // fired: the next flush sets it again
  if (ended_) return;
  int rv = ngtcp2_conn_handle_expiry(conn_, now_ns());
  if (rv == NGTCP2_ERR_IDLE_CLOSE || rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {  // silently, as RFC 9000 10.1 says
    if (!handshake_reported_) report_handshake(Handshake::kTimeout, "the handshake did not finish in time");
    end();
    return;
  }
  if (rv != 0) {
    fail(rv);
    return;
  }
  flush();
}

void H3Connection::fail(int liberr, Handshake during) {
  if (ended_) return;
  failed_ = true;
  if (!handshake_reported_) {
    std::string detail = refusal_detail_;
    if (refusal_ == Handshake::kAccepted && liberr == NGTCP2_ERR_CRYPTO) {
      // GnuTLS refused before verify() could: its alert says why.
      uint8_t alert = ngtcp2_conn_get_tls_alert(conn_);
      if (alert == GNUTLS_A_CERTIFICATE_REQUIRED) refusal_ = Handshake::kNoClientCert;
      if (alert == GNUTLS_A_NO_APPLICATION_PROTOCOL) refusal_ = Handshake::kWrongAlpn;
      detail = std::string("TLS alert: ") + gnutls_alert_get_strname(static_cast<gnutls_alert_description_t>(alert));
    }
    if (detail.empty()) detail = ngtcp2_strerror(liberr);
    report_handshake(refusal_ != Handshake::kAccepted ? refusal_ : during, detail);
  }
  ngtcp2_connection_close_error err;
  ngtcp2_connection_close_error_default(&err);
  if (liberr == NGTCP2_ERR_CRYPTO)
    ngtcp2_connection_close_error_set_transport_error_tls_alert(&err, ngtcp2_conn_get_tls_alert(conn_), nullptr, 0);
  else if (h3_error_ != 0)
    ngtcp2_connection_close_error_set_application_error(&err, nghttp3_err_infer_quic_app_error_code(h3_error_), nullptr, 0);
  else
    ngtcp2_connection_close_error_set_transport_error_liberr(&err, liberr, nullptr, 0);
  close_with(err);
}

void H3Connection::shut_down() {
  if (ended_) return;
  ngtcp2_connection_close_error err;
  ngtcp2_connection_close_error_default(&err);
  ngtcp2_connection_close_error_set_application_error(&err, NGHTTP3_H3_NO_ERROR, nullptr, 0);
  close_with(err);
}

void H3Connection::close_with(const ngtcp2_connection_close_error& err) {
  std::array<uint8_t, kMaxPacket> buf;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi{};
  ngtcp2_ssize n = ngtcp2_conn_write_connection_close(conn_, &ps.path, &pi, buf.data(), buf.size(), &err, now_ns());
  if (n > 0) host_.send(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)), endpoint_of(ps.path.remote));
  end();
}

// Without a closing period: a packet that still comes finds no connection
// and is dropped (counted), which RFC 9000 10.2 allows.
void H3Connection::end() {
  if (ended_) return;
  ended_ = true;
  timer_.cancel();
  unlink();  // no writer will wait for the budget
  for (auto& [id, t] : txns_) {
    if (H3Stream* user = std::exchange(t->user, nullptr)) user->fail(asio::error::connection_aborted);
    release_out(*t);  // back to the budget now, not when the listener frees us
  }
  for (const auto& cid : cids_) host_.unbind_cid(cid);
  cids_.clear();
  host_.on_closed(*this);
}

void H3Connection::dequeued(size_t n) {
  if (n == 0) return;
  queued_ -= std::min(n, queued_);
  budget_->sub(n);
  if (queue_full_ && !ended_ && queued_ <= options_.send_queue / 2) {
    queue_full_ = false;
    wake_writers();
  }
}

void H3Connection::release_out(Txn& t) {
  const size_t n = t.out.size();
  t.out.clear();
  dequeued(n);
}

void H3Connection::on_budget() {  // posted by the budget: outside the libraries
  if (!ended_) wake_writers();
}

// Every stream whose writer waits (H3Stream posts the wake-up: safe inside a callback).
void H3Connection::wake_writers() {
  for (auto& [id, t] : txns_)
    if (t->user) t->user->wake_writer();
}

Txn& H3Connection::txn(int64_t id) {
  auto& slot = txns_[id];
  if (!slot) {
    slot = std::make_unique<Txn>();
    slot->id = id;
  }
  return *slot;
}

Txn* H3Connection::find(int64_t id) {
  auto it = txns_.find(id);
  return it == txns_.end() ? nullptr : it->second.get();
}

void H3Connection::forget(Txn& t) {
  if (!t.closed || t.user) return;
  t.in.clear(buffers_);
  release_out(t);
  txns_.erase(t.id);
}

void H3Connection::credit(int64_t id, uint64_t n) {
  if (n == 0 || ended_) return;
  ngtcp2_conn_extend_max_stream_offset(conn_, id, n);  // (fails harmlessly once the stream is gone)
  ngtcp2_conn_extend_max_offset(conn_, n);
}

size_t H3Connection::stream_read(Txn& t, asio::mutable_buffer buf, error_code& ec) {
  stream_credit(t);
  size_t n = t.in.take(static_cast<uint8_t*>(buf.data()), buf.size(), buffers_);
  if (n > 0) {
    t.unconsumed += n;
    return n;
  }
  if (t.reset) ec = asio::error::connection_reset;
  else if (t.remote_end || t.closed) ec = asio::error::eof;
  else ec = asio::error::would_block;
  return 0;
}

// What a writer may queue on t now: its stream's cap, within the connection's and the worker's budget.
size_t H3Connection::stream_room(const Txn& t) const {
  if (t.reset || t.closed || t.end_queued || ended_) return SIZE_MAX;  // a write fails: it says why
  size_t room = H3Stream::kSendQueue - std::min(t.out.size(), H3Stream::kSendQueue);
  room = std::min(room, options_.send_queue - std::min(queued_, options_.send_queue));
  return std::min(room, budget_->room());
}

// The stream's own cap opens as its bytes are acknowledged (acked_stream_data wakes it);
// the connection's and the budget's wake every waiting writer.
void H3Connection::stream_wait_room(const Txn&) {
  if (queued_ >= options_.send_queue) queue_full_ = true;
  if (budget_->room() == 0) budget_->wait(*this);
}

size_t H3Connection::stream_write(Txn& t, asio::const_buffer buf, error_code& ec) {
  if (t.reset || t.closed || ended_) {
    ec = asio::error::connection_reset;
    return 0;
  }
  if (t.end_queued) {
    ec = asio::error::shut_down;
    return 0;
  }
  size_t room = stream_room(t);
  if (room == 0) {
    stream_wait_room(t);
    ec = asio::error::would_block;
    return 0;
  }
  size_t n = std::min(room, buf.size());
  t.out.append(static_cast<const uint8_t*>(buf.data()), n);
  queued_ += n;
  budget_->add(n);
  if (t.blocked && t.tunnel) {
    t.blocked = false;
    nghttp3_conn_resume_stream(h3_, t.id);
  }
  schedule_flush();
  return n;
}

void H3Connection::stream_credit(Txn& t) {
  if (t.unconsumed == 0) return;
  credit(t.id, std::exchange(t.unconsumed, 0));
  schedule_flush();
}

void H3Connection::stream_shutdown(Txn& t) {
  if (t.end_queued || t.closed) return;
  t.end_queued = true;
  if (t.blocked && t.tunnel) {
    t.blocked = false;
    nghttp3_conn_resume_stream(h3_, t.id);
  }
  schedule_flush();
}

void H3Connection::stream_reset(Txn& t) {
  if (t.closed || ended_) return;
  ngtcp2_conn_shutdown_stream(conn_, t.id, NGHTTP3_H3_CONNECT_ERROR);
  t.reset = true;
  schedule_flush();
}

void H3Connection::stream_close(Txn& t) {
  t.user = nullptr;
  t.abandoned = true;
  credit(t.id, t.unconsumed + t.in.size());  // nobody reads what is left: the peer may send on until it closes
  t.unconsumed = 0;
  t.in.clear(buffers_);
  if (!t.closed && !ended_) {
    if (!t.responded) {
      ngtcp2_conn_shutdown_stream(conn_, t.id, NGHTTP3_H3_REQUEST_CANCELLED);
    } else {
      if (!t.remote_end) ngtcp2_conn_shutdown_stream_read(conn_, t.id, NGHTTP3_H3_NO_ERROR);
      stream_shutdown(t);
    }
    schedule_flush();
  }
  forget(t);
}

bool H3Connection::stream_respond(Txn& t, int status, const HboneStream::Fields& extra) {
  if (t.responded || t.closed || !h3_ || ended_) return false;
  const std::string code = std::to_string(status), name = ":status";
  std::vector<nghttp3_nv> nva{nv(name, code)};
  for (const auto& [n, v] : extra) nva.push_back(nv(n, v));
  static const nghttp3_data_reader reader{Callbacks::read_data};
  t.tunnel = status == 200;  // RFC 9114 4.4: a 2xx opens the tunnel; the stream goes on
  int rv = nghttp3_conn_submit_response(h3_, t.id, nva.data(), nva.size(), t.tunnel ? &reader : nullptr);
  t.responded = true;
  if (!t.tunnel) {  // the answer ends the stream: what the client still sends is not read (H3_NO_ERROR, RFC 9114 4.1)
    t.end_queued = true;
    if (!t.remote_end) ngtcp2_conn_shutdown_stream_read(conn_, t.id, NGHTTP3_H3_NO_ERROR);
  }
  schedule_flush();
  return rv == 0;
}

}  // namespace ugate::quic
