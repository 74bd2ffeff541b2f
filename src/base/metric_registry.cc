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

void MetricRegistry::add(std::string name, MetricType type, std::string help, Reader read) {
  families_.push_back({std::move(name), type, std::move(help), std::move(read)});
}

void MetricRegistry::add_value(std::string name, MetricType type, std::string help, std::function<uint64_t()> value) {
  add(std::move(name), type, std::move(help), [value = std::move(value)](MetricSamples& s) { s.add(value()); });
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

}  // namespace ugate
