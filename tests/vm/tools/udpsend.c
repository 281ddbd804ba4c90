/* udpsend DST_IP PORT COUNT [SRC_PORT]: sends COUNT small UDP datagrams (COUNT=0: as many as possible for 5 s)
 * and prints how many went out. Static so that the guest needs no libraries for it; a fixed source port makes
 * the tuple in the tracer's output predictable.
 * udpsend -l PORT: receives (and discards) datagrams on PORT until killed, so traffic to PORT is delivered. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double elapsed(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int listen_forever(int port) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("udpsend -l"); return 1; }
  char buf[2048];
  for (;;)
    if (recv(s, buf, sizeof buf, 0) < 0) { perror("udpsend -l: recv"); return 1; }
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "-l") == 0) return listen_forever(atoi(argv[2]));
  if (argc < 4) {
    fprintf(stderr, "usage: %s DST_IP PORT COUNT [SRC_PORT]\n", argv[0]);
    return 2;
  }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
    fprintf(stderr, "udpsend: bad address %s\n", argv[1]);
    return 2;
  }
  long count = atol(argv[3]);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) { perror("udpsend: socket"); return 1; }
  if (argc > 4) {
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[4]))};
    if (bind(s, (struct sockaddr *)&src, sizeof src) < 0) { perror("udpsend: bind"); return 1; }
  }
  char buf[32];
  memset(buf, 'p', sizeof buf);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  long sent = 0, errors = 0;
  for (long i = 0; count == 0 ? elapsed(&t0) < 5.0 : i < count; i++) {
    if (sendto(s, buf, sizeof buf, 0, (struct sockaddr *)&dst, sizeof dst) < 0) errors++; else sent++;
    /* ICMP port-unreachable replies are rate limited; spacing single datagrams keeps each one observable. */
    if (count != 0) usleep(20000);
  }
  printf("udpsend sent=%ld errors=%ld secs=%.2f\n", sent, errors, elapsed(&t0));
  return errors != 0;
}
