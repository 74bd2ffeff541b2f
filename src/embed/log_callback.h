#pragma once
// ugate_set_log_callback: the process's spdlog logger writes to a C callback.
#include "ugate/ugate.h"

namespace ugate {

// fn = nullptr: back to a logger on stderr.
void set_log_callback(ugate_log_fn fn, void* user, int min_level);

}  // namespace ugate
