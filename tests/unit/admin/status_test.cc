#include "admin/status.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "admin/admin_view.h"
#include "admin/status_page.h"
#include "admin/status_text.h"
#include "base/metric_registry.h"
#include "config/config.h"

namespace ugate {
namespace {

using json = nlohmann::json;

// A node with two listeners whose counters the registry holds.
class FakeView final : public AdminView {
 public:
  FakeView() {
    metrics_.add("ugate_listener_accepted_total", MetricType::kCounter, "", [](MetricSamples& s) {
      s.add(label("listener", "fwd"), 7);
      s.add(label("listener", "push"), 99);  // a push listener's are not these
    });
    metrics_.add("ugate_listener_active_streams", MetricType::kGauge, "",
                 [](MetricSamples& s) { s.add(label("listener", "fwd"), 2); });
    metrics_.add("ugate_listener_bytes_total", MetricType::kCounter, "", [](MetricSamples& s) {
      s.add(label("listener", "fwd") + "," + label("direction", "up"), 100);
      s.add(label("listener", "fwd") + "," + label("direction", "down"), 2000);
    });
    metrics_.add("ugate_listener_errors_total", MetricType::kCounter, "", [](MetricSamples& s) {
      s.add(label("listener", "fwd") + "," + label("reason", "no_route"), 0);  // zero: left out
      s.add(label("listener", "fwd") + "," + label("reason", "connect_refused"), 3);
    });
    metrics_.add("ugate_authz_decisions_total", MetricType::kCounter, "", [](MetricSamples& s) {
      s.add(label("listener", "fwd") + "," + label("rule", "a") + "," + label("decision", "deny"), 4);
      s.add(label("listener", "fwd") + "," + label("rule", "a") + "," + label("decision", "allow"), 5);
    });
    metrics_.add("ugate_webpush_connections_total", MetricType::kCounter, "",
                 [](MetricSamples& s) { s.add(label("listener", "push"), 11); });
    metrics_.add("ugate_webpush_subscriptions", MetricType::kGauge, "",
                 [](MetricSamples& s) { s.add(label("listener", "push"), 6); });
    metrics_.add_value("ugate_process_open_fds", MetricType::kGauge, "", [] { return 42; });
  }
  const Config& config() const override { return config_; }
  size_t worker_count() const override { return 2; }
  bool ready() const override { return true; }
  bool draining() const override { return false; }
  std::chrono::steady_clock::time_point started() const override { return std::chrono::steady_clock::now(); }
  uint64_t active_streams() const override { return 2; }
  const MetricRegistry& metrics() const override { return metrics_; }
  boost::asio::awaitable<json> describe_streams() override { co_return json::array(); }
  boost::asio::awaitable<json> describe_nodes() override {
    co_return json{{"configured", json::array()}, {"registered", json::array()}, {"discovered", json::array()},
                   {"connections", json::array()}};
  }
  json describe_listeners() const override {
    return {{"admin", "127.0.0.1:1"},
            {"listeners",
             {{{"name", "fwd"}, {"protocol", "tcp"}, {"address", "127.0.0.1:2"}},
              {{"name", "push"}, {"protocol", "webpush"}, {"address", "127.0.0.1:3"}}}}};
  }
  json describe_identity() const override { return nullptr; }

