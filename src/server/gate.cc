#include "server/gate.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "admin/admin_server.h"
#include "admin/metrics.h"
#include "admin/process_stats.h"
#include "discovery/discovery_metrics.h"
#include "identity/identity_metrics.h"
#include "listener/listener_metrics.h"
#include "mesh/mesh_metrics.h"
#include "webpush/push_metrics.h"
#include "identity/ca_service.h"
#include "identity/cert.h"
#include "policy/listener_auth.h"
#include "identity/mesh_identity.h"
#include "identity/renewer.h"
#include "identity/tls_context.h"
#include "base/base64.h"
#include "discovery/discovery.h"
#include "doors/doors.h"
#include "listener/worker_listeners.h"
#include "runtime/listen_socket.h"
#include "runtime/spawn.h"
#include "stun/server_tls.h"
#include "mesh/mesh.h"
#include "webpush/push_server.h"

namespace ugate {
namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);
using asio::ip::tcp;

// Streams still open when the drain timeout ends are closed; this is how
// long they get to finish closing before the process exits anyway.
constexpr std::chrono::seconds kForcedCloseGrace{2};

// Two descriptors per proxied connection: take all the process may have.
void raise_open_files_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

Door door_or_throw(Protocol protocol) {
  if (Door d = door_for(protocol)) return d;
  throw StartError("no door for protocol '" + std::string(to_string(protocol)) + "'");
}

// Where a stream listener's streams go, for its start-up line.
std::string forward_text(const ListenerConfig& l) {
  const auto& routes = l.router.routes();
  return l.is(kStreamNamesDestination)                              ? " (each stream names its destination)"
         : routes.size() == 1 && routes[0].match.host.empty()      ? " -> " + routes[0].forward.str()
         : !routes.empty()                                          ? " (" + std::to_string(routes.size()) + " routes)"
         : !l.is(kCapture)                                          ? ""  // proxy doors: the client names it
         : l.tproxy                                                 ? " -> original destination (tproxy)"
                                                                    : " -> original destination";
}

tcp::endpoint resolve_bind_address(const HostPort& address, const std::string& what) {
  error_code ec;
  auto ip = asio::ip::make_address(address.host, ec);
  if (!ec) return {ip, address.port};
  asio::io_context ctx;
  tcp::resolver resolver(ctx);
  auto results = resolver.resolve(address.host, std::to_string(address.port), ec);
  if (ec || results.empty())
    throw StartError(what + ": cannot resolve bind address '" + address.host + "': " + ec.message());
  return results.begin()->endpoint();
}

}  // namespace

Gate::Gate(Config config, Host host)
    : config_(std::move(config)), host_(host), memory_(config_.memory_watermark), control_(1) {
  raise_open_files_limit();
  if (host_ == Host::kProcess) {
    ::signal(SIGPIPE, SIG_IGN);  // splice(2) to a closed socket would otherwise kill us
    // Their default action ends the process at once, without a drain: until
    // log_other_signals() takes them over, they are ignored.
    for (int signo : kOtherSignals) ::signal(signo, SIG_IGN);
  } else {
    // The host's signals are its own; only a SIGPIPE that would end it is ignored.
    struct sigaction old {};
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
  }
  access_sink_ = AccessLogSink::open(config_.access_log);
  mesh_shared_ = std::make_unique<MeshShared>();
  virtual_addresses_ = std::make_unique<VirtualAddresses>(config_.nodes, config_.dns.ipv4_range, config_.dns.ipv6_range);
  mesh_shared_->virtual_addresses = virtual_addresses_.get();
  for (unsigned i = 0; i < config_.workers; ++i) {
    auto& w = workers_.emplace_back(std::make_unique<Worker>(i, access_sink_.get()));
    auto listeners = std::make_unique<WorkerListeners>(*w);
    listeners_.push_back(listeners.get());
    w->set_listeners(std::move(listeners));
    auto mesh = std::make_unique<Mesh>(*w, config_.mesh, config_.nodes, *mesh_shared_);
    mesh->set_hbone_door(hbone_door);
    w->set_mesh(mesh.get());
    w->set_connector(&mesh->connector());
    w->add_service(std::move(mesh));
  }
}

Gate::~Gate() {
  admin_.reset();
  discovery_.reset();
  push_servers_.clear();
  workers_.clear();
  unix_sockets_.clear();  // their files, now that no acceptor remains
  renewer_.reset();
}

