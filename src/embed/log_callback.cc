#include "embed/log_callback.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <string>

namespace ugate {
namespace {

class CallbackSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  CallbackSink(ugate_log_fn fn, void* user) : fn_(fn), user_(user) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string text(msg.payload.data(), msg.payload.size());
    fn_(static_cast<int>(msg.level), text.c_str(), user_);
  }
  void flush_() override {}

 private:
  ugate_log_fn fn_;
  void* user_;
};

}  // namespace

void set_log_callback(ugate_log_fn fn, void* user, int min_level) {
  std::shared_ptr<spdlog::logger> logger;
  if (fn)
    logger = std::make_shared<spdlog::logger>("ugate", std::make_shared<CallbackSink>(fn, user));
  else
    logger = std::make_shared<spdlog::logger>("ugate", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  logger->set_level(static_cast<spdlog::level::level_enum>(min_level));
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace ugate
