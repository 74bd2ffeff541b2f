#pragma once
// A config that cannot be used: the message names the file, line and key
// (FILE:LINE: key.path: problem). Each module that reads its own part of the
// config throws it; `ugate check` and the start-up print it.
#include <stdexcept>

namespace ugate {

class ConfigError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace ugate