// The node identity and the TLS contexts, for the listeners that need them.
void Gate::load_identity() {
  MeshIdentity::Options options;
  bool mesh = false;
  for (const auto& l : config_.listeners) {
    mesh = mesh || l.is(kMeshIdentity);
    for (const auto& r : l.router.routes()) {
      if (r.terminate && r.terminate->cert.empty()) options.node_terminate.push_back(r.terminate);
    }
  }
  try {
    // Discovery signs its announces with the node's key; the pool dials mesh nodes with it.
    bool mailboxes = std::any_of(config_.listeners.begin(), config_.listeners.end(),
                                 [&](const ListenerConfig& l) {
                                   auto w = config_.webpush.find(l.name);
                                   return w != config_.webpush.end() && w->second.node_mailboxes;
                                 });
    bool needs_identity = mesh || !options.node_terminate.empty() || config_.discovery.enabled ||
                          !config_.nodes.empty() || mailboxes;
    // HBONE; a node that registers with gateways serves it inside their tunnels too (mesh_tunnel_door).
    if (mesh || !config_.remote_accept.gateways.empty()) options.mesh_alpn.push_back("h2");
    if (mesh) options.mesh_alpn.push_back("h2r");  // reverse registration
    bool tokens = mesh && !config_.registration_tokens.issuers.empty();
    if (tokens) {  // and by token, for nodes whose certificates another CA signed
      options.mesh_alpn.push_back("h2rt");
      options.registration_tokens = true;
    }
    if (needs_identity) {
      auto id = load_or_create_identity(config_.identity, config_.state_dir);
      spdlog::info("identity: {} node {} vip6 {}, valid until {}", id->spiffe.str(), id->node_id,
                   id->vip6.to_string(), format_utc(id->not_after));
      if (!id->chain_problem.empty())
        spdlog::warn("identity: the certificate does not verify against the trust roots: {}", id->chain_problem);
      // A node with its own CA signs other nodes' CSRs on its mesh port.
      if (mesh && id->source == CertSource::kLocalCa) {
        IdentityPaths paths = identity_paths(config_.identity, config_.state_dir);
        ca_ = std::make_unique<CaService>(control_, LocalCa::open(paths.ca_dir),
                                          std::chrono::duration_cast<std::chrono::seconds>(config_.identity.cert_ttl));
        options.mesh_alpn.push_back("http/1.1");
        options.ca_endpoint = true;
      }
      if (tokens) {
        registration_.trust_domain = id->trust_domain;
        registration_.max_lifetime = config_.registration_tokens.max_lifetime;
        for (const auto& k : config_.registration_tokens.issuers)
          registration_.issuers.push_back(crypto::p256_public_from_raw(*base64url_decode(k)));
      }
      identity_ = std::make_unique<MeshIdentity>(std::move(id), std::move(options));
      renewer_ = std::make_unique<IdentityRenewer>(config_.identity, config_.state_dir, *identity_);
      for (auto& w : workers_) w->mesh()->set_identity(identity_.get());
    }
    std::vector<const ListenerConfig*> all;
    for (const auto& l : config_.listeners) all.push_back(&l);
    all.push_back(&config_.remote_accept.listener);  // last: streams that come over reverse connections
    for (const ListenerConfig* lp : all) {
      const ListenerConfig& l = *lp;
      ListenerAuth& auth = listener_auth_.emplace_back();
      auth.identity = identity_.get();
      auth.ca = l.is(kMeshIdentity) ? ca_.get() : nullptr;
      auth.registration = l.is(kMeshIdentity) && !registration_.issuers.empty() ? &registration_ : nullptr;
      auth.authz = &config_.authorization;
      for (const auto& r : l.router.routes()) {
        if (!r.terminate || r.terminate->cert.empty()) continue;
        auto chain = parse_certs(read_file(r.terminate->cert), r.terminate->cert);
        auto key = parse_private_key(read_file(r.terminate->key), r.terminate->key);
        auth.terminate[&r] = terminate_context(chain, key.get(), r.terminate->alpn);
      }
    }
  } catch (const AuthError& e) {
    throw StartError(std::string("identity: ") + e.what());
  }
}

