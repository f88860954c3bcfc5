/* Lists the identities of the ssh agent at $SSH_AUTH_SOCK: one comment per line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int read_full(int fd, unsigned char *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    return 0;
}

static unsigned int be32(const unsigned char *p) {
    return ((unsigned)p[0] << 24) | ((unsigned)p[1] << 16) | ((unsigned)p[2] << 8) | p[3];
}

int main(void) {
    const char *path = getenv("SSH_AUTH_SOCK");
    if (!path) { fprintf(stderr, "SSH_AUTH_SOCK is not set\n"); return 2; }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {0};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); return 2; }
    unsigned char request[5] = {0, 0, 0, 1, 11}; /* SSH_AGENTC_REQUEST_IDENTITIES */
    if (write(fd, request, 5) != 5) { perror("write"); return 2; }
    unsigned char head[4];
    if (read_full(fd, head, 4)) { fprintf(stderr, "no answer\n"); return 2; }
    unsigned int len = be32(head);
    unsigned char *body = malloc(len);
    if (!body || read_full(fd, body, len) || body[0] != 12) { fprintf(stderr, "bad answer\n"); return 2; }
    unsigned int count = be32(body + 1), at = 5;
    printf("%u identities\n", count);
    for (unsigned int i = 0; i < count; i++) {
        unsigned int blob = be32(body + at); at += 4 + blob;
        unsigned int clen = be32(body + at); at += 4;
        printf("%.*s\n", (int)clen, body + at); at += clen;
    }
    return 0;
}
