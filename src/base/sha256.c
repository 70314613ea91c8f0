#include "base/sha256.h"

#include "base/err.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct sha256_state {
    EVP_MD_CTX *ctx;
};

static void to_hex(const unsigned char md[32], char hex[65])
{
    for (unsigned i = 0; i < 32; i++)
        snprintf(hex + (size_t)2 * i, 3, "%02x", md[i]);
}

void sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    to_hex(md, hex);
}

struct sha256_state *sha256_begin(void)
{
    struct sha256_state *s = malloc(sizeof *s);
    if (!s)
        abort();
    s->ctx = EVP_MD_CTX_new();
    if (!s->ctx || !EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL))
        abort();
    return s;
}

void sha256_update(struct sha256_state *s, const void *data, size_t len)
{
    EVP_DigestUpdate(s->ctx, data, len);
}

void sha256_final_hex(struct sha256_state *s, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(s->ctx, md, &n);
    to_hex(md, hex);
    sha256_abort(s);
}

void sha256_abort(struct sha256_state *s)
{
    if (!s)
        return;
    EVP_MD_CTX_free(s->ctx);
    free(s);
}

int sha256_file_hex(const char *path, char hex[65], volatile int *cancel,
                    void (*progress)(void *ctx, int64_t done), void *ctx)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ERR_IO;
    enum { CHUNK = 1 << 20 };
    char *buf = malloc(CHUNK);
    if (!buf)
        abort();
    struct sha256_state *s = sha256_begin();
    int64_t done = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = ERR_IO;
            break;
        }
        if (n == 0)
            break;
        sha256_update(s, buf, (size_t)n);
        done += n;
        if (progress)
            progress(ctx, done);
        if (cancel && *cancel) {
            rc = ERR_CANCELLED;
            break;
        }
    }
    int saved = errno;
    free(buf);
    close(fd);
    if (rc)
        sha256_abort(s);
    else
        sha256_final_hex(s, hex);
    errno = saved;
    return rc;
}