 private:
  Config config_;
  MetricRegistry metrics_;
};

json status_of(AdminView& view) {
  boost::asio::io_context io;
  auto f = boost::asio::co_spawn(io, node_status(view), boost::asio::use_future);
  io.run();
  return f.get();
}

TEST(NodeStatus, ListenerCountersAreTheRegistrysSamples) {
  FakeView view;
  json s = status_of(view);
  EXPECT_EQ(s["state"], "ready");
  EXPECT_EQ(s["open_fds"], 42);
  ASSERT_EQ(s["listeners"].size(), 2u);
  const json& fwd = s["listeners"][0];
  EXPECT_EQ(fwd["accepted"], 7);
  EXPECT_EQ(fwd["active"], 2);
  EXPECT_EQ(fwd["bytes_up"], 100);
  EXPECT_EQ(fwd["bytes_down"], 2000);
  EXPECT_EQ(fwd["errors"], (json{{"connect_refused", 3}}));
  EXPECT_EQ(fwd["denied"], 4);
  const json& push = s["listeners"][1];
  EXPECT_EQ(push["accepted"], 11) << "HTTPS connections, from the push service's family";
  EXPECT_FALSE(push.contains("bytes_up"));
  ASSERT_EQ(s["push"].size(), 1u);
  EXPECT_EQ(s["push"][0]["subscriptions"], 6);
  EXPECT_EQ(s["push"][0]["listener"], "push");
}

TEST(NodeStatus, EachConfiguredNodeGetsItsPathAndLastConnection) {
  json nodes = {
      {"configured",
       {{{"name", "bob"}, {"address", "10.0.0.2:15008"}, {"id", ""}},
        {{"name", "carol"}, {"address", "10.0.0.3:15008"}, {"id", ""}, {"via", "bob"}},
        {{"name", "phone"}, {"address", ""}, {"id", "spiffe://td/ns/default/sa/phone"}},
        {{"name", "tablet"}, {"address", ""}, {"id", "abc"}}}},
      {"registered", {{{"name", "x"}, {"spiffe_id", "spiffe://td/ns/default/sa/phone"}, {"node_id", "n1"}}}},
      {"connections",
       {{{"node", "bob"}, {"result", "connect_refused"}, {"at", "2026-12-07T10:00:00Z"}, {"detail", ""}},
        {{"node", "bob"}, {"result", "done"}, {"at", "2026-12-07T11:00:00Z"}, {"detail", ""}}}}};
  json paths = node_paths(nodes);
  ASSERT_EQ(paths.size(), 4u);
  EXPECT_EQ(paths[0]["path"], "direct");
  EXPECT_EQ(paths[0]["last"]["result"], "done") << "the latest outcome";
  EXPECT_EQ(paths[1]["path"], "via bob");
  EXPECT_EQ(paths[2]["path"], "reverse");
  EXPECT_EQ(paths[3]["path"], "waiting for registration");
  EXPECT_FALSE(paths[3].contains("last"));
}

json hostile_stream(int id, const std::string& sni) {
  return {{"id", id},           {"listener", "tls"}, {"src", "127.0.0.1:5"}, {"dst", "\"><img src=x onerror=alert(1)>:443"},
          {"sni", sni},         {"phase", "proxy"},  {"age_ms", 1500},       {"bytes_up", 10},
          {"bytes_down", 20},   {"user", ""},        {"peer_spiffe", ""}};
}

TEST(StatusPage, EscapesEverythingThatCameFromOutside) {
  FakeView view;
  json status = status_of(view);
  status["host"] = "<b>host</b>";
  json streams = {hostile_stream(1, "<script>alert(1)</script>")};
  std::string page = render_status_page(status, streams, parse_status_query("filter=%3Cscript"));
  EXPECT_EQ(page.find("<script>alert"), std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_EQ(page.find("<b>host"), std::string::npos);
  EXPECT_NE(page.find("&lt;b&gt;host&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(page.find("value=\"&lt;script\""), std::string::npos) << "the filter, echoed into the form";
  EXPECT_NE(page.find("data-stream=\"1\""), std::string::npos) << "the stream matches the filter by its SNI";
  EXPECT_NE(page.find("<script src=\"/status.js\" defer></script>"), std::string::npos);
}

TEST(StatusPage, FilterPicksStreamsAndTheRowsAreBounded) {
  FakeView view;
  json status = status_of(view);
  json streams = json::array();
  for (int i = 1; i <= int(kMaxStreamRows) + 50; ++i) streams.push_back(hostile_stream(i, i % 2 ? "odd.example" : "even.example"));
  auto rows = [](const std::string& page) {
    size_t n = 0;
    for (size_t at = page.find("data-stream="); at != std::string::npos; at = page.find("data-stream=", at + 1)) ++n;
    return n;
  };
  std::string all = render_status_page(status, streams, {});
  EXPECT_EQ(rows(all), kMaxStreamRows);
  EXPECT_NE(all.find("250 open, the first 200 shown"), std::string::npos);
  std::string odd = render_status_page(status, streams, parse_status_query("filter=ODD.example&part=main"));
  EXPECT_EQ(rows(odd), 125u);
  EXPECT_EQ(odd.rfind("<main", 0), 0u) << "part=main: the element alone, for the refresh";
  EXPECT_NE(odd.find("125 matching"), std::string::npos);
}

TEST(StatusText, SummaryLineIdentityAndAlignedListenerTable) {
  FakeView view;
  json s = status_of(view);
  s["host"] = "edge1";
  s["uptime_seconds"] = 3725;
  s["identity"] = {{"name", "node1"}, {"spiffe_id", "spiffe://td/ns/default/sa/node1"}, {"node_id", "abc"},
                   {"not_after", "2026-12-08T00:00:00Z"}, {"expires_in_seconds", 90000}};
  std::string text = status_text(s);
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "node1: ready, ugate " + std::string(s["version"]) + ", up 1h 2m, 2 workers, 2 streams open, RSS 0.0 MiB, "
            "42 open files");
  EXPECT_NE(text.find("expires    2026-12-08T00:00:00Z (in 1d 1h)\n"), std::string::npos);
  EXPECT_NE(text.find("LISTENER  PROTOCOL  ADDRESS      ACCEPTED  ACTIVE  BYTES UP  BYTES DOWN  ERRORS\n"
                      "fwd       tcp       127.0.0.1:2  7         2       100       2000        "
                      "connect_refused=3 denied=4\n"
                      "push      webpush   127.0.0.1:3  11        0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("push push: 6 subscriptions"), std::string::npos);
}

TEST(StatusPage, QueryDecoding) {
  auto q = parse_status_query("part=main&filter=a%2Fb+c%zz&x=1");
  EXPECT_EQ(q.filter, "a/b c%zz");
  EXPECT_TRUE(q.main_only);
  EXPECT_FALSE(parse_status_query("filter=").main_only);
  EXPECT_EQ(html_escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

}  // namespace
}  // namespace ugate
