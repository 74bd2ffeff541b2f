#pragma once
// The metrics registry. Each module registers its metric families (name,
// type, help, and a reader that writes the samples when /metrics is read);
// the admin server renders the registry in registration order and knows no
// module. Readers run on the admin thread and read counters the workers
// write (relaxed atomics), summing per-worker ones: nothing is shared on the
// data path for the sake of a metric.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ugate {

// `key="value"`, the value escaped for the Prometheus text format.
std::string label(std::string_view key, std::string_view value);
// The (unescaped) value of `key` in labels written by label(), nullopt if absent.
std::optional<std::string> label_value(std::string_view labels, std::string_view key);

// What a family's reader writes its samples into.
class MetricSamples {
 public:
  virtual void add(std::string_view labels, uint64_t value) = 0;  // labels: "" or `a="x",b="y"`
  void add(uint64_t value) { add("", value); }

 protected:
  ~MetricSamples() = default;
};

enum class MetricType : uint8_t { kCounter, kGauge };

struct MetricSample {
  std::string labels;
  uint64_t value = 0;
};

class MetricRegistry {
 public:
  using Reader = std::function<void(MetricSamples&)>;

  // A family whose reader may write no sample (a value that cannot be read
  // is left out, not 0): the HELP and TYPE lines are written anyway.
  void add(std::string name, MetricType type, std::string help, Reader read);
  // A family of one sample without labels.
  void add_value(std::string name, MetricType type, std::string help, std::function<uint64_t()> value);
  // The Prometheus text format, version 0.0.4.
  std::string render() const;
  // One family's samples, read now by the same reader render() uses (so a
  // summary built from them says what /metrics says); empty if no such family.
  std::vector<MetricSample> read(std::string_view name) const;
  // Every sample of every family, in render()'s order (the embedding API's metric callback).
  void each(const std::function<void(std::string_view name, MetricType type, std::string_view labels, uint64_t value)>&
                fn) const;
  size_t size() const { return families_.size(); }

 private:
  struct Family {
    std::string name;
    MetricType type;
    std::string help;
    Reader read;
  };
  std::vector<Family> families_;
};

}  // namespace ugate
