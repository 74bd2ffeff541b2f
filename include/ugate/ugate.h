/*
 * libugate: the ugate gateway inside another program (an Android app through
 * JNI, a router daemon, a script through ctypes). C only: no C++ type and no
 * exception crosses this header.
 *
 * Conventions:
 *  - Every call that can fail returns an int: UGATE_OK (0) or a negative
 *    ugate_error code. The message of the last failure on the calling
 *    thread is ugate_last_error().
 *  - Every call is thread-safe. The callbacks (log, protect) are called on
 *    the gateway's own threads; they must return quickly and must not call
 *    back into the gateway that calls them (ugate_open_stream from a
 *    callback would wait for the thread it blocks).
 *  - Strings are UTF-8, NUL-terminated, and copied before the call returns.
 *
 * Link with -lugate (libugate.so.0, or libugate.a plus its dependencies:
 * yaml-cpp, OpenSSL 3, spdlog, fmt, nghttp2, ngtcp2, nghttp3, GnuTLS, SQLite).
 */
#ifndef UGATE_UGATE_H
#define UGATE_UGATE_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define UGATE_API __attribute__((visibility("default")))
#else
#define UGATE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; ugate_version() says the library's. */
#define UGATE_API_VERSION 1

typedef enum ugate_error {
  UGATE_OK = 0,
  UGATE_ERR_INVALID_ARGUMENT = -1, /* a null pointer, an empty or malformed string */
  UGATE_ERR_CONFIG = -2,           /* the YAML text is not a valid config (message: line and key) */
  UGATE_ERR_START = -3,            /* a listener cannot bind, the identity cannot load, ... */
  UGATE_ERR_STATE = -4,            /* not in a state that allows the call (start twice, open before start) */
  UGATE_ERR_NOT_SUPPORTED = -5,    /* the gateway cannot do it (yet): see the call */
  UGATE_ERR_CONNECT = -6,          /* the stream's destination could not be reached (message: why) */
  UGATE_ERR_TIMEOUT = -7,          /* waited as long as the call allows */
  UGATE_ERR_SYSTEM = -8,           /* a system call failed (message: errno's text) */
  UGATE_ERR_INTERNAL = -9          /* a bug in ugate: the message says what; the gateway keeps running */
} ugate_error;

/* A gateway: one config, its worker threads and listeners. */
typedef struct ugate_gateway ugate_gateway;

/* "0.1.0": the library's version (also its SONAME's major: libugate.so.0). */
UGATE_API const char* ugate_version(void);

/* The message of the last call that failed on this thread ("" if none). Valid
 * until the next ugate call on this thread. */
UGATE_API const char* ugate_last_error(void);

/* A short name for an error code ("config", "connect", ...). Never null. */
UGATE_API const char* ugate_error_name(int code);

/* ---- Callbacks (process-wide: set them before the first ugate_start) ---- */

/* Log levels, as the config's log_level names them. */
typedef enum ugate_log_level {
  UGATE_LOG_TRACE = 0,
  UGATE_LOG_DEBUG = 1,
  UGATE_LOG_INFO = 2,
  UGATE_LOG_WARN = 3,
  UGATE_LOG_ERROR = 4,
  UGATE_LOG_OFF = 6
} ugate_log_level;

/* One log line, without a newline and without a secret (as the binary logs). */
typedef void (*ugate_log_fn)(int level, const char* message, void* user);

/* Sends every log line at `min_level` or above to `fn` instead of stderr;
 * fn = NULL gives them back to stderr. The library logs through one logger
 * for the whole process, so this is not per gateway. */
UGATE_API int ugate_set_log_callback(ugate_log_fn fn, void* user, int min_level);

/* Called with every socket ugate opens for the network (listeners, upstream
 * connections, relays, DNS questions, discovery), before it is bound or
 * connected: Android's VpnService.protect(fd). Return 0 to use the socket;
 * anything else refuses it, and that connection or listener fails as if
 * socket(2) had failed. fn = NULL: no callback. Process-wide. */
