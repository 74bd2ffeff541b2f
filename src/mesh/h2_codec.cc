#include "mesh/h2_codec.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace ugate::h2 {
namespace {

constexpr size_t kFrameHeader = 9;  // every HTTP/2 frame starts with 9 bytes

Transaction* txn_of(nghttp2_session* s, int32_t id) {
  return static_cast<Transaction*>(nghttp2_session_get_stream_user_data(s, id));
}

nghttp2_nv nv(std::string_view name, std::string_view value) {
  // nghttp2 copies names and values (no NO_COPY flags), so views suffice.
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

std::vector<nghttp2_nv> to_nva(std::initializer_list<Header> first, const std::vector<Header>& extra) {
  std::vector<nghttp2_nv> nva;
  nva.reserve(first.size() + extra.size());
  for (const auto& h : first) nva.push_back(nv(h.name, h.value));
  for (const auto& h : extra) nva.push_back(nv(h.name, h.value));
  return nva;
}

}  // namespace

// The C callbacks, each a line or two into CodecEvents.
struct H2Codec::Callbacks {
  static H2Codec& codec(void* user_data) { return *static_cast<H2Codec*>(user_data); }

  static int on_begin_headers(nghttp2_session* s, const nghttp2_frame* f, void* ud) {
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    Transaction* t = codec(ud).events_.on_stream_opened(f->hd.stream_id);
    if (!t) {
      nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    nghttp2_session_set_stream_user_data(s, f->hd.stream_id, t);
    return 0;
  }

  static int on_header(nghttp2_session* s, const nghttp2_frame* f, const uint8_t* name, size_t namelen,
                       const uint8_t* value, size_t valuelen, uint8_t, void* ud) {
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    Transaction* t = txn_of(s, f->hd.stream_id);
    if (!t) return 0;
    bool ok = codec(ud).events_.on_header(*t, {reinterpret_cast<const char*>(name), namelen},
                                          {reinterpret_cast<const char*>(value), valuelen});
    return ok ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }

  static int on_frame_recv(nghttp2_session* s, const nghttp2_frame* f, void* ud) {
    CodecEvents& ev = codec(ud).events_;
    ev.on_frame_received();
    switch (f->hd.type) {
      case NGHTTP2_HEADERS:
      case NGHTTP2_DATA: {
        Transaction* t = txn_of(s, f->hd.stream_id);
        if (!t) return 0;
        if (f->hd.type == NGHTTP2_HEADERS) ev.on_headers_done(*t);
        if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) ev.on_remote_end(*t);
        return 0;
      }
      case NGHTTP2_PING:
        if (f->hd.flags & NGHTTP2_FLAG_ACK) ev.on_ping_ack();
        return 0;
      case NGHTTP2_GOAWAY:
        ev.on_goaway(f->goaway.error_code);
        return 0;
      case NGHTTP2_RST_STREAM:
        if (Transaction* t = txn_of(s, f->hd.stream_id)) ev.on_reset_received(*t);
        return 0;
      default:
        return 0;
    }
  }

  static int on_data_chunk(nghttp2_session* s, uint8_t, int32_t id, const uint8_t* data, size_t len, void* ud) {
    if (Transaction* t = txn_of(s, id)) codec(ud).events_.on_data(*t, data, len);
    else nghttp2_session_consume(s, id, len);  // nobody will read it: give the window back now
    return 0;
  }

  static int on_stream_close(nghttp2_session* s, int32_t id, uint32_t error_code, void* ud) {
    if (Transaction* t = txn_of(s, id)) codec(ud).events_.on_stream_closed(*t, error_code);
    return 0;
  }

  static int on_frame_send(nghttp2_session* s, const nghttp2_frame* f, void* ud) {
    if (f->hd.type == NGHTTP2_GOAWAY && f->goaway.error_code != NGHTTP2_NO_ERROR) {
      H2Codec& c = codec(ud);
      c.goaway_error_sent_ = f->goaway.error_code;
      if (c.error_.empty()) c.error_ = nghttp2_http2_strerror(f->goaway.error_code);
    }
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
    Transaction* t = txn_of(s, f->hd.stream_id);
    if (!t) return 0;
    if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) codec(ud).events_.on_local_end(*t);
    else if (f->hd.type == NGHTTP2_HEADERS) codec(ud).events_.on_headers_sent(*t);
    return 0;
  }

