/* libugate from C: start a gateway from YAML, open a stream through it to a
 * server, send a line and print the reply.
 *
 *   stream_echo [HOST:PORT]
 *
 * Without an argument it starts its own echo server on a loopback port (a
 * thread), so that it runs anywhere; exit status 0 when the reply came back. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ugate/ugate.h"

static void* echo_once(void* arg) {
  int listener = *(int*)arg;
  int c = accept(listener, NULL, NULL);
  char buf[4096];
  ssize_t n;
  while (c >= 0 && (n = read(c, buf, sizeof buf)) > 0) write(c, buf, (size_t)n);
  if (c >= 0) close(c);
  return NULL;
}

static void log_line(int level, const char* message, void* user) {
  (void)user;
  fprintf(stderr, "ugate[%d]: %s\n", level, message);
}

int main(int argc, char** argv) {
  char destination[64];
  pthread_t server;
  int listener = -1;
  if (argc > 1) {
    snprintf(destination, sizeof destination, "%s", argv[1]);
  } else {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    listener = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(listener, (struct sockaddr*)&a, len) != 0 || listen(listener, 1) != 0 ||
        getsockname(listener, (struct sockaddr*)&a, &len) != 0) {
      perror("echo server");
      return 1;
    }
    snprintf(destination, sizeof destination, "127.0.0.1:%u", ntohs(a.sin_port));
    pthread_create(&server, NULL, echo_once, &listener);
  }

  ugate_set_log_callback(log_line, NULL, UGATE_LOG_INFO);
  const char* yaml =
      "workers: 1\n"
      "drain_timeout: 2s\n";
  ugate_gateway* g = NULL;
  if (ugate_create(yaml, "stream_echo.c", &g) != UGATE_OK || ugate_start(g) != UGATE_OK) {
    fprintf(stderr, "stream_echo: %s\n", ugate_last_error());
    ugate_destroy(g);
    return 1;
  }
  printf("libugate %s: gateway started\n", ugate_version());

  int fd = -1;
  int rc = ugate_open_stream(g, destination, &fd);
  if (rc != UGATE_OK) {
    fprintf(stderr, "stream_echo: open %s: %s (%s)\n", destination, ugate_last_error(), ugate_error_name(rc));
    ugate_destroy(g);
    return 1;
  }
  const char line[] = "hello from C through ugate\n";
  char reply[sizeof line] = {0};
  size_t got = 0;
  ssize_t n = write(fd, line, strlen(line));
  while (n > 0 && got < strlen(line) && (n = read(fd, reply + got, strlen(line) - got)) > 0) got += (size_t)n;
  close(fd);
  printf("reply from %s: %s", destination, reply);

  ugate_drain(g);
  ugate_wait(g, 5000);
  ugate_destroy(g);
  if (listener >= 0) {
    pthread_join(server, NULL);
    close(listener);
  }
  return got == strlen(line) && memcmp(reply, line, got) == 0 ? 0 : 1;
}
