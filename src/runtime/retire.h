#pragma once
// Deferred deletes: how an object that owns itself ends (a proxied Session,
// a mesh connection, a UDP flow, a reverse bridge). It calls
// Worker::retire(*this) and returns; the worker destroys it once the current
// handler is done (at the end of the poller's dispatch, else in one posted
// reap), never while a frame of it is on the stack, so a callback may retire
// its owner and still touch it until it returns. Everything retired during
// one handler goes in one batch. See "Lifetimes" in ARCHITECTURE.md.
#include <cstddef>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace ugate {

namespace asio = boost::asio;

class Retirable {
 public:
  virtual ~Retirable() = default;
};

// A worker's list of retired objects (Worker::retire uses it).
class RetireList {
 public:
  static constexpr size_t kKeep = 64;  // pointers kept between batches
  // `ctx` runs the posted reaps; it must not run them after the list is gone.
  explicit RetireList(asio::io_context& ctx) : ctx_(ctx) { retired_.reserve(kKeep); }
  ~RetireList() { reap(); }
  RetireList(const RetireList&) = delete;
  RetireList& operator=(const RetireList&) = delete;

  // Takes ownership. Outside a Batch, the first object after a reap posts
  // one reap; inside one, the Batch's end reaps and nothing is posted.
  void retire(Retirable& r);
  // Destroys what was retired, including what those destructors retire.
  void reap();
  // After a burst: gives back the room a large batch grew.
  void trim();

  // A handler that calls many callbacks (the poller's dispatch) holds one:
  // what they retire is destroyed when it ends, without a post.
  class Batch {
   public:
    explicit Batch(RetireList* list) : list_(list) {
      if (list_) ++list_->batches_;
    }
    ~Batch() {
      if (list_ && --list_->batches_ == 0) list_->reap();
    }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

   private:
    RetireList* list_;
  };

 private:
  asio::io_context& ctx_;
  std::vector<Retirable*> retired_;  // cleared, not freed: its capacity serves the next batches
  unsigned batches_ = 0;
  bool posted_ = false;
  bool reaping_ = false;
};

}  // namespace ugate
