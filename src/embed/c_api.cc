// The C API of include/ugate/ugate.h: every entry catches what the gateway
// throws and turns it into an error code and ugate_last_error()'s message.
#include <spdlog/spdlog.h>

#include <yaml-cpp/yaml.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/config_error.h"
#include "config/config.h"
#include "embed/local_stream.h"
#include "embed/log_callback.h"
#include "runtime/listen_socket.h"
#include "runtime/socket_protect.h"
#include "server/gate.h"
#include "ugate/ugate.h"
#include "ugate/version.h"

struct ugate_gateway {
  enum class State { kCreated, kRunning, kStopped };
  std::mutex mu;  // state changes and the control thread
  State state = State::kCreated;
  std::unique_ptr<ugate::Gate> gate;
  std::thread control;  // runs Gate::serve()
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;  // serve() returned
  std::atomic<size_t> next_worker{0};
};

namespace {

thread_local std::string last_error;

int fail(int code, std::string message) {
  last_error = std::move(message);
  return code;
}

// Runs `body`; whatever it throws becomes an error code, never an exception through C.
template <typename F>
int guarded(int code_for_exceptions, F&& body) noexcept {
  try {
    return body();
  } catch (const ugate::ConfigError& e) {
    return fail(UGATE_ERR_CONFIG, e.what());
  } catch (const ugate::StartError& e) {
    return fail(UGATE_ERR_START, e.what());
  } catch (const std::bad_alloc&) {
    return fail(UGATE_ERR_SYSTEM, "out of memory");
  } catch (const std::exception& e) {
    return fail(code_for_exceptions, e.what());
  } catch (...) {
    return fail(UGATE_ERR_INTERNAL, "an unknown exception");
  }
}

// Ends the control thread once serve() returned (stop, or a drain's end).
void join_control(ugate_gateway* g) {
  if (g->control.joinable()) g->control.join();
  g->state = ugate_gateway::State::kStopped;
}

}  // namespace

