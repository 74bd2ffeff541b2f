#pragma once
// What the `ugate push` subcommands share: their failure type, reading the
// JSON files they keep, URLs, and the receiving end every listener uses
// (long-poll a mailbox, hand each message to the caller, acknowledge what
// the caller took).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "base/base64.h"
#include "webpush/client.h"

namespace ugate::push_cli {

// A command-line failure: printed as "ugate push: ..." and exit 1.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

nlohmann::json read_json_file(const std::string& path);
// j["a"]["b"] for "a.b", a string; Failure naming `where` when missing.
std::string string_at(const nlohmann::json& j, const char* key, const std::string& where);
Bytes b64_at(const nlohmann::json& j, const char* key, const std::string& where);
// Secrets go to files only the owner can read (0600).
void write_private_file(const std::string& path, const std::string& text);
webpush::Url parse_url(const std::string& text, const std::string& what);
// "https://gw/base" + "/subscribe" -> "/base/subscribe"
std::string join_path(const std::string& base, const std::string& path);

enum class Take : uint8_t {
  kAck,         // acknowledge it, go on
  kAckAndStop,  // acknowledge it, then return
  kLeave,       // not ours to take: leave it for another reader, go on
};
enum class Received : uint8_t { kStopped, kTimedOut, kGone };

// GET TARGET?wait=&after= until `deadline` or until `on_message` says stop;
// what it takes is acknowledged at ACK_BASE/m/ID, with the body on_message
// put in `ack_body` (a node's signed receipt), if any. Server errors are
// retried after a second; a mailbox that is gone (404, 410) ends it.
using OnMessage = std::function<Take(const nlohmann::json& message, std::string& ack_body)>;
boost::asio::awaitable<Received> receive_messages(webpush::HttpsClient& client, const std::string& target,
                                                  const std::string& ack_base,
                                                  std::chrono::steady_clock::time_point deadline,
                                                  const OnMessage& on_message);
// Runs `receiver` on `ctx` to its end: 0 stopped, 2 timed out, 1 gone or failed.
int run_receiver(boost::asio::io_context& ctx, boost::asio::awaitable<Received> receiver);

}  // namespace ugate::push_cli