void Gate::bind_listeners() {
  size_t index = 0;
  for (const auto& l : config_.listeners) {
    const ListenerAuth* auth = &listener_auth_[index++];
    if (l.address.unix_socket) {  // the config let only stream doors on the workers have one
      Door door = door_or_throw(l.protocol);
      bind_unix_listener(groups_.emplace_back(l, auth), door);
      continue;
    }
    tcp::endpoint ep = resolve_bind_address(l.address, "listener '" + l.name + "'");
    if (l.is(kControlThread)) {
      start_push_server(l, ep);
      continue;
    }
    ListenerGroup& group = groups_.emplace_back(l, auth);
    if (l.is(kDatagram)) {
      bind_udp_listener(group, ep);
      continue;
    }
    if (l.is(kQuicTransport)) {
      bind_quic_listener(group, ep);
      continue;
    }
    Door door = door_or_throw(l.protocol);
    if (!l.accept_proxy_protocol_from.empty()) door = proxy_protocol_door;  // which then calls the protocol's
    for (size_t i = 0; i < workers_.size(); ++i) {
      tcp::acceptor acceptor =
          open_listen_socket(workers_[i]->context(), ep, "listener '" + l.name + "'", true, l.tproxy);
      ep.port(acceptor.local_endpoint().port());  // port 0: the others share the kernel's choice
      listeners_[i]->add(group, door, std::move(acceptor));
    }
    if (l.is(kStunServer)) bind_stun_udp(group, ep);
    if (l.protocol == Protocol::kDns) bind_dns_udp(group, ep);
    spdlog::info("listener {} on {} ({}){}", l.name, format_endpoint(ep), to_string(l.protocol), forward_text(l));
    bound(l, ep);
  }
}

// One socket for all the workers; each accepts on a descriptor of it.
void Gate::bind_unix_listener(ListenerGroup& group, Door door) {
  const ListenerConfig& l = *group.config;
  const std::string what = "listener '" + l.name + "'";
  auto& socket = *unix_sockets_.emplace_back(std::make_unique<UnixListenSocket>(l.address, l.socket_file, what));
  for (size_t i = 0; i < workers_.size(); ++i) {
    int fd = socket.descriptor_for_worker(i + 1 == workers_.size());
    if (fd < 0) throw StartError(what + ": out of descriptors");
    listeners_[i]->add_unix(group, door, fd);
  }
  spdlog::info("listener {} on {} ({}){}", l.name, l.address.str(), to_string(l.protocol), forward_text(l));
  bound(l, l.address.str());
}

void Gate::bound(const ListenerConfig& l, const tcp::endpoint& ep) { bound(l, format_endpoint(ep)); }

void Gate::bound(const ListenerConfig& l, const std::string& address) {
  bound_.push_back({l.name, std::string(to_string(l.protocol)), address});
}

nlohmann::json Gate::describe_listeners() const {
  nlohmann::json out;
  out["admin"] = admin_ ? nlohmann::json(format_endpoint(admin_->local_endpoint())) : nlohmann::json(nullptr);
  out["listeners"] = nlohmann::json::array();
  for (const auto& [name, protocol, address] : bound_)
    out["listeners"].push_back({{"name", name}, {"protocol", protocol}, {"address", address}});
  return out;
}

nlohmann::json Gate::describe_identity() const {
  if (!identity_) return nullptr;
  auto id = identity_->state()->id;
  auto left = std::chrono::duration_cast<std::chrono::seconds>(id->not_after - std::chrono::system_clock::now());
  return {{"name", id->spiffe.name()},         {"spiffe_id", id->spiffe.str()},
          {"node_id", id->node_id},            {"trust_domain", id->trust_domain},
          {"vip6", id->vip6.to_string()},      {"not_after", format_utc(id->not_after)},
          {"expires_in_seconds", left.count()}};
}

