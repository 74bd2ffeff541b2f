#pragma once
// The hook an embedding program sets to see every socket ugate opens before
// it is bound or connected (Android's VpnService.protect(): the gateway's own
// traffic must not enter the VPN it serves). Process-wide: set it before any
// gateway starts. Without one, protect_socket() is a load and a branch.
namespace ugate {

// Returns 0 to let the socket be used; anything else refuses it (the caller
// closes it and fails as if socket() had failed).
using SocketProtector = int (*)(int fd, void* user);

void set_socket_protector(SocketProtector fn, void* user);
// True when the socket may be used (no protector, or it said yes).
bool protect_socket(int fd);

}  // namespace ugate
