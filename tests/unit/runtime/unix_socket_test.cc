// A Unix socket listener's socket and file: a stale socket replaced, anything
// else refused, mode applied before clients can connect, the file removed with
// it (if still its own), the abstract namespace, and the peer's credentials.
#include "runtime/unix_socket.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "runtime/listen_socket.h"

namespace ugate {
namespace {

class UnixSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ugate-unix-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/app.sock";
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  HostPort address() const { return *parse_unix_address("unix:" + path_); }

  // Connects to `path`; the client's descriptor, or -1.
  static int connect_to(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    socklen_t len = unix_sockaddr(path, sa);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), len) == 0) return fd;
    ::close(fd);
    return -1;
  }

  std::string dir_, path_;
};

TEST_F(UnixSocketTest, ModeAppliedFileRemovedPeerKnown) {
  {
    UnixListenSocket socket(address(), UnixSocketFile{0600, {}, {}}, "test");
    struct stat st{};
    ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    int listening = socket.descriptor_for_worker(true);
    int client = connect_to(path_);
    ASSERT_GE(client, 0);
    int accepted = ::accept4(listening, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(accepted, 0);
    auto peer = unix_peer_of(accepted);
    ASSERT_TRUE(peer);
    EXPECT_EQ(peer->pid, ::getpid());
    EXPECT_EQ(peer->uid, ::geteuid());
    EXPECT_EQ(peer->gid, ::getegid());
    ::close(accepted);
    ::close(client);
    ::close(listening);
  }
  struct stat st{};
  EXPECT_NE(::lstat(path_.c_str(), &st), 0) << "removed at exit";
}

TEST_F(UnixSocketTest, AStaleSocketIsReplacedALiveOneOrAFileIsNot) {
  {
    UnixListenSocket first(address(), {}, "test");
    EXPECT_THROW(UnixListenSocket(address(), {}, "test"), StartError) << "a process listens on it";
    try {
      UnixListenSocket second(address(), {}, "listener 'x'");
    } catch (const StartError& e) {
      EXPECT_NE(std::string(e.what()).find("listener 'x': cannot listen on unix:" + path_ +
                                           ": another process is listening on it"),
                std::string::npos)
          << e.what();
    }
  }
  // A socket file nobody listens on, as a killed process leaves it.
  int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  socklen_t len = unix_sockaddr(path_, sa);
  ASSERT_EQ(::bind(stale, reinterpret_cast<sockaddr*>(&sa), len), 0);
  ::close(stale);
  {
    UnixListenSocket replaced(address(), {}, "test");
    int client = connect_to(path_);
    EXPECT_GE(client, 0) << "the new socket listens at the path";
    if (client >= 0) ::close(client);
  }
  std::ofstream(path_) << "not a socket";
  try {
    UnixListenSocket refused(address(), {}, "test");
    ADD_FAILURE() << "a regular file was replaced";
  } catch (const StartError& e) {
    EXPECT_NE(std::string(e.what()).find("a file that is not a socket is in the way"), std::string::npos) << e.what();
  }
  std::ifstream still(path_);
  std::string text;
  std::getline(still, text);
  EXPECT_EQ(text, "not a socket") << "left as it was";
}

TEST_F(UnixSocketTest, AReplacedFileIsNotRemoved) {
  auto socket = std::make_unique<UnixListenSocket>(address(), UnixSocketFile{}, "test");
  ::unlink(path_.c_str());
  std::ofstream(path_) << "a successor's";
  socket.reset();
  struct stat st{};
  EXPECT_EQ(::lstat(path_.c_str(), &st), 0) << "not the file it made: left alone";
}

TEST_F(UnixSocketTest, AbstractNamesHaveNoFile) {
  std::string name = "@ugate-unit-" + std::to_string(::getpid());
  UnixListenSocket socket(*parse_unix_address("unix:" + name), {}, "test");
  int client = connect_to(name);
  EXPECT_GE(client, 0);
  if (client >= 0) ::close(client);
  EXPECT_LT(connect_to("@ugate-unit-nobody-" + std::to_string(::getpid())), 0);
}

TEST_F(UnixSocketTest, AMissingDirectoryIsAClearError) {
  try {
    UnixListenSocket socket(*parse_unix_address("unix:" + dir_ + "/no/such/dir.sock"), {}, "test");
    ADD_FAILURE() << "bound in a missing directory";
  } catch (const StartError& e) {
    EXPECT_NE(std::string(e.what()).find("(its directory must exist)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ugate
