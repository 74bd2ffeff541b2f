#include "base/metric_registry.h"

#include <charconv>

namespace ugate {
namespace {

class TextSamples final : public MetricSamples {
 public:
  TextSamples(std::string& out, std::string_view name) : out_(out), name_(name) {}
  using MetricSamples::add;
  void add(std::string_view labels, uint64_t value) override {
    out_ += name_;
    if (!labels.empty()) out_.append("{").append(labels).append("}");
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    out_.append(" ").append(digits, end).append("\n");
  }

 private:
  std::string& out_;
  std::string_view name_;
};

class CollectedSamples final : public MetricSamples {
 public:
  explicit CollectedSamples(std::vector<MetricSample>& out) : out_(out) {}
  using MetricSamples::add;
  void add(std::string_view labels, uint64_t value) override { out_.push_back({std::string(labels), value}); }

 private:
  std::vector<MetricSample>& out_;
};

}  // namespace

std::string label(std::string_view key, std::string_view value) {
  std::string out(key);
  out += "=\"";
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\', out += c;
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out += '"';
}

std::optional<std::string> label_value(std::string_view labels, std::string_view key) {
  size_t i = 0;
  while (i < labels.size()) {
    size_t eq = labels.find("=\"", i);
    if (eq == std::string_view::npos) break;
    bool match = labels.substr(i, eq - i) == key;
    std::string value;
    size_t j = eq + 2;
    for (; j < labels.size() && labels[j] != '"'; ++j) {
      char c = labels[j];
      if (c == '\\' && j + 1 < labels.size()) c = labels[++j] == 'n' ? '\n' : labels[j];
      value += c;
    }
    if (match) return value;
    i = j + 2;  // past the closing quote and the comma
  }
  return std::nullopt;
}

void MetricRegistry::add(std::string name, MetricType type, std::string help, Reader read) {
  families_.push_back({std::move(name), type, std::move(help), std::move(read)});
}

void MetricRegistry::add_value(std::string name, MetricType type, std::string help, std::function<uint64_t()> value) {
  add(std::move(name), type, std::move(help), [value = std::move(value)](MetricSamples& s) { s.add(value()); });
}

std::vector<MetricSample> MetricRegistry::read(std::string_view name) const {
  std::vector<MetricSample> out;
  for (const auto& f : families_) {
    if (f.name != name) continue;
    CollectedSamples samples(out);
    f.read(samples);
  }
  return out;
}

std::string MetricRegistry::render() const {
  std::string out;
  for (const auto& f : families_) {
    const char* type = f.type == MetricType::kCounter ? "counter" : "gauge";
    out.append("# HELP ").append(f.name).append(" ").append(f.help).append("\n");
    out.append("# TYPE ").append(f.name).append(" ").append(type).append("\n");
    TextSamples samples(out, f.name);
    f.read(samples);
  }
  return out;
}

void MetricRegistry::each(
    const std::function<void(std::string_view, MetricType, std::string_view, uint64_t)>& fn) const {
  std::vector<MetricSample> samples;
  for (const auto& f : families_) {
    samples.clear();
    CollectedSamples collect(samples);
    f.read(collect);
    for (const auto& s : samples) fn(f.name, f.type, s.labels, s.value);
  }
}

}  // namespace ugate
