#include "config/yaml_reader.h"

#include <yaml-cpp/eventhandler.h>
#if __has_include(<yaml-cpp/depthguard.h>)
#include <yaml-cpp/depthguard.h>  // YAML::DeepRecursion (yaml-cpp 0.7)
#endif

#include <optional>
#include <sstream>
#include <unordered_map>

namespace ugate::config_yaml {
namespace {

// Lists and mappings nested deeper than this are refused. ugate's schema needs
// about 7 levels; yaml-cpp's parser recurses once per level, and its own guard
// (DeepRecursion, at 500 in 0.7) says only "bad file", and for [ and { nesting
// gives the end of the text as the line.
constexpr size_t kMaxYamlNesting = 100;
std::string too_deep() { return "nesting deeper than " + std::to_string(kMaxYamlNesting) + " levels"; }

// The whole document's shape, checked from the parser's events before the
// tree is built: nesting (the line of the list or mapping that goes too deep),
// keys that are lists or mappings (the reader takes keys as strings), and
// duplicate keys (yaml-cpp keeps both, and lookups see only the first). It
// does not recurse, and it sees an alias once rather than what it refers to,
// so its cost is linear in the text however the document nests or aliases.
class StructureCheck : public YAML::EventHandler {
 public:
  explicit StructureCheck(const Reader& r) : r_(r) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { scalar(mark, anchor, "null"); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    scalar(mark, anchor, value);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);  // a scalar's text, or nullopt for a list or mapping
    std::optional<std::string> text = it != anchors_.end() ? it->second : std::nullopt;
    if (node(mark, text) && !text) not_a_single_value(mark, frames_.size());
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor, false);
  }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor, true);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    bool map;
    bool is_key;                                     // a list or mapping used as a key (refused once it ends)
    YAML::Mark mark;                                 // where it starts
    size_t items = 0;                                // a list: entries so far
    bool want_key = true;                            // a mapping: the next node is a key
    std::string key;                                 // a mapping: the current entry's key
    std::unordered_map<std::string, int> keys = {};  // a mapping: its keys, each with its line
  };

  void scalar(const YAML::Mark& mark, YAML::anchor_t anchor, const std::string& value) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = value;
    node(mark, value);
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, bool map) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = std::nullopt;
    bool is_key = node(mark, std::nullopt);
    if (frames_.size() >= kMaxYamlNesting) throw ConfigError(r_.where(mark) + ": invalid YAML: " + too_deep());
    frames_.push_back(Frame{map, is_key, mark});
  }

  // A key that is a list or mapping is refused when it ends: an error inside
  // it (nesting, or YAML that does not parse) comes first.
  void close() {
    if (frames_.back().is_key) not_a_single_value(frames_.back().mark, frames_.size() - 1);
    frames_.pop_back();
  }

  // A node starts in the innermost open list or mapping; `text` is a
  // scalar's. Whether it is a key.
  bool node(const YAML::Mark& mark, const std::optional<std::string>& text) {
    if (frames_.empty()) return false;  // the document itself
    Frame& in = frames_.back();
    if (!in.map) {
      ++in.items;
      return false;
    }
    const bool is_key = in.want_key;
    in.want_key = !is_key;  // after a key, its value
    if (!is_key) return false;
    if (!text) {  // a list or mapping (refused by the caller)
      in.key = "?";
      return true;
    }
    in.key = *text;
    auto [first, added] = in.keys.emplace(*text, mark.line);
    if (!added)
      r_.fail_at(mark, path(frames_.size()),
                 "duplicate key (first given on line " + std::to_string(first->second + 1) + ")");
    return true;
  }

  // A key of the mapping frames_[depth - 1].
  [[noreturn]] void not_a_single_value(const YAML::Mark& mark, size_t depth) const {
    r_.fail_at(mark, path(depth - 1), "a key must be a single value, not a list or mapping");
  }

  // The key path through the outermost `depth` open lists and mappings, as the
  // reader spells it: listeners[0].routes[1].sni
  std::string path(size_t depth) const {
    std::string out;
    for (size_t i = 0; i < depth; ++i) {
      const Frame& f = frames_[i];
      if (f.map) out += (out.empty() ? "" : ".") + f.key;
      else out += "[" + std::to_string(f.items - 1) + "]";
    }
    return out;
  }

  const Reader& r_;
  std::vector<Frame> frames_;
  std::unordered_map<YAML::anchor_t, std::optional<std::string>> anchors_;
};

}  // namespace

YAML::Node parse_yaml(const Reader& r, const std::string& yaml) {
  try {
    std::istringstream in(yaml);
    YAML::Parser parser(in);
    StructureCheck check(r);
    parser.HandleNextDocument(check);
    return YAML::Load(yaml);
#if __has_include(<yaml-cpp/depthguard.h>)
  } catch (const YAML::DeepRecursion&) {  // not reached while kMaxYamlNesting is well below yaml-cpp's limit
    throw ConfigError(r.where(YAML::Mark::null_mark()) + ": invalid YAML: " + too_deep());
#endif
  } catch (const YAML::Exception& e) {
    std::string column = e.mark.column >= 0 ? " (column " + std::to_string(e.mark.column + 1) + ")" : "";
    throw ConfigError(r.where(e.mark) + ": invalid YAML: " + e.msg + column);
  }
}

}  // namespace ugate::config_yaml
