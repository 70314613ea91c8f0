/* A growable byte buffer with a maximum size.
 *
 * Every buffer that input can grow has a cap: an append past it fails with ERR_TOO_LARGE and
 * leaves the buffer unchanged, so a hostile or runaway input is refused rather than exhausting
 * memory. The data is always NUL-terminated (the terminator is not counted in len), so text can
 * be used as a C string. The buffer owns its memory; buf_free releases it.
 */
#ifndef HEARTH_BASE_BUF_H
#define HEARTH_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;     /* allocated bytes */
    size_t max_len; /* the cap on len; 0 means unlimited */
};

void buf_init(struct buf *b, size_t max_len);
void buf_free(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, memory kept */

int buf_append(struct buf *b, const void *data, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Removes the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);

/* Gives the data to the caller (who frees it) and resets the buffer; never NULL. */
char *buf_steal(struct buf *b);

#endif