extern "C" {

const char* ugate_version(void) { return ugate::kVersion; }

const char* ugate_last_error(void) { return last_error.c_str(); }

const char* ugate_error_name(int code) {
  switch (code) {
    case UGATE_OK: return "ok";
    case UGATE_ERR_INVALID_ARGUMENT: return "invalid_argument";
    case UGATE_ERR_CONFIG: return "config";
    case UGATE_ERR_START: return "start";
    case UGATE_ERR_STATE: return "state";
    case UGATE_ERR_NOT_SUPPORTED: return "not_supported";
    case UGATE_ERR_CONNECT: return "connect";
    case UGATE_ERR_TIMEOUT: return "timeout";
    case UGATE_ERR_SYSTEM: return "system";
    case UGATE_ERR_INTERNAL: return "internal";
  }
  return "unknown";
}

int ugate_set_log_callback(ugate_log_fn fn, void* user, int min_level) {
  if (min_level < UGATE_LOG_TRACE || min_level > UGATE_LOG_OFF || min_level == 5)
    return fail(UGATE_ERR_INVALID_ARGUMENT, "min_level: not a ugate_log_level");
  return guarded(UGATE_ERR_INTERNAL, [&]() -> int {
    ugate::set_log_callback(fn, user, min_level);
    return UGATE_OK;
  });
}

int ugate_set_protect_callback(ugate_protect_fn fn, void* user) {
  ugate::set_socket_protector(fn, user);
  return UGATE_OK;
}

int ugate_create(const char* yaml, const char* source, ugate_gateway** out) {
  if (!out) return fail(UGATE_ERR_INVALID_ARGUMENT, "out: null");
  *out = nullptr;
  if (!yaml) return fail(UGATE_ERR_INVALID_ARGUMENT, "yaml: null");
  return guarded(UGATE_ERR_CONFIG, [&]() -> int {
    ugate::Config config = ugate::load_config_text(yaml, source ? source : "<embedded>", {});
    // No admin server unless the YAML asks for one: the binary's default (127.0.0.1:15000, with
    // /debug/streams) would be a surprise inside an app, and a port two gateways contend for.
    if (!YAML::Load(yaml)["admin"]) config.admin.reset();
    auto g = std::make_unique<ugate_gateway>();
    g->gate = std::make_unique<ugate::Gate>(std::move(config), ugate::Gate::Host::kEmbedded);
    *out = g.release();
    return UGATE_OK;
  });
}

int ugate_start(ugate_gateway* g) {
  if (!g) return fail(UGATE_ERR_INVALID_ARGUMENT, "gateway: null");
  std::lock_guard lock(g->mu);
  if (g->state != ugate_gateway::State::kCreated) return fail(UGATE_ERR_STATE, "the gateway was started before");
  int rc = guarded(UGATE_ERR_START, [&]() -> int {
    g->gate->add_local_streams();
    g->gate->start();
    return UGATE_OK;
  });
  if (rc != UGATE_OK) {
    g->state = ugate_gateway::State::kStopped;
    std::string why = last_error;
    g->gate.reset();  // what did start (workers) ends here
    last_error = std::move(why);
    return rc;
  }
  g->state = ugate_gateway::State::kRunning;
  g->control = std::thread([g] {
    try {
      g->gate->serve();
    } catch (const std::exception& e) {
      spdlog::error("control thread: {}", e.what());
    }
    std::lock_guard done(g->done_mu);
    g->done = true;
    g->done_cv.notify_all();
  });
  return UGATE_OK;
}

int ugate_reload(ugate_gateway* g, const char* yaml) {
  if (!g || !yaml) return fail(UGATE_ERR_INVALID_ARGUMENT, "gateway or yaml: null");
  return fail(UGATE_ERR_NOT_SUPPORTED, "live config reload is not supported yet: create a new gateway");
}

int ugate_drain(ugate_gateway* g) {
  if (!g) return fail(UGATE_ERR_INVALID_ARGUMENT, "gateway: null");
  std::lock_guard lock(g->mu);
  if (g->state != ugate_gateway::State::kRunning) return fail(UGATE_ERR_STATE, "the gateway is not running");
  return guarded(UGATE_ERR_INTERNAL, [&]() -> int {
    g->gate->drain();
    return UGATE_OK;
  });
}

int ugate_wait(ugate_gateway* g, int timeout_ms) {
  if (!g) return fail(UGATE_ERR_INVALID_ARGUMENT, "gateway: null");
  {
    std::lock_guard lock(g->mu);
    if (g->state == ugate_gateway::State::kCreated) return fail(UGATE_ERR_STATE, "the gateway has not started");
  }
  std::unique_lock done(g->done_mu);
  auto finished = [g] { return g->done; };
  if (timeout_ms < 0)
    g->done_cv.wait(done, finished);
  else if (!g->done_cv.wait_for(done, std::chrono::milliseconds(timeout_ms), finished))
    return fail(UGATE_ERR_TIMEOUT, "the gateway is still running");
  return UGATE_OK;
}

int ugate_stop(ugate_gateway* g) {
  if (!g) return fail(UGATE_ERR_INVALID_ARGUMENT, "gateway: null");
  std::lock_guard lock(g->mu);
  if (g->state != ugate_gateway::State::kRunning) return UGATE_OK;
  g->gate->stop();
  join_control(g);
  return UGATE_OK;
}

void ugate_destroy(ugate_gateway* g) {
  if (!g) return;
  ugate_stop(g);
  try {
    delete g;
  } catch (...) {
    spdlog::error("ugate_destroy: an exception while ending the gateway");
  }
}

int ugate_open_stream(ugate_gateway* g, const char* destination, int* fd) {
  if (fd) *fd = -1;
  if (!g || !destination || !fd) return fail(UGATE_ERR_INVALID_ARGUMENT, "gateway, destination or fd: null");
  std::string why;
  auto to = ugate::parse_host_port(destination, &why);
  if (!to) return fail(UGATE_ERR_INVALID_ARGUMENT, std::string("destination '") + destination + "': " + why);
  ugate::Gate* gate;
  {
    std::lock_guard lock(g->mu);
    if (g->state != ugate_gateway::State::kRunning) return fail(UGATE_ERR_STATE, "the gateway is not running");
    gate = g->gate.get();
  }
  return guarded(UGATE_ERR_INTERNAL, [&]() -> int {
    size_t worker = g->next_worker.fetch_add(1, std::memory_order_relaxed) % gate->worker_count();
    // The session's own connect_timeout ends the dial; the extra second covers its answer.
    auto wait = gate->local_streams()->config->connect_timeout + std::chrono::seconds(1);
    ugate::LocalStream s = ugate::open_local_stream(*gate, worker, std::move(*to), wait);
    if (s.fd >= 0) {
      *fd = s.fd;
      return UGATE_OK;
    }
    if (!s.error.empty()) return fail(UGATE_ERR_SYSTEM, s.error);
    if (s.result == ugate::CloseReason::kConnectTimeout)
      return fail(UGATE_ERR_TIMEOUT, std::string(destination) + ": connect_timeout");
    return fail(UGATE_ERR_CONNECT, std::string(destination) + ": " + std::string(ugate::to_string(s.result)));
  });
}

int ugate_active_streams(ugate_gateway* g, uint64_t* count) {
  if (!g || !count) return fail(UGATE_ERR_INVALID_ARGUMENT, "gateway or count: null");
  std::lock_guard lock(g->mu);
  *count = g->state == ugate_gateway::State::kRunning ? g->gate->active_streams() : 0;
  return UGATE_OK;
}

int ugate_read_metrics(ugate_gateway* g, ugate_metric_fn fn, void* user) {
  if (!g || !fn) return fail(UGATE_ERR_INVALID_ARGUMENT, "gateway or fn: null");
  ugate::Gate* gate;
  {
    std::lock_guard lock(g->mu);
    if (g->state != ugate_gateway::State::kRunning) return fail(UGATE_ERR_STATE, "the gateway is not running");
    gate = g->gate.get();
  }
  return guarded(UGATE_ERR_INTERNAL, [&]() -> int {
    struct Sample {
      std::string name, labels;
      uint64_t value;
      bool counter;
    };
    // Read on the control thread, where /metrics is read: some readers look at its state.
    auto read = std::make_shared<std::promise<std::vector<Sample>>>();
    auto samples = read->get_future();
    boost::asio::post(gate->control(), [gate, read] {
      std::vector<Sample> out;
      gate->metrics().each([&](std::string_view name, ugate::MetricType type, std::string_view labels, uint64_t v) {
        out.push_back({std::string(name), std::string(labels), v, type == ugate::MetricType::kCounter});
      });
      read->set_value(std::move(out));
    });
    if (samples.wait_for(std::chrono::seconds(5)) != std::future_status::ready)
      return fail(UGATE_ERR_TIMEOUT, "the control thread did not answer within 5 s");
    std::vector<Sample> all;
    try {
      all = samples.get();
    } catch (const std::future_error&) {
      return fail(UGATE_ERR_STATE, "the gateway stopped");
    }
    for (const auto& s : all) fn(s.name.c_str(), s.labels.c_str(), s.value, s.counter ? 1 : 0, user);
    return UGATE_OK;
  });
}

}  // extern "C"
