/*
 * The C reference for the fd round trip: 16 bytes + 1 fd per message with one
 * sendmsg and one recvmsg each way, the least any library can do.
 *   fdping server PATH   listen on PATH, print "ready", echo one client's messages
 *   fdping client PATH   connect, print "ready", then per stdin line "MS": round
 *                        trips for MS milliseconds, print "COUNT NANOSECONDS"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#define SIZE 16

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void send_one(int s, const char *buf, int fd) {
  char ctl[CMSG_SPACE(sizeof(int))];
  struct iovec iov = { (void *)buf, SIZE };
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (sendmsg(s, &m, 0) != SIZE) die("sendmsg");
}

/* The fd received with the message, or -1 at end of stream. */
static int recv_one(int s, char *buf) {
  char ctl[CMSG_SPACE(sizeof(int))];
  struct iovec iov = { buf, SIZE };
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
  ssize_t n = recvmsg(s, &m, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  if (n == 0) return -1;
  if (n != SIZE || (m.msg_flags & MSG_CTRUNC)) die("recvmsg");
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  if (!c || c->cmsg_type != SCM_RIGHTS) die("recvmsg: no fd");
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: fdping server|client PATH\n");
    return 2;
  }
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  strncpy(a.sun_path, argv[2], sizeof a.sun_path - 1);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  char buf[SIZE] = { 0 };
  if (strcmp(argv[1], "server") == 0) {
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 1)) die("bind");
    printf("ready\n");
    fflush(stdout);
    int c = accept(s, NULL, NULL);
    if (c < 0) die("accept");
    for (int fd; (fd = recv_one(c, buf)) >= 0; close(fd)) send_one(c, buf, fd);
    return 0;
  }
  if (connect(s, (struct sockaddr *)&a, sizeof a)) die("connect");
  int file = open("/dev/null", O_RDONLY | O_CLOEXEC);
  printf("ready\n");
  fflush(stdout);
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    long long t0 = now_ns(), end = t0 + atoll(line) * 1000000LL, n = 0, t;
    do {
      send_one(s, buf, file);
      close(recv_one(s, buf));
      n++;
    } while ((t = now_ns()) < end);
    printf("%lld %lld\n", n, t - t0);
    fflush(stdout);
  }
  return 0;
}
