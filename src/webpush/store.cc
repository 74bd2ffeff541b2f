#include "webpush/store.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <string_view>

namespace ugate::webpush {
namespace {

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS subscriptions (
  id TEXT PRIMARY KEY, push_id TEXT NOT NULL UNIQUE,
  p256dh BLOB, auth BLOB, vapid_key BLOB,
  created_ms INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
  subscription_id TEXT NOT NULL, topic TEXT NOT NULL, urgency INTEGER NOT NULL,
  received_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_subscription ON messages (subscription_id, seq);
CREATE INDEX IF NOT EXISTS messages_by_expiry ON messages (expires_ms);
CREATE TABLE IF NOT EXISTS nodes (
  node_id TEXT PRIMARY KEY, subscription_id TEXT NOT NULL UNIQUE, record TEXT NOT NULL, updated_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS channels (
  channel TEXT NOT NULL, node_id TEXT NOT NULL, PRIMARY KEY (channel, node_id));
)";

// Columns added after the first release: a store written by an older ugate gets them.
constexpr const char* kMessageColumns[] = {"sender", "receipt_for", "channel"};

// Binds and steps one statement; resets it when the guard goes.
class Query {
 public:
  explicit Query(sqlite3_stmt* s) : s_(s) {}
  ~Query() {
    if (s_) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }
  explicit operator bool() const { return s_ != nullptr; }
  Query& bind(const std::string& v) {
    sqlite3_bind_text(s_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Query& bind(const Bytes& v) {
    if (v.empty()) sqlite3_bind_zeroblob(s_, ++n_, 0);  // a blob of no bytes, not NULL
    else sqlite3_bind_blob(s_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Query& bind(int64_t v) {
    sqlite3_bind_int64(s_, ++n_, v);
    return *this;
  }
  int step() { return sqlite3_step(s_); }
  std::string text(int col) {
    auto p = sqlite3_column_text(s_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(s_, col)) : std::string();
  }
  Bytes blob(int col) {
    auto p = static_cast<const uint8_t*>(sqlite3_column_blob(s_, col));
    return p ? Bytes(p, p + sqlite3_column_bytes(s_, col)) : Bytes();
  }
  int64_t integer(int col) { return sqlite3_column_int64(s_, col); }
  bool is_null(int col) { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

 private:
  sqlite3_stmt* s_;
  int n_ = 0;
};

StoredSubscription read_subscription(Query& q) {
  return {q.text(0), q.text(1), q.blob(2), q.blob(3), q.blob(4), q.integer(5), q.integer(6) != 0};
}

// A macro, not a constant: prepare() caches statements by the address of their
// SQL text, so each statement must stay one string literal.
#define MESSAGE_COLUMNS \
  "seq, id, subscription_id, topic, urgency, received_ms, expires_ms, body, sender, receipt_for, channel"
StoredMessage read_message(Query& q) {
  return {q.integer(0), q.text(1), q.text(2), q.text(3), static_cast<Urgency>(q.integer(4) & 3), q.integer(5),
          q.integer(6), q.blob(7), q.text(8), q.text(9), q.text(10)};
}

}  // namespace

std::optional<Urgency> parse_urgency(std::string_view t) {
  if (t == "very-low") return Urgency::kVeryLow;
  if (t == "low") return Urgency::kLow;
  if (t == "normal") return Urgency::kNormal;
  if (t == "high") return Urgency::kHigh;
  return std::nullopt;
}

const char* urgency_name(Urgency u) {
  switch (u) {
    case Urgency::kVeryLow: return "very-low";
    case Urgency::kLow: return "low";
    case Urgency::kNormal: return "normal";
    case Urgency::kHigh: return "high";
  }
  return "normal";
}

std::unique_ptr<PushStore> PushStore::open(const std::string& path, std::string* error) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<PushStore> store(new PushStore(db));
  if (rc != SQLITE_OK) {
    *error = path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return nullptr;
  }
  if (path != ":memory:") ::chmod(path.c_str(), 0600);  // holds subscribers' keys
  // WAL with synchronous=NORMAL: a committed message survives a crash or kill
  // of the process; only a power loss may take the last transactions.
  if (!store->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=1000;") ||
      !store->exec(kSchema) || !store->migrate()) {
    *error = path + ": " + sqlite3_errmsg(db);
    return nullptr;
  }
  return store;
}

PushStore::~PushStore() {
  for (auto& [sql, s] : statements_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

bool PushStore::migrate() {
  for (const char* column : kMessageColumns) {
    bool present = false;
    {
      Query q(prepare("SELECT name FROM pragma_table_info('messages')"));
      while (q && q.step() == SQLITE_ROW) present = present || q.text(0) == column;
    }
    std::string sql = std::string("ALTER TABLE messages ADD COLUMN ") + column + " TEXT NOT NULL DEFAULT ''";
    if (!present && !exec(sql.c_str())) return false;
  }
  return true;
}

bool PushStore::exec(const char* sql) { return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK; }

void PushStore::log_error(const char* what) { spdlog::error("webpush store: {}: {}", what, sqlite3_errmsg(db_)); }

sqlite3_stmt* PushStore::prepare(const char* sql) {
  for (auto& [text, s] : statements_)
    if (text == sql) return s;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
    log_error(sql);
    return nullptr;
  }
  statements_.emplace_back(sql, s);
  return s;
}

bool PushStore::add_subscription(const StoredSubscription& s) {
  Query q(prepare("INSERT INTO subscriptions (id, push_id, p256dh, auth, vapid_key, created_ms) VALUES (?,?,?,?,?,?)"));
  if (!q || q.bind(s.id).bind(s.push_id).bind(s.p256dh).bind(s.auth).bind(s.vapid_key).bind(s.created_ms).step() !=
                SQLITE_DONE) {
    log_error("add subscription");
    return false;
  }
  return true;
}

std::optional<StoredSubscription> PushStore::subscription(const std::string& id) {
  Query q(prepare("SELECT id, push_id, p256dh, auth, vapid_key, created_ms, deleted FROM subscriptions WHERE id=?"));
  if (q && q.bind(id).step() == SQLITE_ROW) return read_subscription(q);
  return std::nullopt;
}

std::optional<StoredSubscription> PushStore::subscription_by_push_id(const std::string& push_id) {
  Query q(prepare("SELECT id, push_id, p256dh, auth, vapid_key, created_ms, deleted FROM subscriptions WHERE push_id=?"));
  if (q && q.bind(push_id).step() == SQLITE_ROW) return read_subscription(q);
  return std::nullopt;
}

bool PushStore::delete_subscription(const std::string& id) {
  Query q(prepare("UPDATE subscriptions SET deleted=1, p256dh=NULL, auth=NULL WHERE id=? AND deleted=0"));
  if (!q || q.bind(id).step() != SQLITE_DONE || sqlite3_changes(db_) == 0) return false;
  Query drop(prepare("DELETE FROM messages WHERE subscription_id=?"));
  return drop && drop.bind(id).step() == SQLITE_DONE;
}

size_t PushStore::subscription_count() {
  Query q(prepare("SELECT COUNT(*) FROM subscriptions WHERE deleted=0"));
  return q && q.step() == SQLITE_ROW ? static_cast<size_t>(q.integer(0)) : 0;
}

bool PushStore::insert_message(StoredMessage& m, size_t* replaced) {
  *replaced = 0;
  if (!exec("BEGIN")) return false;
  bool ok = true;
  if (!m.topic.empty()) {
    Query del(prepare("DELETE FROM messages WHERE subscription_id=? AND topic=?"));
    ok = del && del.bind(m.subscription_id).bind(m.topic).step() == SQLITE_DONE;
    *replaced = ok ? static_cast<size_t>(sqlite3_changes(db_)) : 0;
  }
  if (ok) {
    Query ins(prepare(
        "INSERT INTO messages (id, subscription_id, topic, urgency, received_ms, expires_ms, body, sender, receipt_for, "
        "channel) VALUES (?,?,?,?,?,?,?,?,?,?)"));
    ok = ins &&
         ins.bind(m.id).bind(m.subscription_id).bind(m.topic).bind(static_cast<int64_t>(m.urgency)).bind(m.received_ms)
                 .bind(m.expires_ms).bind(m.body).bind(m.sender).bind(m.receipt_for).bind(m.channel)
                 .step() == SQLITE_DONE;
    m.seq = sqlite3_last_insert_rowid(db_);
  }
  if (!ok || !exec("COMMIT")) {
    log_error("insert message");
    exec("ROLLBACK");
    return false;
  }
  return true;
}

size_t PushStore::pending_count(const std::string& subscription_id, int64_t now_ms) {
  Query q(prepare("SELECT COUNT(*) FROM messages WHERE subscription_id=? AND expires_ms>?"));
  return q && q.bind(subscription_id).bind(now_ms).step() == SQLITE_ROW ? static_cast<size_t>(q.integer(0)) : 0;
}

std::vector<StoredMessage> PushStore::pending(const std::string& subscription_id, int64_t after_seq, int64_t now_ms,
                                              Urgency min_urgency, size_t limit) {
  std::vector<StoredMessage> out;
  Query q(prepare(
      "SELECT " MESSAGE_COLUMNS " FROM messages "
      "WHERE subscription_id=? AND seq>? AND expires_ms>? AND urgency>=? ORDER BY seq LIMIT ?"));
  if (!q) return out;
  q.bind(subscription_id).bind(after_seq).bind(now_ms).bind(static_cast<int64_t>(min_urgency)).bind(static_cast<int64_t>(limit));
  while (q.step() == SQLITE_ROW) out.push_back(read_message(q));
  return out;
}

std::optional<StoredMessage> PushStore::message(const std::string& id) {
  Query q(prepare("SELECT " MESSAGE_COLUMNS " FROM messages WHERE id=?"));
  if (q && q.bind(id).step() == SQLITE_ROW) return read_message(q);
  return std::nullopt;
}

bool PushStore::delete_message(const std::string& id, const std::string& subscription_id) {
  Query q(prepare("DELETE FROM messages WHERE id=? AND (?='' OR subscription_id=?)"));
  return q && q.bind(id).bind(subscription_id).bind(subscription_id).step() == SQLITE_DONE && sqlite3_changes(db_) > 0;
}

size_t PushStore::delete_expired(int64_t now_ms) {
  Query q(prepare("DELETE FROM messages WHERE expires_ms<=?"));
  return q && q.bind(now_ms).step() == SQLITE_DONE ? static_cast<size_t>(sqlite3_changes(db_)) : 0;
}

std::optional<int64_t> PushStore::next_expiry_ms() {
  Query q(prepare("SELECT MIN(expires_ms) FROM messages"));
  if (q && q.step() == SQLITE_ROW && !q.is_null(0)) return q.integer(0);
  return std::nullopt;
}

size_t PushStore::message_count() {
  Query q(prepare("SELECT COUNT(*) FROM messages"));
  return q && q.step() == SQLITE_ROW ? static_cast<size_t>(q.integer(0)) : 0;
}

bool PushStore::put_node(const StoredNode& n) {
  Query q(prepare(
      "INSERT INTO nodes (node_id, subscription_id, record, updated_ms) VALUES (?,?,?,?) "
      "ON CONFLICT(node_id) DO UPDATE SET record=excluded.record, updated_ms=excluded.updated_ms"));
  if (!q || q.bind(n.node_id).bind(n.subscription_id).bind(n.record).bind(n.updated_ms).step() != SQLITE_DONE) {
    log_error("put node");
    return false;
  }
  return true;
}

std::optional<StoredNode> PushStore::node(const std::string& node_id) {
  Query q(prepare("SELECT node_id, subscription_id, record, updated_ms FROM nodes WHERE node_id=?"));
  if (q && q.bind(node_id).step() == SQLITE_ROW) return StoredNode{q.text(0), q.text(1), q.text(2), q.integer(3)};
  return std::nullopt;
}

std::optional<std::string> PushStore::node_of_subscription(const std::string& subscription_id) {
  Query q(prepare("SELECT node_id FROM nodes WHERE subscription_id=?"));
  if (q && q.bind(subscription_id).step() == SQLITE_ROW) return q.text(0);
  return std::nullopt;
}

size_t PushStore::node_count() {
  Query q(prepare("SELECT COUNT(*) FROM nodes"));
  return q && q.step() == SQLITE_ROW ? static_cast<size_t>(q.integer(0)) : 0;
}

bool PushStore::join_channel(const std::string& channel, const std::string& node_id) {
  Query q(prepare("INSERT OR IGNORE INTO channels (channel, node_id) VALUES (?,?)"));
  if (!q || q.bind(channel).bind(node_id).step() != SQLITE_DONE) {
    log_error("join channel");
    return false;
  }
  return true;
}

bool PushStore::leave_channel(const std::string& channel, const std::string& node_id) {
  Query q(prepare("DELETE FROM channels WHERE channel=? AND node_id=?"));
  return q && q.bind(channel).bind(node_id).step() == SQLITE_DONE && sqlite3_changes(db_) > 0;
}

std::vector<std::string> PushStore::channel_members(const std::string& channel, size_t limit) {
  std::vector<std::string> out;
  Query q(prepare("SELECT node_id FROM channels WHERE channel=? ORDER BY node_id LIMIT ?"));
  if (!q) return out;
  q.bind(channel).bind(static_cast<int64_t>(limit));
  while (q.step() == SQLITE_ROW) out.push_back(q.text(0));
  return out;
}

bool PushStore::is_member(const std::string& channel, const std::string& node_id) {
  Query q(prepare("SELECT 1 FROM channels WHERE channel=? AND node_id=?"));
  return q && q.bind(channel).bind(node_id).step() == SQLITE_ROW;
}

size_t PushStore::channel_count_of(const std::string& node_id) {
  Query q(prepare("SELECT COUNT(*) FROM channels WHERE node_id=?"));
  return q && q.bind(node_id).step() == SQLITE_ROW ? static_cast<size_t>(q.integer(0)) : 0;
}

size_t PushStore::member_count(const std::string& channel) {
  Query q(prepare("SELECT COUNT(*) FROM channels WHERE channel=?"));
  return q && q.bind(channel).step() == SQLITE_ROW ? static_cast<size_t>(q.integer(0)) : 0;
}

}  // namespace ugate::webpush