  static int on_frame_not_send(nghttp2_session* s, const nghttp2_frame* f, int, void* ud) {
    // A request that never left (the peer is going away): its stream is over.
    if (f->hd.type == NGHTTP2_HEADERS) {
      if (Transaction* t = txn_of(s, f->hd.stream_id)) codec(ud).events_.on_stream_closed(*t, NGHTTP2_REFUSED_STREAM);
    }
    return 0;
  }

  static int on_error(nghttp2_session*, int, const char* msg, size_t len, void* ud) {
    codec(ud).error_.assign(msg, std::min<size_t>(len, 200));
    return 0;
  }

  static ssize_t read_length(nghttp2_session*, uint8_t, int32_t, int32_t, int32_t, uint32_t remote_max_frame,
                             void* ud) {
    H2Codec& c = codec(ud);
    size_t room = c.out_ ? c.out_cap_ - *c.out_len_ : 0;
    size_t n = room > kFrameHeader ? room - kFrameHeader : 1;
    return static_cast<ssize_t>(std::clamp<size_t>(n, 1, remote_max_frame));
  }

  static ssize_t read_data(nghttp2_session*, int32_t, uint8_t*, size_t length, uint32_t* flags,
                           nghttp2_data_source* source, void* ud) {
    bool end = false, pause = false;
    long n = codec(ud).events_.data_ready(*static_cast<Transaction*>(source->ptr), length, end, pause);
    if (n < 0) return NGHTTP2_ERR_DEFERRED;
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (end) *flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (pause) *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    return n;
  }

  // NO_COPY DATA: the frame header, then the payload straight from the
  // transaction's queue into produce()'s buffer.
  static int send_data(nghttp2_session*, nghttp2_frame* f, const uint8_t* framehd, size_t length,
                       nghttp2_data_source* source, void* ud) {
    H2Codec& c = codec(ud);
    if (!c.out_ || f->data.padlen > 0) return NGHTTP2_ERR_CALLBACK_FAILURE;  // we never pad
    size_t& len = *c.out_len_;
    if (c.out_cap_ - len < kFrameHeader + length) return NGHTTP2_ERR_WOULDBLOCK;
    std::memcpy(c.out_ + len, framehd, kFrameHeader);
    c.events_.take_data(*static_cast<Transaction*>(source->ptr), c.out_ + len + kFrameHeader, length);
    len += kFrameHeader + length;
    return 0;
  }
};

H2Codec::H2Codec(Role role, const Settings& settings, CodecEvents& events) : events_(events) {
  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_option* opt = nullptr;
  if (nghttp2_session_callbacks_new(&cbs) != 0 || nghttp2_option_new(&opt) != 0) throw std::bad_alloc();
  nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, Callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cbs, Callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, Callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, Callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, Callbacks::on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cbs, Callbacks::on_frame_send);
  nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, Callbacks::on_frame_not_send);
  nghttp2_session_callbacks_set_error_callback2(cbs, Callbacks::on_error);
  nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, Callbacks::read_length);
  nghttp2_session_callbacks_set_send_data_callback(cbs, Callbacks::send_data);
  nghttp2_option_set_no_auto_window_update(opt, 1);  // WINDOW_UPDATE only for delivered bytes
  nghttp2_option_set_no_closed_streams(opt, 1);      // no priority tree: closed streams cost nothing
  int rv = role == Role::kClient ? nghttp2_session_client_new2(&session_, cbs, this, opt)
                                 : nghttp2_session_server_new2(&session_, cbs, this, opt);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_option_del(opt);
  if (rv != 0) throw std::bad_alloc();

  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, settings.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, settings.stream_window},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, settings.max_frame},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, settings.max_header_list},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  // ENABLE_PUSH is a client's setting only.
  size_t n = role == Role::kClient ? std::size(iv) : std::size(iv) - 1;
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, n);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(settings.connection_window));
}

