#pragma once
// What the config tests share: load YAML text, or get the error it gives.
#include <string>

#include "config/config.h"

namespace ugate::config_test {

inline Config load(const std::string& yaml, ConfigOverrides o = {}) { return load_config_text(yaml, "test.yaml", o); }

inline std::string error_of(const std::string& yaml) {
  try {
    load(yaml);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace ugate::config_test