void Gate::write_ports_file() const {
  std::string tmp = ports_file_ + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << describe_listeners().dump(2) << "\n";
    if (!f.flush()) throw StartError("--ports-file: cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), ports_file_.c_str()) != 0)
    throw StartError("--ports-file: cannot rename " + tmp + " to " + ports_file_ + ": " + std::strerror(errno));
}

void Gate::bind_udp_listener(ListenerGroup& group, const tcp::endpoint& address) {
  const ListenerConfig& l = *group.config;
  asio::ip::udp::endpoint ep(address.address(), address.port());
  for (size_t i = 0; i < workers_.size(); ++i) {
    auto socket = open_udp_socket(workers_[i]->context(), ep, "listener '" + l.name + "'", l.tproxy);
    ep.port(socket.local_endpoint().port());  // port 0: the others share the kernel's choice
    ListenerSlot& slot = listeners_[i]->add_datagram(group);
    slot.datagram = make_udp_forwarder(*workers_[i], slot, std::move(socket));
  }
  spdlog::info("listener {} on {} (udp{}){}", l.name, format_endpoint({ep.address(), ep.port()}),
               l.tproxy ? ", tproxy" : "",
               l.router.routes().empty() ? " -> original destination" : " -> " + l.router.routes()[0].forward.str());
  bound(l, {ep.address(), ep.port()});
}

void Gate::bind_stun_udp(ListenerGroup& group, const tcp::endpoint& address) {
  const ListenerConfig& l = *group.config;
  stun::StunListener& stun = stun_listeners_.emplace_back(l, workers_.size());
  if (!l.tls_cert.empty()) {
    try {
      stun.tls = stun::tls_server_context(l);
    } catch (const std::runtime_error& e) {
      throw StartError(e.what());
    }
  }
  stun.options.primary = stun::to_stun(address.address(), address.port());
  if (!l.other_address.host.empty())
    stun.options.other = stun::to_stun(asio::ip::make_address(l.other_address.host), l.other_address.port);
  for (const auto& u : l.users) stun.options.users.push_back({u.name, u.password});
  if (auto it = config_.turn.find(l.name); it != config_.turn.end()) {
    // Relays bind the relay address (or the listener's); peers there, on the listener's, and the
    // defaults' ranges are refused unless allow_peers names them.
    const TurnConfig& turn = it->second;
    auto relay = turn.relay_address.empty() ? address.address() : asio::ip::make_address(turn.relay_address);
    std::vector<asio::ip::address> own{address.address(), relay};
    stun.turn = std::make_unique<stun::TurnShared>(
        turn, stun::to_stun(relay, 0), stun::PeerPolicy(turn.allow_peers, turn.deny_peers, std::move(own)),
        stun.options.software);
    for (size_t i = 0; i < workers_.size(); ++i) stun.turn_by_worker.push_back(std::make_unique<stun::TurnCounters>());
    spdlog::info("listener {}: TURN realm {}, relays on {} ports {}-{}", l.name, turn.realm, relay.to_string(),
                 turn.relay_port_min, turn.relay_port_max);
  }
  for (size_t i = 0; i < workers_.size(); ++i) {
    stun::UdpSockets sockets;
    // RFC 5780: A1:P1 (the listener's), A2:P1, A1:P2, A2:P2, indexed by which of the two they change.
    for (stun::Origin o = 0; o < (stun.options.other ? 4 : 1); ++o)
      sockets[o].emplace(open_udp_socket(workers_[i]->context(), stun::to_udp(stun::origin_address(stun.options, o)),
                                         "listener '" + l.name + "'", false));
    ListenerSlot& slot = *group.slots[i];
    slot.datagram = stun::make_udp_server(*workers_[i], slot, stun, std::move(sockets));
  }
}

void Gate::bind_dns_udp(ListenerGroup& group, const tcp::endpoint& address) {
  const ListenerConfig& l = *group.config;
  if (!dns_zone_) {
    std::string trust_domain = config_.identity.trust_domain;
    if (identity_) trust_domain = identity_->state()->id->trust_domain;
    dns_zone_ = std::make_unique<dns::MeshZone>(*virtual_addresses_, trust_domain, config_.dns.zone, config_.dns.ttl);
  }
  std::vector<asio::ip::udp::endpoint> upstreams;
  for (const auto& u : config_.dns.upstreams) upstreams.emplace_back(asio::ip::make_address(u.host), u.port);
  if (config_.dns.upstreams.empty()) {
    std::ifstream f("/etc/resolv.conf");
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    upstreams = dns::nameservers_of(text);
    // Our own address there (capture install --dns on a host whose resolver is us) would loop.
    std::erase_if(upstreams, [&](const auto& u) { return u.address() == address.address() && u.port() == address.port(); });
    if (upstreams.empty()) spdlog::warn("listener {}: no nameserver in /etc/resolv.conf: names outside the mesh get SERVFAIL", l.name);
  }
  dns::DnsListener& dns = dns_listeners_.emplace_back(l, config_.dns, *dns_zone_, std::move(upstreams), workers_.size());
  asio::ip::udp::endpoint ep(address.address(), address.port());
  for (size_t i = 0; i < workers_.size(); ++i) {
    ListenerSlot& slot = *group.slots[i];
    slot.datagram = dns::make_udp_server(*workers_[i], slot, dns,
                                         open_udp_socket(workers_[i]->context(), ep, "listener '" + l.name + "'", false));
  }
}

void Gate::bind_quic_listener(ListenerGroup& group, const tcp::endpoint& address) {
  const ListenerConfig& l = *group.config;
  quic::QuicListener& quic = quic_listeners_.emplace_back(l, workers_.size());
  asio::ip::udp::endpoint ep(address.address(), address.port());
  for (size_t i = 0; i < workers_.size(); ++i) {
    auto socket = open_udp_socket(workers_[i]->context(), ep, "listener '" + l.name + "'", false);
    ep.port(socket.local_endpoint().port());  // port 0: the others share the kernel's choice
    ListenerSlot& slot = listeners_[i]->add_datagram(group);
    slot.bound = {ep.address(), ep.port()};
    slot.datagram = quic::make_quic_server(*workers_[i], slot, quic, std::move(socket));
  }
  spdlog::info("listener {} on {} (quic, HBONE over HTTP/3){}", l.name, format_endpoint({ep.address(), ep.port()}),
               forward_text(l));
  bound(l, {ep.address(), ep.port()});
}

// Control-plane traffic: the push service runs on the control thread with the admin server.
void Gate::start_push_server(const ListenerConfig& l, const tcp::endpoint& ep) {
  webpush::PushServerConfig pc{l.name, config_.webpush.at(l.name)};
  if (pc.push.node_mailboxes && identity_) {  // nodes of this mesh prove who they are with their certificates
    auto id = identity_->state()->id;
    for (const auto& root : id->roots) pc.client_roots.push_back(ossl::up_ref(root.get()));
    pc.push.service.trust_domain = id->trust_domain;
  }
  try {
    push_servers_.push_back(std::make_unique<webpush::PushServer>(control_, std::move(pc)));
  } catch (const std::runtime_error& e) {
    throw StartError(e.what());
  }
  push_servers_.back()->start(ep);
  spdlog::info("listener {} on {} (webpush, store {})", l.name, format_endpoint(push_servers_.back()->local_endpoint()),
               config_.webpush.at(l.name).store);
  bound(l, push_servers_.back()->local_endpoint());
}

// Announces the first mesh listener's address and port (none: port 0).
void Gate::start_discovery() {
  if (!config_.discovery.enabled) return;
  TcpEndpoint mesh;
  for (const auto& group : groups_) {
    if (!group.config->is(kMeshIdentity) || group.config->is(kQuicTransport) || group.slots.empty()) continue;
    mesh = group.slots.front()->bound;
    break;
  }
  discovery_ = std::make_unique<discovery::Discovery>(control_, config_.discovery, *identity_, mesh);
  mesh_shared_->discovery = discovery_.get();  // workers dial nodes on the link directly
  try {
    discovery_->start();
  } catch (const std::runtime_error& e) {
    throw StartError(e.what());
  }
}

// One registrar per gateway, spread over the workers; each serves its
// connection's streams on a listener slot of its own worker.
void Gate::start_remote_accept() {
  const RemoteAcceptConfig& ra = config_.remote_accept;
  if (ra.gateways.empty()) return;
  ListenerGroup& group = groups_.emplace_back(ra.listener, &listener_auth_.back());
  for (auto* listeners : listeners_) listeners->add_virtual(group);
  for (size_t i = 0; i < ra.gateways.size(); ++i) {
    const NodeConfig* gw = nullptr;
    for (const auto& n : config_.nodes)
      if (n.name == ra.gateways[i]) gw = &n;  // the config checked that it exists
    size_t w = i % workers_.size();
    workers_[w]->mesh()->add_registrar(*gw, *group.slots[w], ra);
  }
  spdlog::info("remote accept: keeping a connection to {} gateway(s)", ra.gateways.size());
}

// In the order /metrics shows them.
void Gate::register_metrics() {
  register_node_metrics(metrics_, *this);
  metrics_.add_value("ugate_memory_watermark_exceeded", MetricType::kGauge,
                     "1 while resident memory is above overload.memory_watermark: new streams are refused.",
                     [this] { return memory_.over() ? 1 : 0; });
  register_listener_metrics(metrics_, groups_);
  stun::register_stun_metrics(metrics_, stun_listeners_);
  stun::register_turn_metrics(metrics_, stun_listeners_);
  dns::register_dns_metrics(metrics_, dns_listeners_);
  quic::register_quic_metrics(metrics_, quic_listeners_);
  webpush::register_push_metrics(metrics_, push_servers_);
  std::vector<Mesh*> meshes;
  for (auto& w : workers_) meshes.push_back(w->mesh());
  register_mesh_metrics(metrics_, std::move(meshes));
  register_identity_metrics(metrics_, identity_.get(), renewer_.get(), ca_.get());
  register_authz_metrics(metrics_, groups_, config_.authorization);
  discovery::register_discovery_metrics(metrics_, discovery_.get());
}

asio::awaitable<nlohmann::json> Gate::describe_nodes() {
  nlohmann::json out = nlohmann::json::object();
  out["discovered"] = discovery_ ? discovery_->describe() : nlohmann::json::array();
  nlohmann::json configured = nlohmann::json::array();
  for (const auto& n : config_.nodes) {
    configured.push_back({{"name", n.name}, {"address", n.address.port ? n.address.str() : ""}, {"id", n.id}});
    if (!n.via.empty()) configured.back()["via"] = n.via;
  }
  out["configured"] = std::move(configured);
  out["connections"] = mesh_shared_->health.describe();  // the last outcome of each path's connections
  out["registered"] = mesh_shared_->registry.describe();  // nodes with a reverse connection to us
  out["remote_accept"] = config_.remote_accept.gateways;    // gateways we keep one to
  out["self"] = stun_client_ ? stun_client_->describe() : nlohmann::json("off (no stun_client section)");
  co_return out;
}

int Gate::run() {
  start();
  // A drain that fails still ends the process (logged and counted).
  spawn(control_.get_executor(), wait_for_signal_then_drain(), "drain", [this] { control_.stop(); });
  spawn(control_.get_executor(), log_other_signals(), "signal log");
  serve();
  return 0;
}

void Gate::start() {
  started_ = std::chrono::steady_clock::now();
  if (config_.admin) {
    admin_ = std::make_unique<AdminServer>(control_, *this);
    admin_->start(resolve_bind_address(*config_.admin, "admin"));
    for (auto& w : workers_) w->set_admin_endpoint(admin_->local_endpoint());
  }
  load_identity();
  bind_listeners();
  start_discovery();
  start_remote_accept();
  if (!config_.stun_client.servers.empty()) {
    stun_client_ = std::make_unique<stun::StunClientService>(config_.stun_client);
    stun_client_->start();
  }
  if (local_streams_wanted_) {
    ListenerAuth& auth = listener_auth_.emplace_back();
    auth.identity = identity_.get();
    auth.authz = &config_.authorization;
    local_streams_ = &groups_.emplace_back(local_listener_, &auth);
    for (auto* listeners : listeners_) listeners->add_virtual(*local_streams_);
  }
  for (auto& group : groups_) group.memory = &memory_;
  register_metrics();
  for (auto& w : workers_) w->start();
  if (!ports_file_.empty()) write_ports_file();
  ready_ = true;
  spdlog::info("ugate ready: {} listener(s), {} worker(s), config {}", config_.listeners.size(), workers_.size(),
               config_.source);
  if (memory_.limit()) spawn(control_.get_executor(), watch_memory(), "memory watermark");
  control_guard_.emplace(control_.get_executor());  // serve() runs until stop() or a drain's end
}

void Gate::serve() {
  control_.run();
  if (stun_client_) stun_client_->stop();
  for (auto& w : workers_) w->stop_and_join();
  spdlog::info("ugate stopped");
}

void Gate::drain() {
  asio::post(control_, [this] {
    if (draining_) return;
    spdlog::info("draining {} stream(s), up to {}", active_streams(), format_duration(config_.drain_timeout));
    spawn(control_.get_executor(), drain_streams(), "drain", [this] { control_.stop(); });
  });
}

void Gate::stop() { control_.stop(); }

// SIGHUP will mean "reload the config" once live config lands; until then it,
// and the user signals, are logged and change nothing.
asio::awaitable<void> Gate::log_other_signals() {
  asio::signal_set signals(control_);
  for (int signo : kOtherSignals) signals.add(signo);
  for (;;) {
    auto [ec, signo] = co_await signals.async_wait(use_nothrow);
    if (ec) co_return;
    if (signo == SIGHUP)
      spdlog::warn("SIGHUP: config reload is not supported yet; the running config ({}) stays", config_.source);
    else
      spdlog::warn("{}: ignored (SIGINT or SIGTERM drains and stops)", signo == SIGUSR1 ? "SIGUSR1" : "SIGUSR2");
  }
}

asio::awaitable<void> Gate::wait_for_signal_then_drain() {
  asio::signal_set signals(control_, SIGINT, SIGTERM);
  auto [ec, signo] = co_await signals.async_wait(use_nothrow);
  if (draining_) co_return;  // drain() came first and ends the loop
  spdlog::info("{}: draining {} stream(s), up to {}", signo == SIGINT ? "SIGINT" : "SIGTERM", active_streams(),
               format_duration(config_.drain_timeout));
  // A second signal skips the wait.
  signals.async_wait([this](const error_code& e, int) {
    if (!e) drain_forced_ = true;
  });
  co_await drain_streams();
  signals.cancel();
}

asio::awaitable<void> Gate::drain_streams() {
  bool& forced = drain_forced_;
  draining_ = true;
  ready_ = false;
  for (auto& w : workers_) w->stop_accepting();
  asio::steady_timer timer(control_);
  // Streams, and the mesh connections that outlive them while HTTP/2 still
  // has bytes of theirs to send (a stream's last DATA and END_STREAM, what a
  // bridge still relays to a reverse connection): GOAWAY closes each once idle.
  auto in_flight = [this] {
    uint64_t n = active_streams();
    for (auto& w : workers_) n += w->mesh()->stats().active.get();
    return n;
  };
  auto wait_until = [&](std::chrono::steady_clock::time_point deadline) -> asio::awaitable<void> {
    while (in_flight() > 0 && !forced && std::chrono::steady_clock::now() < deadline) {
      timer.expires_after(std::chrono::milliseconds(20));
      co_await timer.async_wait(use_nothrow);
    }
  };
  co_await wait_until(std::chrono::steady_clock::now() + config_.drain_timeout);
  if (uint64_t left = in_flight(); left > 0) {
    uint64_t streams = active_streams();
    spdlog::warn("drain: closing {} stream(s) and {} mesh connection(s) still open", streams, left - streams);
    for (auto& w : workers_) w->abort_all(CloseReason::kDrained);
    forced = false;
    co_await wait_until(std::chrono::steady_clock::now() + kForcedCloseGrace);
  }
  if (discovery_) discovery_->stop();
  if (admin_) admin_->stop();
  for (auto& p : push_servers_) p->stop();
  control_.stop();
}

// Once a second: the resident size against overload.memory_watermark. Each crossing is logged
// once; the refusals are counted per listener (reason memory_watermark).
asio::awaitable<void> Gate::watch_memory() {
  asio::steady_timer timer(control_);
  for (;;) {
    std::optional<uint64_t> resident = resident_bytes();
    if (resident && memory_.update(*resident)) {
      if (memory_.over())
        spdlog::warn("resident memory {} MiB is above overload.memory_watermark ({} MiB): refusing new streams "
                     "(counted as reason memory_watermark) until it is below {} MiB",
                     *resident >> 20, memory_.limit() >> 20, memory_.limit() / 10 * 9 >> 20);
      else
        spdlog::info("resident memory {} MiB is back below the watermark: admitting new streams", *resident >> 20);
    }
    timer.expires_after(std::chrono::seconds(1));
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (ec) co_return;
  }
}

uint64_t Gate::active_streams() const {
  uint64_t n = 0;
  for (const auto* listeners : listeners_) n += listeners->active_streams();
  return n;
}

asio::awaitable<nlohmann::json> Gate::describe_streams() {
  nlohmann::json all = nlohmann::json::array();
  for (auto& w : workers_) {
    nlohmann::json part = co_await asio::co_spawn(w->context(), w->describe_streams(), asio::use_awaitable);
    for (auto& item : part) all.push_back(std::move(item));
  }
  co_return all;
}

}  // namespace ugate
