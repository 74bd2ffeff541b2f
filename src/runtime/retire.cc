#include "runtime/retire.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace ugate {

void RetireList::retire(Retirable& r) {
  retired_.push_back(&r);
  if (batches_ || reaping_ || posted_) return;  // a reap is due anyway
  posted_ = true;
  asio::post(ctx_, [this] {
    posted_ = false;
    reap();
  });
}

void RetireList::reap() {
  if (reaping_) return;
  reaping_ = true;
  // By index: a destructor may retire more, which this loop then destroys too.
  for (size_t i = 0; i < retired_.size(); ++i) delete retired_[i];
  retired_.clear();
  reaping_ = false;
}

void RetireList::trim() {
  if (!retired_.empty() || retired_.capacity() <= kKeep) return;
  std::vector<Retirable*> fresh;
  fresh.reserve(kKeep);
  retired_.swap(fresh);
}

}  // namespace ugate
