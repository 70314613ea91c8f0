/* SHA-256 through libcrypto. */
#ifndef HEARTH_BASE_SHA256_H
#define HEARTH_BASE_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* Writes the lowercase hex digest of data (64 characters and a NUL) into hex. */
void sha256_hex(const void *data, size_t len, char hex[65]);

/* Incremental hashing, for files and uploads too large to hold: init, update any number of
 * times, final (which frees the state). sha256_abort frees it without a digest; NULL-safe. */
struct sha256_state;
struct sha256_state *sha256_begin(void);
void sha256_update(struct sha256_state *s, const void *data, size_t len);
void sha256_final_hex(struct sha256_state *s, char hex[65]);
void sha256_abort(struct sha256_state *s);

/* The hex digest of a whole file, read in chunks; progress (may be NULL) is called with the
 * bytes done so far after each chunk; a non-NULL cancel that becomes non-zero stops it. Returns 0,
 * ERR_IO (errno kept) or ERR_CANCELLED. */
int sha256_file_hex(const char *path, char hex[65], volatile int *cancel,
                    void (*progress)(void *ctx, int64_t done), void *ctx);

#endif
