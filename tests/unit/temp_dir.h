#pragma once
// A fresh directory for a test's files, removed with its contents when the test program exits
// (ctest runs each test in its own process), so that runs leave nothing in /tmp.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

namespace ugate::test {

inline std::string temp_dir(const std::string& what) {
  struct Removed {
    std::vector<std::string> dirs;
    ~Removed() {
      std::error_code ec;
      for (const auto& d : dirs) std::filesystem::remove_all(d, ec);
    }
  };
  static Removed removed;
  std::string tmpl = ::testing::TempDir() + "ugate-" + what + "-XXXXXX";
  if (!::mkdtemp(tmpl.data())) return {};
  removed.dirs.push_back(tmpl);
  return tmpl;
}

}  // namespace ugate::test
