/* SHA-256 through libcrypto. */
#ifndef HEARTH_BASE_SHA256_H
#define HEARTH_BASE_SHA256_H

#include <stddef.h>

/* Writes the lowercase hex digest of data (64 characters and a NUL) into hex. */
void sha256_hex(const void *data, size_t len, char hex[65]);

#endif
