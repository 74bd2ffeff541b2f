#pragma once
// What a worker needs from each live stream: deadline checks on its coarse
// clock, a way to end it (drain, limits) and a description for /debug/streams.
// A stream that owns itself ends through Worker::retire (runtime/retire.h).
#include <boost/intrusive/list.hpp>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>

#include "base/meta.h"
#include "runtime/retire.h"

namespace ugate {

class Tracked : public Retirable,
                public boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  virtual void on_tick(uint32_t now_tick) = 0;
  virtual void abort(CloseReason reason) = 0;
  virtual void describe(nlohmann::json& out, uint32_t now_tick) const = 0;
};

using TrackedList = boost::intrusive::list<Tracked, boost::intrusive::constant_time_size<false>>;

}  // namespace ugate