H2Codec::~H2Codec() { nghttp2_session_del(session_); }

bool H2Codec::feed(const uint8_t* data, size_t n) {
  ssize_t rv = nghttp2_session_mem_recv(session_, data, n);
  if (rv < 0) {
    if (error_.empty()) error_ = nghttp2_strerror(static_cast<int>(rv));
    return false;
  }
  return true;
}

bool H2Codec::produce(uint8_t* out, size_t cap, size_t& len) {
  if (!overflow_.empty()) {
    size_t m = std::min(overflow_.size(), cap - len);
    std::memcpy(out + len, overflow_.data(), m);
    len += m;
    overflow_.erase(0, m);
    if (!overflow_.empty()) return true;
  }
  out_ = out;
  out_cap_ = cap;
  out_len_ = &len;
  bool ok = true;
  while (cap - len >= kMinRoom) {
    const uint8_t* p = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_, &p);
    if (n < 0) {
      error_ = nghttp2_strerror(static_cast<int>(n));
      ok = false;
      break;
    }
    if (n == 0) break;
    size_t m = std::min(static_cast<size_t>(n), cap - len);
    std::memcpy(out + len, p, m);
    len += m;
    if (m < static_cast<size_t>(n)) {
      overflow_.assign(reinterpret_cast<const char*>(p) + m, static_cast<size_t>(n) - m);
      break;
    }
  }
  out_ = nullptr;
  out_len_ = nullptr;
  if (overflow_.capacity() > 0 && overflow_.empty()) overflow_.shrink_to_fit();
  return ok;
}

bool H2Codec::want_read() const { return nghttp2_session_want_read(session_) != 0; }
bool H2Codec::want_write() const { return !overflow_.empty() || nghttp2_session_want_write(session_) != 0; }

int32_t H2Codec::submit_connect(std::string_view authority, const std::vector<Header>& extra, Transaction& t) {
  auto nva = to_nva({{":method", "CONNECT"}, {":authority", authority}}, extra);
  int32_t id = nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, -1, nullptr, nva.data(), nva.size(), &t);
  return id > 0 ? id : 0;
}

bool H2Codec::submit_response(int32_t id, int status, const std::vector<Header>& extra, bool with_body) {
  std::string code = std::to_string(status);
  auto nva = to_nva({{":status", code}}, extra);
  if (!with_body) return nghttp2_submit_response(session_, id, nva.data(), nva.size(), nullptr) == 0;
  return nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, id, nullptr, nva.data(), nva.size(), nullptr) == 0;
}

bool H2Codec::submit_data(int32_t id, Transaction& t) {
  nghttp2_data_provider prd{};
  prd.source.ptr = &t;
  prd.read_callback = Callbacks::read_data;
  return nghttp2_submit_data(session_, NGHTTP2_FLAG_END_STREAM, id, &prd) == 0;
}

void H2Codec::resume(int32_t id) { nghttp2_session_resume_data(session_, id); }

Transaction* H2Codec::transaction(int32_t id) const { return id > 0 ? txn_of(session_, id) : nullptr; }

void H2Codec::consume(int32_t id, size_t n) {
  if (n > 0) nghttp2_session_consume(session_, id, n);
}

void H2Codec::reset(int32_t id, uint32_t error_code) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, error_code);
}

void H2Codec::ping() { nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr); }

void H2Codec::go_away(uint32_t error_code) {
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_), error_code,
                        nullptr, 0);
}

void H2Codec::detach(int32_t id) {
  if (id > 0) nghttp2_session_set_stream_user_data(session_, id, nullptr);
}

bool H2Codec::stream_open(int32_t id) const { return id > 0 && nghttp2_session_find_stream(session_, id) != nullptr; }

size_t H2Codec::send_window(int32_t id) const {
  int32_t stream = nghttp2_session_get_stream_remote_window_size(session_, id);
  int32_t connection = nghttp2_session_get_remote_window_size(session_);
  return static_cast<size_t>(std::max(0, std::min(stream, connection)));
}

uint32_t H2Codec::peer_max_concurrent_streams() const {
  return nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

}  // namespace ugate::h2