typedef int (*ugate_protect_fn)(int fd, void* user);
UGATE_API int ugate_set_protect_callback(ugate_protect_fn fn, void* user);

/* ---- Life ---- */

/* A gateway from YAML text, read exactly as `ugate --config FILE` reads a file
 * (README: Config), except that without an `admin:` key there is no admin
 * server (the binary's default is 127.0.0.1:15000); `source` names it in
 * messages (NULL: "<embedded>").
 * Nothing is bound and no thread starts yet. On success *out is the gateway,
 * to be ended with ugate_destroy; on failure *out is NULL and the message
 * says what is wrong (UGATE_ERR_CONFIG: the line and key). */
UGATE_API int ugate_create(const char* yaml, const char* source, ugate_gateway** out);

/* Binds every listener, starts the worker threads and the control thread, and
 * returns once the gateway is ready (UGATE_ERR_START: what could not start;
 * the gateway is then stopped). Once only. */
UGATE_API int ugate_start(ugate_gateway* g);

/* Live reload of a new config: UGATE_ERR_NOT_SUPPORTED. ugate does not yet
 * reload a config while it runs (the binary ignores SIGHUP likewise); create
 * a new gateway instead. */
UGATE_API int ugate_reload(ugate_gateway* g, const char* yaml);

/* Stops accepting new streams; open ones get the config's drain_timeout, then
 * are closed. Returns at once; ugate_wait() waits for the end. */
UGATE_API int ugate_drain(ugate_gateway* g);

/* Waits until the gateway has stopped (after ugate_drain or ugate_stop), at
 * most timeout_ms (negative: without a bound). UGATE_ERR_TIMEOUT if it has not. */
UGATE_API int ugate_wait(ugate_gateway* g, int timeout_ms);

/* Stops now: open streams are closed, the threads end; returns when they have.
 * A gateway that never started, or already stopped, is left as it is. */
UGATE_API int ugate_stop(ugate_gateway* g);

/* Stops the gateway if it runs and frees it. g may be NULL. Not concurrently
 * with other calls on the same gateway. */
UGATE_API void ugate_destroy(ugate_gateway* g);

/* ---- Streams ---- */

/* Opens a stream to `destination` ("host:port", "[v6]:port", or a mesh node's
 * "name:port") through the gateway's routing: a configured mesh node through
 * its path, a node registered over a reverse connection, or a direct TCP
 * connection, as a listener's stream would go (authorization, access log and
 * metrics under the listener name "embed"). Waits until the connection is
 * made (the config's connect_timeout) and then gives *fd: one end of a Unix
 * socket pair, blocking, close-on-exec, whose bytes are the stream's; close
 * it (or shutdown(fd, SHUT_WR) to half-close) when done. The gateway must
 * have started (UGATE_ERR_STATE otherwise). UGATE_ERR_CONNECT: the message
 * says why (connect_refused, no_route, denied, node_unavailable, ...). */
UGATE_API int ugate_open_stream(ugate_gateway* g, const char* destination, int* fd);

/* The number of streams open now, over every listener and the embed ones. */
UGATE_API int ugate_active_streams(ugate_gateway* g, uint64_t* count);

/* ---- Metrics ---- */

/* One sample: the family's name, its labels as Prometheus writes them
 * ("" or `a="x",b="y"`), its value; counter is 1 for a counter, 0 for a gauge. */
typedef void (*ugate_metric_fn)(const char* name, const char* labels, uint64_t value, int counter, void* user);

/* Reads every metric of the gateway (what /metrics shows) and calls `fn` once
 * per sample, on the calling thread, before it returns. */
UGATE_API int ugate_read_metrics(ugate_gateway* g, ugate_metric_fn fn, void* user);

#ifdef __cplusplus
}
#endif

#endif /* UGATE_UGATE_H */
